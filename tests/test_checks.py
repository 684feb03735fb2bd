"""System checks warn about what users get wrong."""

import pytest
from django.core.checks import run_checks

from floorkit import connect
from floorkit.signals.registry import registry


def ids(**kwargs):
    return [m.id for m in run_checks(**kwargs) if m.id and m.id.startswith("floorkit.")]


def test_clean_project_has_no_floorkit_messages(redis_server):
    assert ids() == []


def test_missing_middleware_warns(settings, redis_server):
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "floorkit" not in m]
    assert ids() == ["floorkit.W001"]


def test_misordered_middleware_warns(settings, redis_server):
    middleware = [m for m in settings.MIDDLEWARE if "floorkit" not in m]
    settings.MIDDLEWARE = ["floorkit.middleware.SignalRequestMiddleware", *middleware]
    assert ids() == ["floorkit.W001"]


def test_unreachable_redis_warns(settings):
    settings.FLOORKIT = {**settings.FLOORKIT, "REDIS_URL": "redis://127.0.0.1:1/0"}
    assert "floorkit.W002" in ids()


def test_unsatisfiable_handler_and_unknown_queue_are_errors(redis_server):
    state = registry.snapshot()
    try:

        @connect(path="tests.bad_signature")
        def no_request():
            pass

        @connect(path="tests.bad_queue", delayed=True, queue="nowhere")
        def bad_queue(request):
            pass

        messages = {m.id: m.msg for m in run_checks() if m.id.startswith("floorkit.")}
        assert "can never be called" in messages["floorkit.E001"]
        assert "'nowhere'" in messages["floorkit.E002"]
    finally:
        registry.restore(state)


def test_pickle_worker_class_warns(settings, redis_server):
    settings.RQ = {}
    assert ids() == ["floorkit.W003"]


def test_unknown_setting_warns(settings, redis_server):
    settings.FLOORKIT = {**settings.FLOORKIT, "REDIS_ULR": "x"}
    assert ids() == ["floorkit.W004"]


def test_missing_rq_queues_with_delayed_handlers_is_an_error(settings, redis_server):
    state = registry.snapshot()
    try:

        @connect(path="tests.needs_rq", delayed=True)
        def later(request):
            pass

        del settings.RQ_QUEUES
        messages = {m.id: m for m in run_checks() if m.id.startswith("floorkit.")}
        assert "RQ_QUEUES is not set" in messages["floorkit.E005"].msg
        assert "RQ_QUEUES =" in messages["floorkit.E005"].hint
    finally:
        registry.restore(state)


def test_redis_url_without_scheme_is_an_error_not_a_crash(settings):
    settings.FLOORKIT = {**settings.FLOORKIT, "REDIS_URL": "127.0.0.1:6379"}
    messages = [m for m in run_checks() if m.id == "floorkit.E006"]
    assert len(messages) == 1
    assert "'127.0.0.1:6379'" in messages[0].msg
    assert "redis://" in messages[0].hint


def test_handler_without_request_parameter_is_an_error_with_a_hint(redis_server):
    state = registry.snapshot()
    try:

        @connect(path="tests.no_request")
        def shout(text: str):
            pass

        @connect(path="tests.with_request")
        def fine(req, text: str = ""):
            pass

        messages = [m for m in run_checks() if m.id == "floorkit.E007"]
        assert [m.obj.rsplit(".", 1)[-1] for m in messages] == ["shout"]
        assert "'text' would receive the SignalRequest" in messages[0].msg
        assert "def shout(request, text, ...)" in messages[0].hint
    finally:
        registry.restore(state)


def test_async_def_handler_is_accepted_and_async_generator_refused_at_connect_time():
    state = registry.snapshot()
    try:

        @connect(path="tests.async_handler")
        async def coroutine(request, value: int):
            return value

        [handler] = registry.get("tests.async_handler").handlers
        assert handler.is_async and handler.fn is coroutine
        assert not [m for m in run_checks() if m.obj == handler.path]
        with pytest.raises(TypeError, match="is an async generator .* nothing would iterate"):

            @connect(path="tests.async_generator")
            async def generator(request):
                yield 1

        assert "tests.async_generator" not in {info.name for info in registry.all()}
    finally:
        registry.restore(state)


@pytest.mark.parametrize("url", ["ws/floorkit/", "ftp://h/ws/", "ws://127.0.0.1:8001", "ws:///x/"])
def test_unusable_websocket_url_is_an_error(settings, redis_server, url):
    settings.FLOORKIT = {**settings.FLOORKIT, "WEBSOCKET_URL": url}
    assert ids() == ["floorkit.E008"]


def test_absolute_websocket_url_passes(settings, redis_server):
    settings.FLOORKIT = {**settings.FLOORKIT, "WEBSOCKET_URL": "ws://127.0.0.1:8001/ws/floorkit/"}
    assert ids() == []
