"""Registering handlers: names, order, duplicates, discovery."""

import importlib
import sys
import types

import pytest

from floorkit import InvalidSignalName, UnknownSignal, call, connect, declare
from floorkit.signals.registry import default_name, registry


@pytest.fixture
def clean_registry():
    state = registry.snapshot()
    yield registry
    registry.restore(state)


@pytest.mark.parametrize(
    "name", ["", "a..b", "1abc", "demo.chat-message", "demo.", ".demo", "a b", 3, "demo.chat\n"]
)
def test_bad_signal_names_fail_at_import_time(clean_registry, name):
    with pytest.raises(InvalidSignalName, match="invalid signal name"):

        @connect(path=name)
        def handler(request):
            pass


def test_bare_decorator_uses_module_and_function_name(clean_registry):
    def on_thing(request):
        return "bare"

    on_thing.__module__ = "shop.signals"
    assert connect(on_thing) is on_thing
    assert default_name(on_thing) == "shop.on_thing"
    assert call("shop.on_thing").results == ["bare"]


def test_handlers_run_in_registration_order(clean_registry):
    seen = []

    @connect(path="t.order.a")
    def one(request):
        seen.append(1)
        return 1

    @connect(path="t.order.a")
    def two(request):
        seen.append(2)
        return 2

    assert call("t.order.a").results == [1, 2]
    assert seen == [1, 2]


def test_registering_the_same_function_twice_runs_it_once(clean_registry):
    seen = []

    def make():
        def handler(request):
            seen.append("x")

        handler.__module__ = "reloaded.signals"
        handler.__qualname__ = "handler"
        return handler

    connect(make(), path="t.twice")
    connect(make(), path="t.twice")  # an autoreload: a new function object, same path
    call("t.twice")
    assert seen == ["x"]


def test_unknown_signal_is_an_error(clean_registry):
    with pytest.raises(UnknownSignal, match="no.such.signal"):
        call("no.such.signal")


def test_declared_js_only_signal_is_known(clean_registry):
    declare("t.jsonly")
    assert call("t.jsonly").results == []


def test_app_signals_modules_and_packages_are_discovered():
    # tests.testapp.signals is a module of an installed app, found by AppConfig.ready()
    assert registry.get("tests.echo").handlers[0].path == "tests.testapp.signals.echo"


def test_signals_package_and_settings_modules_are_discovered(settings, tmp_path, clean_registry):
    pkg = tmp_path / "pkgapp"
    (pkg / "signals").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "signals" / "__init__.py").write_text(
        "from floorkit import connect\n@connect(path='pkgapp.hello')\ndef hello(request):\n    return 'pkg'\n"
    )
    (tmp_path / "extra_signals.py").write_text(
        "from floorkit import connect\n@connect(path='extra.hello')\ndef hello(request):\n    return 'extra'\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        from django.apps import apps
        from django.apps.config import AppConfig

        from floorkit.signals.discovery import autodiscover

        config = AppConfig.create("pkgapp")
        config.apps = apps
        apps.app_configs["pkgapp"] = config
        settings.FLOORKIT = {**settings.FLOORKIT, "SIGNAL_MODULES": ["extra_signals"]}
        try:
            imported = autodiscover()
        finally:
            del apps.app_configs["pkgapp"]
        assert "pkgapp.signals" in imported and "extra_signals" in imported
        assert call("pkgapp.hello").results == ["pkg"]
        assert call("extra.hello").results == ["extra"]
    finally:
        sys.path.remove(str(tmp_path))
        for name in ("pkgapp", "pkgapp.signals", "extra_signals"):
            sys.modules.pop(name, None)


def test_import_error_inside_a_signals_module_is_raised(tmp_path):
    pkg = tmp_path / "brokenapp"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "signals.py").write_text("import does_not_exist_anywhere\n")
    sys.path.insert(0, str(tmp_path))
    try:
        from django.apps import apps
        from django.apps.config import AppConfig

        from floorkit.signals.discovery import autodiscover

        config = AppConfig.create("brokenapp")
        config.apps = apps
        apps.app_configs["brokenapp"] = config
        try:
            with pytest.raises(ModuleNotFoundError, match="does_not_exist_anywhere"):
                autodiscover()
        finally:
            del apps.app_configs["brokenapp"]
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("brokenapp", None)
        sys.modules.pop("brokenapp.signals", None)


def test_reimporting_a_signals_module_does_not_duplicate_handlers():
    module = importlib.import_module("tests.testapp.signals")
    before = [h.path for h in registry.get("tests.order").handlers]
    importlib.reload(module)
    assert (
        [h.path for h in registry.get("tests.order").handlers]
        == before
        == [
            "tests.testapp.signals.first",
            "tests.testapp.signals.second",
        ]
    )
    assert isinstance(module, types.ModuleType)


def test_browser_access_follows_registry_changes(clean_registry):
    """What browsers may call is computed once per change, and every change counts."""
    from floorkit import LoginRequired, NotAllowed, SignalRequest
    from floorkit.signals.dispatch import call_from_client

    anonymous = SignalRequest()

    @connect(path="tests.access", allow_from_client=False)
    def closed(request):
        return "closed"

    with pytest.raises(NotAllowed):
        call_from_client("tests.access", anonymous, {})

    @connect(path="tests.access", auth_required=False)
    def open_to_all(request):
        return "open"

    assert call_from_client("tests.access", anonymous, {}).results == ["open"]

    @connect(path="tests.access")  # a second open handler, login required
    def members(request):
        return "members"

    with pytest.raises(LoginRequired):
        call_from_client("tests.access", anonymous, {})
    registry.remove("tests.access", members)
    assert call_from_client("tests.access", anonymous, {}).results == ["open"]
    registry.remove("tests.access", open_to_all)
    with pytest.raises(NotAllowed):
        call_from_client("tests.access", anonymous, {})
