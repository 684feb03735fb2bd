"""
The RQ job of an async signal send, as a worker runs it: ``run_receivers``
finds the signal by name, rebuilds the arguments and calls the receivers.

``JOB_FUNCTION`` is the function path stored in every job ``send()`` pushes.
Jobs pushed by earlier releases name ``floorkit.async_signal.deliver``, which
stays importable (the same function) so that they still run.
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any

from django.db import close_old_connections

from floorkit.async_signals import mappings
from floorkit.async_signals.names import get_signal
from floorkit.async_signals.receivers import call_receivers, receiver_path
from floorkit.signals.request import new_trace_id
from floorkit.tracing import recorder

__all__ = ["JOB_FUNCTION", "META_DONE", "ReceiversFailed", "run_receivers"]

logger = logging.getLogger("floorkit.async_signals.signal")

#: The RQ job function of every async signal job.
JOB_FUNCTION = "floorkit.async_signals.job.run_receivers"
#: ``job.meta`` key listing the receivers that already succeeded (skipped on retry).
META_DONE = "floorkit_done"

# Set while an eager-mode job runs in this thread: run_receivers() skips closing
# the caller's database connections and reports its exception here.
_eager_errors: contextvars.ContextVar[list[BaseException] | None] = contextvars.ContextVar(
    "floorkit_eager_errors", default=None
)


class ReceiversFailed(ExceptionGroup):
    """
    Raised by ``run_receivers()`` when one or more receivers raised: the job
    then lands in RQ's failed registry with every receiver's traceback. The
    other receivers ran.
    """


def run_receivers(
    name: str, sender: Any, named: dict[str, Any], trace: dict | None = None
) -> dict[str, Any]:
    """
    The RQ job function of an async signal send: rebuild the arguments and
    call every receiver of signal ``name`` connected for the sender.

    Every receiver runs even when another raises; each failure is logged.
    Then raise ``ReceiversFailed`` if any receiver raised, so that RQ retries
    the job (running only the receivers that failed) or keeps it in its
    failed registry with every traceback. A model instance that no longer
    exists raises ``MissingInstance``, or, for a signal with
    ``on_missing="skip"``, ends the job without calling any receiver. A name
    no signal of this process has raises ``UnregisteredSignal``.

    Return ``{"receivers": [paths that ran]}`` (or ``{"skipped": reason}``).
    """
    eager = _eager_errors.get()
    if eager is None:
        close_old_connections()
    trace = trace or {"trace": new_trace_id(), "parent": None}
    try:
        with recorder.job(trace["trace"], trace["parent"], name):
            return _run(name, sender, named)
    except Exception as exc:
        if eager is not None:
            eager.append(exc)
        raise
    finally:
        if eager is None:
            close_old_connections()


def _run(name: str, sender: Any, named: dict[str, Any]) -> dict[str, Any]:
    from rq import get_current_job

    signal = get_signal(name)
    try:
        sender = mappings.decode(sender, "sender")
        named = {key: mappings.decode(value, key) for key, value in named.items()}
    except mappings.MissingInstance as exc:
        if signal.on_missing != "skip":
            raise
        logger.warning("AsyncSignal %s skipped (on_missing='skip'): %s", name, exc)
        return {"skipped": str(exc)}
    job = get_current_job()
    done = frozenset(job.meta.get(META_DONE, ())) if job is not None else frozenset()
    responses = call_receivers(signal, sender, named, done)
    failed = {receiver_path(r) for r, response in responses if isinstance(response, Exception)}
    ran = [receiver_path(r) for r, _ in responses]
    if failed:
        if job is not None:
            job.meta[META_DONE] = sorted(done | (set(ran) - failed))
            job.save_meta()
        errors = [response for _, response in responses if isinstance(response, Exception)]
        raise ReceiversFailed(
            f"AsyncSignal {name}: {len(errors)} of {len(responses)} receivers failed "
            f"({', '.join(sorted(failed))})",
            errors,
        )
    return {"receivers": ran}
