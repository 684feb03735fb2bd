"""``{% floorkit_js %}`` and ``{% floorkit_config %}`` (no browser needed)."""

import json
import re

from django.template import Context, Template
from django.test import override_settings


def render(source: str) -> str:
    return Template("{% load floorkit %}" + source).render(Context())


FALLBACK = {
    "windowUrl": "/floorkit/window/",
    "callUrl": "/floorkit/call/",
    "pollUrl": "/floorkit/poll/",
    "pollInterval": 1000,
}


def config_of(html: str) -> dict:
    match = re.search(
        r'<script id="floorkit-config" type="application/json">(.*?)</script>', html, re.S
    )
    assert match, html
    return json.loads(match.group(1))


def test_floorkit_js_emits_config_then_script():
    html = render("{% floorkit_js %}")
    assert config_of(html) == {"url": "/ws/floorkit/", **FALLBACK}
    assert html.index("floorkit-config") < html.index('<script src="/static/floorkit/floorkit.js">')


def test_settings_and_options():
    with override_settings(FLOORKIT={"WEBSOCKET_URL": "wss://ws.example.com/</script>"}):
        html = render("{% floorkit_js autoconnect=False debug=True %}")
    assert '</script>"' not in html  # escaped like json_script
    assert config_of(html) == {
        "url": "wss://ws.example.com/</script>",
        **FALLBACK,
        "autoconnect": False,
        "debug": True,
    }


def test_floorkit_config_alone():
    html = render("{% floorkit_config %}")
    assert config_of(html)["url"] == "/ws/floorkit/"
    assert "floorkit.js" not in html
