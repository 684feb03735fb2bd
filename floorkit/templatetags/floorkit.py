"""
Template tags of the browser client::

    {% load floorkit %}
    {% floorkit_js %}            {# the config <script> and floorkit.js #}
    {% floorkit_config %}        {# the config only, for pages that import floorkit.mjs #}

Both accept client options as keyword arguments, which override the settings:
``{% floorkit_js autoconnect=False debug=True %}``. The config is a
``<script id="floorkit-config" type="application/json">`` element, escaped like
Django's ``json_script``; floorkit.js reads it when the page has loaded.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.templatetags.static import static
from django.utils.html import format_html, json_script

from floorkit import conf

register = template.Library()

CONFIG_ELEMENT_ID = "floorkit-config"


def client_config(**options: Any) -> dict[str, Any]:
    """The options of floorkit.js: the websocket URL (a relative URL follows the page's
    host and scheme: http -> ws, https -> wss), then ``options``. Everything else (window,
    heartbeat, sequence numbers) comes from the server's hello."""
    return {"url": conf.get("WEBSOCKET_URL"), **options}


@register.simple_tag
def floorkit_config(**options: Any) -> str:
    """The ``<script type="application/json">`` element that configures floorkit.js."""
    return json_script(client_config(**options), CONFIG_ELEMENT_ID)


@register.simple_tag
def floorkit_js(**options: Any) -> str:
    """The config element and the ``<script>`` of floorkit.js."""
    return format_html(
        '{}\n<script src="{}"></script>',
        floorkit_config(**options),
        static("floorkit/floorkit.js"),
    )
