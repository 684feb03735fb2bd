"""System checks warn about what users get wrong."""

from django.core.checks import run_checks

from floorkit import connect
from floorkit.registry import registry


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
