"""The guide's examples stay true: every Python block parses and every name it
imports from floorkit exists; every floorkit.X the JavaScript blocks use is in
the client; every management command and setting the guide names exists."""

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def blocks(language: str):
    for path in DOCS:
        for lang, code in BLOCK.findall(path.read_text()):
            if lang == language:
                yield pytest.param(code, id=f"{path.name}:{code.splitlines()[0][:40]}")


@pytest.mark.parametrize("code", list(blocks("python")))
def test_python_examples_parse_and_import_real_names(code):
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("floorkit"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{node.module}.{alias.name} does not exist"


def test_javascript_examples_use_the_clients_api():
    client = (ROOT / "floorkit/static/floorkit/floorkit.js").read_text()
    used = set()
    for path in DOCS:
        for lang, code in BLOCK.findall(path.read_text()):
            if lang in ("js", "javascript", "html"):
                used |= set(re.findall(r"floorkit\.(\w+)\(", code))
    assert used, "the guide shows the JS API"
    for name in used:
        assert re.search(rf"\b{name}\b\s*[:(=]", client), f"floorkit.{name} is not in floorkit.js"


def test_commands_and_settings_named_in_the_guide_exist():
    from django.core.management import get_commands

    from floorkit import conf

    text = "\n".join(path.read_text() for path in DOCS)
    commands = set(re.findall(r"manage\.py (\w+)", text)) - {"runqueueserver"}  # signalqueue's
    assert {"runwebsocket", "rqworker", "listsignals", "firesignal", "tracesignal"} <= commands
    assert commands <= set(get_commands()), commands - set(get_commands())
    for name in set(re.findall(r'FLOORKIT\["(\w+)"\]', text)):
        assert name in conf.DEFAULTS, f"FLOORKIT[{name!r}] is not a setting"


def test_signal_examples_run_and_register_callable_handlers():
    """
    Run each page's Python examples in order, in one namespace per page (as a
    reader would): the signals they define register, and every handler's
    signature can be satisfied. Blocks about the user's own app (``shop.models``
    and the like) cannot run here and are passed over.
    """
    from floorkit.signals.registry import registry

    state = registry.snapshot()
    ran = {}
    try:
        for path in DOCS:
            namespace = {"__name__": f"docs_example_{path.stem}.signals"}
            for lang, code in BLOCK.findall(path.read_text()):
                if lang != "python" or not re.search(r"@connect|declare\(|AsyncSignal\(", code):
                    continue
                try:
                    exec(compile(code, f"<{path.name}>", "exec"), namespace)
                except (ImportError, NameError):
                    continue
                ran[path.name] = ran.get(path.name, 0) + 1
        added = [
            handler
            for info in registry.all()
            for handler in info.handlers
            if handler.path.startswith("docs_example_")
        ]
        for handler in added:
            assert handler.signature.problems == [], (handler.path, handler.signature.problems)
        guide = {h.signal for h in added if h.path.startswith("docs_example_guide.")}
        assert {"shop.cart.add", "shop.stats.ping", "shop.invoice.send"} <= guide
        assert ran.get("README.md") and ran.get("guide.md")
    finally:
        registry.restore(state)


def test_settings_page_lists_every_setting_check_and_request_attribute():
    """docs/settings.md names every key of floorkit's defaults and every check id."""
    from floorkit import conf

    page = (ROOT / "docs/settings.md").read_text()
    missing = [key for key in conf.DEFAULTS if f"`{key}`" not in page]
    assert not missing, f"docs/settings.md does not list FLOORKIT keys {missing}"
    check_ids = set(
        re.findall(r'id="(floorkit\.[EW]\d+)"', (ROOT / "floorkit/checks.py").read_text())
    )
    assert len(check_ids) >= 12
    missing = sorted(i for i in check_ids if f"`{i}`" not in page)
    assert not missing, f"docs/settings.md does not list checks {missing}"
    for attribute in ("user", "username", "user_id", "session", "window", "trace_id"):
        assert f"`request.{attribute}`" in page


def test_every_file_the_docs_cite_exists():
    """docs/*.md cite files by path (`floorkit/...`); the layout tree of
    docs/architecture.md names every module of each package."""
    missing = []
    for page in (ROOT / "docs").glob("*.md"):
        if page.name == "decisions.md":  # a record: it may name what has since gone
            continue
        for path in set(re.findall(r"`((?:floorkit|tests|bench)/[\w/]+\.\w+)`", page.read_text())):
            if not (ROOT / path).exists():
                missing.append(f"{page.name}: {path}")
    text = (ROOT / "docs/architecture.md").read_text()
    tree = text.split("```")[1]
    package = ROOT / "floorkit"
    for line in tree.splitlines()[2:]:
        indent = len(line) - len(line.lstrip())
        names = re.split(r"\s{2,}", line.strip())[0].split()
        if indent == 2 and names[0].endswith("/") and len(names) == 1:
            package = ROOT / "floorkit" / names[0]
        base = ROOT / "floorkit" if indent == 2 else package
        for name in names:
            if re.fullmatch(r"[\w]+(\.py|/)", name) and not (base / name).exists():
                missing.append(f"architecture.md tree: {base.relative_to(ROOT)}/{name}")
    assert not missing, missing
