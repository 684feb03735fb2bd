"""
Browser calls that await their delayed handlers:
``floorkit.call(name, kwargs, {wait: true})``.

Such a call carries ``"options": {"wait": true}`` (a websocket ``call``
frame, or the body of ``POST /floorkit/call/`` with its ``id``). It runs as
any other call and is answered at once (inline ``results``, delayed
``jobs``); its ``SignalRequest.wait`` is the call's id, which travels to the
worker in ``SignalRequest.to_dict()``. When a delayed handler's job ends,
its outcome goes to the calling window as a numbered message, and so does
the progress that handlers report with ``request.progress()``. These are
ordinary messages of the window's address: logged, replayed after a
reconnect or to a polling tab, de-duplicated like every other, and sent
through the current outbox. Two reserved signal names carry them::

    floorkit.job.progress  {"call": CALL_ID, "job": JOB_ID_OR_NULL,
                            "done": N, "total": N_OR_NULL, "text": TEXT}
    floorkit.job.result    {"call": CALL_ID, "job": JOB_ID, "ok": true, "result": VALUE}
                           {"call": CALL_ID, "job": JOB_ID, "ok": false,
                            "kind": KIND, "message": TEXT, "error_id": ID_OR_NULL}

A job's result is its handler's return value when JSON can carry it, else
``null`` (what ``run_handler`` keeps). A failure is sent once the job has no
retry left: ``handler_failed`` with the error id of the worker's log line
(the exception's text stays in the log), or ``handler_failed`` saying that
the worker died (``floorkit.jobs.lease``). A result or failure that cannot be
sent (Redis away) is logged and never fails the job; the page then gets
``timeout``.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rq import get_current_job

from floorkit.delivery import publish
from floorkit.signals.request import SignalRequest
from floorkit.tracing import recorder

if TYPE_CHECKING:  # pragma: no cover
    from rq.job import Job

logger = logging.getLogger("floorkit.jobs")

PROGRESS = "floorkit.job.progress"
RESULT = "floorkit.job.result"
#: The longest progress text sent; a longer one is cut.
MAX_TEXT = 1000
MAX_CALL_ID = 2**53 - 1  # the largest integer a browser's Number holds exactly


_inline_job: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "floorkit_inline_job_id", default=None
)


@contextlib.contextmanager
def running_job(job_id: str) -> Iterator[None]:
    """
    Mark the block as the run of job ``job_id`` outside an RQ worker (an
    outbox that runs jobs inline: ``floorkit.testing.capture()``), so that
    its outcome and progress name it; such a run is never retried.
    """
    token = _inline_job.set(job_id)
    try:
        yield
    finally:
        _inline_job.reset(token)


def _current_job() -> tuple[str | None, bool]:
    """The id of the job running here (``None``: none) and whether a failure retries it."""
    job = get_current_job()
    if job is not None:
        return job.id, job.should_retry
    return _inline_job.get(), False


class BadOptions(ValueError):
    """A call's ``options`` that floorkit refuses (answered with ``bad_request``)."""


def awaited_call(options: Any, call_id: Any, window: str | None) -> int | None:
    """
    The id of the browser call to answer when its jobs end: ``call_id`` for a
    call whose ``options`` say ``{"wait": true}``, ``None`` without options
    or with ``wait`` false. Raise ``BadOptions`` for ``options`` that are not
    an object, a key other than ``wait``, a ``wait`` that is not a boolean,
    and, for a call that waits, a ``call_id`` that is not an integer from 1
    to 2^53 - 1 or no ``window`` to send the outcome to.
    """
    if options is None:
        return None
    if not isinstance(options, dict):
        raise BadOptions("'options' must be a JSON object")
    unknown = sorted(set(options) - {"wait"})
    if unknown:
        raise BadOptions(f"unknown call option {unknown[0]!r}")
    wait = options.get("wait", False)
    if type(wait) is not bool:
        raise BadOptions("the call option 'wait' must be true or false")
    if not wait:
        return None
    if type(call_id) is not int or not 0 < call_id <= MAX_CALL_ID:
        raise BadOptions(f"a call that waits needs an integer 'id' from 1 to {MAX_CALL_ID}")
    if not window:
        raise BadOptions("a call that waits needs a window (X-Floorkit-Window) to answer")
    return call_id


def _number(value: Any, name: str) -> float:
    if type(value) not in (int, float):
        raise TypeError(f"progress: {name} must be a number, not {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"progress: {name} must be a finite number >= 0, not {value!r}")
    return value


def report_progress(
    request: SignalRequest, done: float, total: float | None, text: str
) -> int | None:
    """``SignalRequest.progress()``: the ``floorkit.job.progress`` message, if anyone awaits it."""
    done = _number(done, "done")
    total = None if total is None else _number(total, "total")
    if not isinstance(text, str):
        raise TypeError(f"progress: text must be a string, not {type(text).__name__}")
    kwargs = {
        "call": request.wait,
        "job": _current_job()[0],
        "done": done,
        "total": total,
        "text": text[:MAX_TEXT],
    }
    return _send(request, PROGRESS, kwargs)


def answered(request: SignalRequest, result: Any) -> Any:
    """
    The delayed handler of ``request``'s job returned ``result`` (a JSON
    value): send it to the call that awaits it, if any. Return ``result``.
    """
    job_id, _retried = _current_job()
    if request.wait is not None and job_id is not None:
        _deliver(request, {"job": job_id, "ok": True, "result": result})
    return result


def failed(request: SignalRequest, signal: str, exc: BaseException) -> None:
    """
    The delayed handler of ``request``'s job raised ``exc``: unless the job
    will be retried, log it under an error id and send ``handler_failed``
    with that id to the call that awaits it, if any.
    """
    job_id, retried = _current_job()
    if request.wait is None or job_id is None or retried:
        return
    from floorkit.signals.dispatch import report_failure

    error_id = report_failure(signal, request, exc, f"in job {job_id}")
    _deliver(
        request,
        {
            "job": job_id,
            "ok": False,
            "kind": "handler_failed",
            "message": f"{signal} failed (error {error_id})",
            "error_id": error_id,
        },
    )


def abandoned(job: Job) -> None:
    """
    ``job``'s worker died and it has no retry left (``floorkit.jobs.lease``):
    if it is a delayed handler's job that a browser call awaits, send that
    call ``handler_failed``, saying so.
    """
    from floorkit.jobs.handler_jobs import JOB_FUNCTION

    try:
        if job.func_name != JOB_FUNCTION:
            return
        signal, _path, data, _kwargs = job.args
    except Exception:  # a job floorkit cannot read: nobody to tell
        return
    if not isinstance(data, dict):
        return
    message = f"{signal} failed: the worker running job {job.id} died"
    outcome = {"job": job.id, "ok": False, "kind": "handler_failed", "message": message}
    _deliver(SignalRequest.from_dict(data), {**outcome, "error_id": None})


def _deliver(request: SignalRequest, outcome: dict[str, Any]) -> None:
    """Send a job's outcome; a failure to send is logged, never raised."""
    try:
        _send(request, RESULT, {"call": request.wait, **outcome})
    except Exception as exc:
        logger.warning(
            "job %s: could not send its outcome to window %s (call %s): %s",
            outcome["job"],
            request.window,
            request.wait,
            exc,
        )


def _send(request: SignalRequest, signal: str, kwargs: dict[str, Any]) -> int | None:
    """Publish ``signal`` to the awaiting call's window; ``None`` when nobody awaits."""
    if request.wait is None or not request.window:
        return None
    hop = recorder.new_hop()
    _message_id, payload = publish.encode_message(signal, kwargs, request, hop)
    addresses = [f"window:{request.window}"]
    seq = publish.publish(payload, addresses, f"sending {signal} of call {request.wait}")
    recorder.emit(
        "message.published",
        request.trace_id,
        hop,
        request.parent,
        signal,
        seq=seq,
        addresses=addresses,
    )
    return seq
