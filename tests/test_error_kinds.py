"""
floorkit/errors.py is the one table of error kinds: every kind the server can
answer, and every kind the JS client can reject with, is in it, with the HTTP
status the views answer, and the docs list them all.
"""

import re
from pathlib import Path

import pytest
from django.test import Client

from floorkit.errors import KINDS, REFUSALS, http_status
from floorkit.exceptions import FloorkitError

ROOT = Path(__file__).resolve().parent.parent

# How floorkit's Python code names a kind: an exception's class attribute, an
# error frame, an HTTP error answer, a refusal returned by the JSON checks.
RAISED = [
    re.compile(r'^\s+kind = "([a-z_]+)"', re.M),
    re.compile(r'\berror\((?:None|call_id|[a-z_.]+), "([a-z_]+)"'),
    re.compile(r'\b_error\(\s*"([a-z_]+)"'),
    re.compile(r'return "([a-z_]+)", '),
]


def kinds_named_in_python() -> set[str]:
    found = set()
    for path in (ROOT / "floorkit").rglob("*.py"):
        text = path.read_text()
        for pattern in RAISED:
            found.update(pattern.findall(text))
    return found - {"error"}  # FloorkitError's abstract base kind


def test_every_kind_the_server_answers_is_in_the_table():
    named = kinds_named_in_python()
    assert named >= {"bad_request", "unknown_signal", "handler_failed", "rate_limited"}
    assert named <= set(KINDS), named - set(KINDS)


def test_every_floorkit_exception_kind_is_in_the_table():
    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    kinds = {cls.kind for cls in subclasses(FloorkitError)}
    assert kinds and kinds <= set(KINDS)


def test_statuses_and_refusals():
    assert http_status("unknown_signal") == 404
    assert http_status("redis_unavailable") == 503
    assert http_status("handler_failed") == 500
    assert http_status("no_such_kind") == 400
    assert "invalid_arguments" in REFUSALS and "handler_failed" not in REFUSALS
    assert all(KINDS[k].origin == "client" for k in ("connection_lost", "timeout"))


def test_protocol_docs_give_every_wire_kind_its_status():
    text = (ROOT / "docs" / "protocol.md").read_text()
    table = text[text.index("| kind | status |") :].split("\n\n")[0]
    for kind, entry in KINDS.items():
        if entry.origin in ("client", "event", "python"):
            continue
        row = next((line for line in table.splitlines() if f"`{kind}`" in line), None)
        assert row is not None, f"docs/protocol.md: {kind} missing from the status table"
        assert row.rstrip(" |").endswith(str(entry.status)), row


def test_js_docs_list_every_kind_a_call_can_reject_with():
    text = (ROOT / "docs" / "js.md").read_text()
    table = text[text.index("| kind | why |") :].split("\n\n")[0]
    listed = set(re.findall(r"^\| `([a-z_]+)`", table, re.M))
    browser_kinds = {k for k, e in KINDS.items() if e.origin not in ("python", "event")}
    assert listed == browser_kinds, browser_kinds ^ listed


def test_js_docs_name_every_error_event_kind():
    text = (ROOT / "docs" / "js.md").read_text()
    missing = [k for k, e in KINDS.items() if e.origin == "event" and f"`{k}`" not in text]
    assert not missing


@pytest.mark.django_db
def test_http_answers_take_their_status_from_the_table(redis_server):
    client = Client(enforce_csrf_checks=False)
    response = client.get("/floorkit/call/")
    assert response.status_code == KINDS["method_not_allowed"].status
    assert response.json()["kind"] == "method_not_allowed"
