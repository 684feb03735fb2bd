"""
Test helpers for projects that use floorkit (``docs/testing.md``).

Capture what your code sends, without Redis::

    from floorkit import WINDOW, call
    from floorkit.testing import Message, capture

    with capture() as captured:
        call("shop.cart.add", request, WINDOW, product=7)
    assert captured.messages_to(WINDOW, request) == [
        Message("shop.cart.add", {"product": 7}, [f"window:{request.window}"])
    ]
    captured.run_jobs()  # the delayed handlers and AsyncSignal sends, here and now

Talk to a real ``runwebsocket`` as a browser tab would (needs Redis and
``pip install floorkit[test]``)::

    from floorkit.testing import WebsocketClient, run_websocket_server

    with run_websocket_server() as server, WebsocketClient(server, user=alice) as tab:
        reply = tab.call("shop.cart.add", product=7)
        frame = tab.receive(signal="shop.cart.updated")

With pytest, ``pytest_plugins = ["floorkit.testing"]`` in the root
``conftest.py`` gives the ``floorkit_capture`` fixture.

``capture()`` works by replacing, for the duration of the block and for the
whole process, the function that publishes messages
(``floorkit.delivery.publish.publish``), the queues that jobs are pushed to
(``floorkit.jobs.get_queue`` returns queues that record instead of pushing),
``AsyncSignal``'s eager run mode (run here, without Redis) and the recording
of trace events (``floorkit.tracing.recorder.emit``, off while capturing). Everything
else is floorkit's real code: argument checks, targets, JSON encoding,
``transaction.on_commit``.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal as os_signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from rq import Queue
from rq.job import Job as RQJob

if TYPE_CHECKING:  # pragma: no cover
    from floorkit.async_signals.signal import AsyncSignal
    from floorkit.signals.request import SignalRequest

__all__ = [
    "CallError",
    "Captured",
    "Job",
    "JobFailed",
    "Message",
    "Reply",
    "WebsocketClient",
    "WebsocketServer",
    "capture",
    "login",
    "run_websocket_server",
]

#: The RQ job function of a delayed handler, and of an ``AsyncSignal`` send.
HANDLER_JOB = "floorkit.jobs.run_handler"
ASYNC_SIGNAL_JOB = "floorkit.async_signals.job.run_receivers"

JobKind = Literal["handler", "async_signal", "function"]
JobStatus = Literal["queued", "finished", "failed"]


# -- what is captured ----------------------------------------------------------------------


@dataclass
class Message:
    """
    One message sent to browsers: what ``call()`` published for ``signal``.

    ``kwargs`` are the arguments exactly as a browser receives them: decoded
    from the JSON frame, so a ``datetime`` or a ``Decimal`` is a string there.
    ``addresses`` are where it went, in order (``"broadcast"``,
    ``"user:alice"``, ``"session:<opaque id>"``, ``"window:<id>"``; see
    ``floorkit.signals.targets``). One call publishes one message, to all its
    addresses.

    Two messages are equal when their ``signal``, ``kwargs`` and
    ``addresses`` are, so that a test can write the messages it expects::

        assert captured.messages == [Message("shop.cart.updated", {"count": 2}, ["user:alice"])]

    ``trace`` (the call's trace id), ``id``, ``seq`` (numbered from 1 in each
    capture) and ``frame`` (the whole websocket frame, a dict) are not
    compared.
    """

    signal: str
    kwargs: dict[str, Any]
    addresses: list[str]
    trace: str | None = field(default=None, compare=False)
    id: str | None = field(default=None, compare=False)
    seq: int | None = field(default=None, compare=False)
    frame: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(eq=False)
class Job:
    """
    One job pushed to an RQ queue: a delayed handler call (``kind ==
    "handler"``) or an ``AsyncSignal`` send (``kind == "async_signal"``).

    ``signal`` is the signal's name; ``handler`` the dotted path of the
    delayed handler (``None`` for an ``AsyncSignal``: one job runs all its
    receivers). ``id`` is the job id that ``call()`` returned in
    ``CallResult.jobs`` (or ``AsyncSignal.send()`` returned), ``queue`` the
    RQ queue, ``retries`` the retries RQ would allow.

    ``status`` is ``"queued"`` until the job runs (``Captured.run_jobs()``),
    then ``"finished"`` with its ``result``, or ``"failed"`` with the
    exception in ``error``.

    The job is kept as the JSON bytes RQ would store; every read below
    decodes them again, so you see what a worker would get.
    """

    id: str
    kind: JobKind
    function: str
    signal: str | None
    handler: str | None
    queue: str
    retries: int | None
    payload: bytes = field(repr=False)
    status: JobStatus = "queued"
    result: Any = None
    error: BaseException | None = None

    def _decoded(self) -> tuple[list[Any], dict[str, Any]]:
        _function, _instance, args, kwargs = json.loads(self.payload)
        return list(args), dict(kwargs)

    @property
    def kwargs(self) -> dict[str, Any]:
        """
        The arguments as the code on the worker gets them: for a delayed
        handler, its keyword arguments after the JSON round trip (a tuple is
        a list, dict keys are strings; the handler's annotations convert
        them again when it runs); for an ``AsyncSignal``, the receivers'
        named arguments rebuilt by ``floorkit.async_signals.mappings`` (a model instance
        is fetched again from the database, at each access).
        """
        args, kwargs = self._decoded()
        if self.kind == "handler":
            return args[3]
        if self.kind == "async_signal":
            from floorkit.async_signals import mappings

            return {key: mappings.decode(value, key) for key, value in args[2].items()}
        return kwargs

    @property
    def sender(self) -> Any:
        """The ``sender`` of an ``AsyncSignal`` send, rebuilt as receivers get it; else ``None``."""
        if self.kind != "async_signal":
            return None
        from floorkit.async_signals import mappings

        return mappings.decode(self._decoded()[0][1], "sender")

    @property
    def request(self) -> SignalRequest | None:
        """The caller a delayed handler runs as (a ``SignalRequest``); ``None`` for other jobs."""
        if self.kind != "handler":
            return None
        from floorkit.signals.request import SignalRequest

        return SignalRequest.from_dict(self._decoded()[0][2])

    @property
    def args(self) -> list[Any]:
        """The job function's positional arguments, as JSON data."""
        return self._decoded()[0]

    def describe(self) -> str:
        """``"job <id> (<signal> -> <handler>)"``, for messages."""
        if self.kind == "handler":
            return f"job {self.id} ({self.signal} -> {self.handler})"
        if self.kind == "async_signal":
            return f"job {self.id} (AsyncSignal {self.signal})"
        return f"job {self.id} ({self.function})"


class JobFailed(Exception):
    """
    A captured job raised when it ran. ``job`` is the ``Job`` (its ``error``
    is the exception, also chained as ``__cause__``).
    """

    def __init__(self, job: Job):
        self.job = job
        error = job.error
        super().__init__(f"{job.describe()} failed: {type(error).__name__}: {error}")


class Captured:
    """
    What was sent while a ``capture()`` block was active, in the order it
    was sent: ``sent`` holds ``Message`` and ``Job`` objects interleaved;
    ``messages`` and ``jobs`` are the same, by kind.

    A message is captured when ``call()`` publishes it (after the inline
    handlers ran). A job is captured when it is pushed: at once outside a
    transaction, when the transaction commits inside ``transaction.atomic()``
    (never if it rolls back) — as with Redis.
    """

    def __init__(self, run_jobs: bool = False) -> None:
        self.sent: list[Message | Job] = []
        self.auto_run = run_jobs
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._queues: dict[str, _CaptureQueue] = {}
        self._depth = 0
        self._auto_failures: list[Job] = []

    def __repr__(self) -> str:
        return f"<Captured: {len(self.messages)} messages, {len(self.jobs)} jobs>"

    @property
    def messages(self) -> list[Message]:
        """The messages sent to browsers, in order."""
        return [item for item in self.sent if isinstance(item, Message)]

    @property
    def jobs(self) -> list[Job]:
        """The jobs pushed (delayed handlers and ``AsyncSignal`` sends), in order."""
        return [item for item in self.sent if isinstance(item, Job)]

    def messages_to(self, target: Any, request: Any = None) -> list[Message]:
        """
        The messages sent to ``target``, in order: an address string
        (``"broadcast"``, ``"user:alice"``, ``"session:ID"``, ``"window:ID"``)
        or any target ``call()`` accepts (``BROADCAST``, ``{USER: ["bob"]}``,
        ``User("bob")``, a list...). ``WINDOW``, ``SESSION`` and ``USER`` are
        those of ``request`` (an ``HttpRequest`` or a ``SignalRequest``).

        A message matches when one of its addresses is one of the target's:
        ``messages_to(User("bob"))`` does not include broadcasts (see
        ``messages_reaching``). Raise ``InvalidTarget`` as ``call()`` would.
        """
        from floorkit.signals import targets
        from floorkit.signals.request import SignalRequest

        if isinstance(target, str):
            target = targets.parse(target)
        wanted = set(targets.resolve(target, SignalRequest.coerce(request)))
        return [m for m in self.messages if wanted.intersection(m.addresses)]

    def messages_reaching(self, request: Any) -> list[Message]:
        """
        The messages that a browser tab of ``request`` (an ``HttpRequest`` or a
        ``SignalRequest``) would receive, in order: those sent to its window,
        its session, its user, or to everyone.
        """
        from floorkit.signals.request import SignalRequest

        tab = SignalRequest.coerce(request)
        reaching = {"broadcast"}
        if tab.window:
            reaching.add(f"window:{tab.window}")
        if tab.session:
            reaching.add(f"session:{tab.session}")
        if tab.username:
            reaching.add(f"user:{tab.username}")
        return [m for m in self.messages if reaching.intersection(m.addresses)]

    def run_jobs(self, *, raise_errors: bool = True, limit: int = 1000) -> list[Job]:
        """
        Run every queued job here and now, oldest first, as a worker would:
        the job function gets its arguments decoded from the JSON that RQ
        would store, so a value that does not survive JSON is seen as a
        worker sees it. Jobs that these jobs push run too, after them.
        Return the jobs run, in order.

        A failing job does not stop the others (it is ``"failed"``, with its
        ``error``). Then, if ``raise_errors``, raise ``JobFailed`` for the
        first failure. RQ's retries are not simulated, and
        ``rq.get_current_job()`` is ``None`` inside these jobs. Raise
        ``RuntimeError`` when more than ``limit`` jobs ran (a job that
        enqueues itself).
        """
        ran = self._drain(limit)
        failed = [job for job in ran if job.status == "failed"]
        if failed and raise_errors:
            raise JobFailed(failed[0]) from failed[0].error
        return ran

    def clear(self) -> None:
        """Forget what was captured so far (the numbering of messages goes on)."""
        with self._lock:
            self.sent.clear()
            self._auto_failures.clear()

    # -- recording (called by the replaced functions) ------------------------------------

    def _record_message(self, payload: bytes, addresses: list[str]) -> int:
        seq = next(self._seq)
        # What Redis does (floorkit.delivery.publish._PUBLISH_LUA): put the sequence number first.
        head = b'{"type":"signal",'
        if payload.startswith(head):
            payload = head + b'"seq":%d,' % seq + payload[len(head) :]
        frame = json.loads(payload)
        frame.setdefault("seq", seq)
        message = Message(
            frame["signal"],
            frame["kwargs"],
            list(addresses),
            trace=frame.get("trace"),
            id=frame.get("id"),
            seq=seq,
            frame=frame,
        )
        with self._lock:
            self.sent.append(message)
        return seq

    def _queue(self, real: Queue) -> _CaptureQueue:
        queue = self._queues.get(real.name)
        if queue is None:
            queue = self._queues[real.name] = _CaptureQueue(self, real)
        return queue

    def _push(self, rq_job: RQJob, queue: str, run: bool = True) -> Job:
        payload = rq_job.data  # RQ's JSON serialization: raises for what JSON cannot carry
        function, _instance, args, _kwargs = json.loads(payload)
        kind: JobKind = "function"
        signal = handler = None
        if function == HANDLER_JOB:
            kind, signal, handler = "handler", args[0], args[1]
        elif function == ASYNC_SIGNAL_JOB:
            kind, signal = "async_signal", args[0]
        job = Job(
            id=rq_job.id,
            kind=kind,
            function=function,
            signal=signal,
            handler=handler,
            queue=queue,
            retries=rq_job.retries_left,
            payload=payload,
        )
        with self._lock:
            self.sent.append(job)
        if run:
            self._auto_drain()
        return job

    def _auto_drain(self) -> None:
        """With ``run_jobs=True``: run what is queued, unless a job is running (it will)."""
        if self.auto_run and self._depth == 0:
            ran = self._drain(limit=1000)
            self._auto_failures.extend(j for j in ran if j.status == "failed")

    def _drain(self, limit: int) -> list[Job]:
        ran: list[Job] = []
        while True:
            job = next((j for j in self.jobs if j.status == "queued"), None)
            if job is None:
                return ran
            if len(ran) >= limit:
                raise RuntimeError(
                    f"more than {limit} jobs ran in one go: does a job enqueue itself? "
                    f"(next: {job.describe()})"
                )
            self._run(job)
            ran.append(job)

    def _run(self, job: Job) -> None:
        from django.utils.module_loading import import_string

        from floorkit.async_signals.signal import _eager_errors

        function, _instance, args, kwargs = json.loads(job.payload)  # the worker's view
        # As in AsyncSignal's eager mode: deliver() leaves the caller's
        # database connections alone (the test's transaction) and reports here.
        token = _eager_errors.set([])
        self._depth += 1
        try:
            job.result = import_string(function)(*args, **kwargs)
            job.status = "finished"
        except Exception as exc:
            job.status, job.error = "failed", exc
        finally:
            self._depth -= 1
            _eager_errors.reset(token)


class _CaptureQueue(Queue):
    """An RQ queue whose ``enqueue_job`` records the job instead of writing it to Redis."""

    def __init__(self, captured: Captured, real: Queue) -> None:
        super().__init__(
            real.name,
            connection=real.connection,
            serializer=real.serializer,
            default_timeout=real._default_timeout,
        )
        self._captured = captured

    def enqueue_job(
        self,
        job: RQJob,
        pipeline: Any = None,
        at_front: bool = False,
        unique: bool = False,
    ) -> RQJob:
        job.origin = self.name
        self._captured._push(job, self.name)
        return job


# -- installing the capture ------------------------------------------------------------------

_active: list[Captured] = []
_originals: dict[str, Any] = {}
_install_lock = threading.Lock()


def _current() -> Captured:
    return _active[-1]


def _publish(payload: bytes, addresses: list[str], action: str) -> int | None:
    if not addresses:
        return None
    return _current()._record_message(payload, addresses)


def _get_queue(name: str) -> Queue:
    return _current()._queue(_originals["get_queue"](name))


def _keep_connections() -> None:
    """Replaces ``close_old_connections`` in jobs run by a capture: the test owns them."""


def _no_trace(*args: Any, **kwargs: Any) -> None:
    """Replaces ``recorder.emit`` while capturing: no trace events, so nothing goes to Redis."""


def _run_eager(
    self: AsyncSignal,
    job_id: str,
    sender: Any,
    named: dict[str, Any],
    robust: bool,
    *job_options: Any,
) -> None:
    """
    ``AsyncSignal``'s eager run mode without Redis: record the job, run it,
    raise unless robust. ``job_options`` (the trace) go to ``_create_job``
    as the original passes them.
    """
    captured = _current()
    queue = self._queue()  # a _CaptureQueue: get_queue is replaced
    rq_job = self._create_job(queue, job_id, sender, named, *job_options)
    job = captured._push(rq_job, queue.name, run=False)
    captured._run(job)
    captured._auto_drain()  # what the receivers pushed, with run_jobs=True
    if job.error is not None and not robust:
        raise job.error


def _install() -> None:
    from floorkit.async_signals.signal import AsyncSignal
    from floorkit.delivery import publish
    from floorkit.jobs import handler_jobs
    from floorkit.tracing import recorder

    _originals.update(
        publish=publish.publish,
        get_queue=handler_jobs.get_queue,
        close_old_connections=handler_jobs.close_old_connections,
        emit=recorder.emit,
        run_eager=AsyncSignal.__dict__["_run_eager"],
    )
    publish.publish = _publish
    handler_jobs.get_queue = _get_queue
    handler_jobs.close_old_connections = _keep_connections
    recorder.emit = _no_trace
    AsyncSignal._run_eager = _run_eager


def _uninstall() -> None:
    from floorkit.async_signals.signal import AsyncSignal
    from floorkit.delivery import publish
    from floorkit.jobs import handler_jobs
    from floorkit.tracing import recorder

    publish.publish = _originals["publish"]
    handler_jobs.get_queue = _originals["get_queue"]
    handler_jobs.close_old_connections = _originals["close_old_connections"]
    recorder.emit = _originals["emit"]
    AsyncSignal._run_eager = _originals["run_eager"]
    _originals.clear()


@contextlib.contextmanager
def capture(*, run_jobs: bool = False) -> Iterator[Captured]:
    """
    Capture the messages sent to browsers and the jobs pushed to RQ while the
    block runs, instead of sending them to Redis; yield a ``Captured``.

    Nothing in the block needs Redis: ``call()`` runs its inline handlers and
    checks its arguments as usual, and what it would publish or enqueue is
    recorded, in order. Jobs wait in ``Captured.jobs`` until
    ``Captured.run_jobs()`` runs them. With ``run_jobs=True``, each job runs
    as soon as it is pushed (a job pushed by a running job runs after it);
    a failing job does not disturb the code that pushed it, as with a
    worker, but the block raises ``JobFailed`` at its end (unless it is
    already raising).

    ``AsyncSignal``: in ``"async"`` mode a send is a captured job; in
    ``"eager"`` mode it is captured and run at once, and a receiver's
    exception propagates from ``send()`` as in eager mode; ``"sync"`` mode
    pushes no job, so nothing is captured.

    The capture is process-wide (every thread), meant for one test at a
    time. Blocks nest: the innermost one captures. Trace events are not
    recorded while capturing (trace ids still flow).
    """
    captured = Captured(run_jobs=run_jobs)
    with _install_lock:
        if not _active:
            _install()
        _active.append(captured)
    try:
        yield captured
    finally:
        with _install_lock:
            _active.remove(captured)
            if not _active:
                _uninstall()
    if captured._auto_failures:  # only reached when the block did not raise
        job = captured._auto_failures[0]
        raise JobFailed(job) from job.error


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is a test extra
    pytest = None

if pytest is not None:

    @pytest.fixture
    def floorkit_capture() -> Iterator[Captured]:
        """
        pytest fixture: a ``capture()`` active for the whole test. Enable it
        with ``pytest_plugins = ["floorkit.testing"]`` in the root ``conftest.py``.
        """
        with capture() as captured:
            yield captured


# -- a websocket client ----------------------------------------------------------------------


def login(user: Any, backend: str | None = None) -> str:
    """
    Log ``user`` (a user instance) in: create a Django session for it, as a
    login view would, and return the value of its session cookie
    (``settings.SESSION_COOKIE_NAME``).

    The session is saved in your session store; a ``runwebsocket`` process
    sees it once it is committed (use pytest-django's ``transactional_db``
    or ``TransactionTestCase``). ``backend`` is the authentication backend
    to record (needed only when several are configured).
    """
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user, backend=backend)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


@dataclass
class Reply:
    """The answer to a browser call: the inline handlers' ``results``, the delayed ones' ``jobs``."""

    results: list[Any]
    jobs: list[str]
    trace: str


class CallError(Exception):
    """
    The server answered a call with an error frame. ``kind`` is what went
    wrong (``"login_required"``, ``"not_allowed"``, ``"invalid_arguments"``,
    ``"unknown_signal"``, ``"handler_failed"``, ...), ``message`` the
    server's explanation, ``error_id`` the id logged with the traceback of a
    failed handler.
    """

    def __init__(self, kind: str, message: str, error_id: str | None, signal: str) -> None:
        self.kind = kind
        self.message = message
        self.error_id = error_id
        self.signal = signal
        super().__init__(f"{signal}: {kind}: {message}")


def _client_target(to: Any) -> Any:
    from floorkit.signals.targets import BROADCAST, SESSION, USER, WINDOW

    if isinstance(to, list | tuple):
        return [_client_target(item) for item in to]
    for constant in (WINDOW, SESSION, USER, BROADCAST):
        if to is constant:
            return constant.name
    if isinstance(to, dict) and len(to) == 1:
        ((key, value),) = to.items()
        if key is USER or key == "USER":
            return {"USER": list(value)}
    if isinstance(to, str):
        return to
    raise TypeError(
        f"a browser can send to WINDOW, SESSION, USER, BROADCAST or {{USER: [names]}}, not {to!r}"
    )


class WebsocketClient:
    """
    One browser tab on a real ``runwebsocket``: a websocket opened with the
    session cookie of a user, speaking floorkit's protocol
    (``docs/protocol.md``). Needs ``websocket-client``
    (``pip install floorkit[test]``).

    ``url`` is the ``ws://`` URL of the endpoint or a ``WebsocketServer``.
    ``user`` (a user instance: logged in with ``login()``) or ``session``
    (a session cookie value) says who the tab is; neither: anonymous.
    ``origin`` is sent as the ``Origin`` header when given (none by default,
    as a non-browser client). ``timeout`` is the default wait in seconds.

    Opening waits for the server's ``hello``: ``hello`` is that frame,
    ``window`` the tab's window id, ``username`` its user (``None`` when
    anonymous). A refused upgrade raises websocket-client's
    ``WebSocketBadStatusException``. Use it as a context manager, or
    ``close()`` it.
    """

    _ids = itertools.count(1)

    def __init__(
        self,
        url: str | WebsocketServer,
        *,
        user: Any = None,
        session: str | None = None,
        origin: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        try:
            import websocket
        except ImportError:  # pragma: no cover - a test extra
            raise ImportError(
                "floorkit.testing.WebsocketClient needs websocket-client: "
                "pip install 'floorkit[test]'"
            ) from None
        from django.conf import settings

        if isinstance(url, WebsocketServer):
            url = url.url
        if user is not None:
            if session is not None:
                raise TypeError("give user or session, not both")
            session = login(user)
        headers = [f"Cookie: {settings.SESSION_COOKIE_NAME}={session}"] if session else []
        self.timeout = timeout
        self._websocket = websocket
        self._ws = websocket.create_connection(
            url, header=headers, origin=origin, timeout=timeout, suppress_origin=origin is None
        )
        self._pending: list[dict[str, Any]] = []
        self.hello: dict[str, Any] = self._recv(timeout)
        if self.hello.get("type") != "hello":
            self.close()
            raise ConnectionError(f"expected a hello frame, got {self.hello!r}")
        self.window: str = self.hello["window"]
        self.username: str | None = self.hello.get("user")

    def __enter__(self) -> WebsocketClient:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<WebsocketClient window={self.window} user={self.username}>"

    def _recv(self, timeout: float) -> dict[str, Any]:
        self._ws.settimeout(max(timeout, 0.001))
        try:
            return json.loads(self._ws.recv())
        except self._websocket.WebSocketTimeoutException:
            raise TimeoutError(f"nothing received within {timeout:g} s") from None

    def call(self, signal: str, /, **kwargs: Any) -> Reply:
        """
        Call ``signal`` with ``kwargs`` as a browser does, and wait for the
        answer: return a ``Reply``, or raise ``CallError`` for an error frame.
        Signal frames that arrive meanwhile are kept for ``receive()``.
        """
        return self.call_with(signal, kwargs)

    def call_with(
        self,
        signal: str,
        kwargs: Mapping[str, Any] | None = None,
        *,
        to: Any = None,
        timeout: float | None = None,
    ) -> Reply:
        """
        ``call()`` with every option: ``to`` sends the signal to browsers too
        (``WINDOW``, ``SESSION``, ``USER``, ``BROADCAST``, ``{USER: [names]}``,
        a list of them, or their names as a browser writes them); ``timeout``
        (default: the client's) bounds the wait, then ``TimeoutError``.
        """
        from django.core.serializers.json import DjangoJSONEncoder

        call_id = next(self._ids)
        frame: dict[str, Any] = {
            "type": "call",
            "id": call_id,
            "signal": signal,
            "kwargs": dict(kwargs or {}),
        }
        if to is not None:
            frame["to"] = _client_target(to)
        self._ws.send(json.dumps(frame, cls=DjangoJSONEncoder))
        answer = self._wait(
            lambda f: f.get("type") in ("result", "error") and f.get("id") == call_id,
            self.timeout if timeout is None else timeout,
        )
        if answer["type"] == "error":
            raise CallError(answer["kind"], answer["message"], answer.get("error_id"), signal)
        return Reply(answer["results"], answer["jobs"], answer["trace"])

    def _wait(self, wanted: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        for frame in self._pending:
            if wanted(frame):
                self._pending.remove(frame)
                return frame
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"nothing expected arrived within {timeout:g} s")
            frame = self._recv(remaining)
            if wanted(frame):
                return frame
            if frame.get("type") == "signal":
                self._pending.append(frame)

    def receive(self, signal: str | None = None, *, timeout: float | None = None) -> dict[str, Any]:
        """
        Return the next signal frame (of ``signal`` when given; the others
        stay for later), a dict such as ``{"type": "signal", "seq": 3, "id":
        ..., "signal": "shop.cart.updated", "kwargs": {...}, "trace": ...}``.
        Raise ``TimeoutError`` when none arrives within ``timeout`` seconds
        (default: the client's).
        """
        return self._wait(
            lambda f: f.get("type") == "signal" and signal in (None, f.get("signal")),
            self.timeout if timeout is None else timeout,
        )

    def signals(self, signal: str | None = None, *, quiet: float = 0.3) -> list[dict[str, Any]]:
        """
        Every signal frame received until nothing has arrived for ``quiet``
        seconds, in order (only those of ``signal`` when given; the others
        stay for later).
        """
        frames: list[dict[str, Any]] = []
        kept: list[dict[str, Any]] = []
        for frame in self._pending:
            (frames if signal in (None, frame.get("signal")) else kept).append(frame)
        self._pending = kept
        while True:
            try:
                frame = self._recv(quiet)
            except TimeoutError:
                return frames
            if frame.get("type") != "signal":
                continue
            if signal in (None, frame.get("signal")):
                frames.append(frame)
            else:
                self._pending.append(frame)

    def close(self) -> None:
        """Close the websocket (again: nothing)."""
        self._ws.close()


# -- a runwebsocket process ------------------------------------------------------------------


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _find_manage_py() -> Path:
    from django.conf import settings

    candidates = [Path.cwd() / "manage.py"]
    base = getattr(settings, "BASE_DIR", None)
    if base:
        candidates.insert(0, Path(base) / "manage.py")
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"no manage.py in {' or '.join(str(c.parent) for c in candidates)}: "
        "pass run_websocket_server(manage_py=...)"
    )


class WebsocketServer:
    """
    A ``manage.py runwebsocket`` subprocess started by ``run_websocket_server()``.

    ``url`` is its websocket endpoint (``ws://HOST:PORT/ws/floorkit/``),
    ``http_url`` its site root (served with ``http=True``), ``process`` the
    ``subprocess.Popen``. ``output()`` is what it printed so far. Use it as a
    context manager, or ``stop()`` it.
    """

    def __init__(self, process: subprocess.Popen, host: str, port: int, log_path: str) -> None:
        from floorkit import conf
        from floorkit.websocket.url import websocket_path

        self.process = process
        self.host = host
        self.port = port
        self.url = f"ws://{host}:{port}{websocket_path(conf.get('WEBSOCKET_URL'))}"
        self.http_url = f"http://{host}:{port}/"
        self._log_path = log_path
        self._final_output: str | None = None

    def __enter__(self) -> WebsocketServer:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<WebsocketServer {self.url} pid={self.process.pid}>"

    def output(self) -> str:
        """What the server printed (stdout and stderr) so far."""
        if self._final_output is not None:
            return self._final_output
        with open(self._log_path, encoding="utf-8", errors="replace") as log:
            return log.read()

    def stop(self, timeout: float = 10.0) -> str:
        """
        Stop the server as Ctrl-C would (SIGTERM: it closes every socket with
        1001), killing it after ``timeout`` seconds; return its output.
        Stopping it again does nothing.
        """
        if self._final_output is not None:
            return self._final_output
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, os_signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, os_signal.SIGKILL)
                self.process.wait()
        output = self.output()
        with contextlib.suppress(OSError):
            os.unlink(self._log_path)
        self._final_output = output
        return output


def run_websocket_server(
    host: str = "127.0.0.1",
    port: int | None = None,
    *,
    manage_py: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    http: bool = False,
    timeout: float = 20.0,
) -> WebsocketServer:
    """
    Start ``manage.py runwebsocket HOST:PORT`` (``--http`` with ``http``) in a
    subprocess and return a ``WebsocketServer`` once it accepts connections
    (it subscribes to Redis before it listens). ``port`` defaults to a free
    one.

    ``manage_py`` defaults to ``BASE_DIR/manage.py``, else ``./manage.py``.
    The server runs with this process's environment,
    ``DJANGO_SETTINGS_MODULE`` set to the settings in use here, and ``env``
    on top. It must reach the same Redis and the same database as the test
    (``docs/testing.md``). Raise ``RuntimeError`` with its output when it
    exits or is not listening within ``timeout`` seconds.
    """
    from django.conf import settings

    path = Path(manage_py) if manage_py is not None else _find_manage_py()
    port = port or _free_port(host)
    environment = dict(os.environ)
    settings_module = getattr(settings, "SETTINGS_MODULE", None)
    if settings_module:
        environment["DJANGO_SETTINGS_MODULE"] = settings_module
    environment["PYTHONUNBUFFERED"] = "1"
    environment.update(env or {})
    fd, log_path = tempfile.mkstemp(prefix="floorkit-runwebsocket-", suffix=".log")
    command = [sys.executable, str(path), "runwebsocket", f"{host}:{port}", "--noreload"]
    if http:
        command.append("--http")
    with os.fdopen(fd, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=path.parent,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = WebsocketServer(process, host, port, log_path)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            output = server.stop()
            raise RuntimeError(f"runwebsocket exited with code {process.returncode}:\n{output}")
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return server
        except OSError:
            if time.monotonic() > deadline:
                output = server.stop()
                raise RuntimeError(
                    f"runwebsocket was not listening on {host}:{port} after {timeout:g} s:\n{output}"
                ) from None
            time.sleep(0.05)
