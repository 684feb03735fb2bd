"""
Template tags of the browser client::

    {% load floorkit %}
    {% floorkit_js %}            {# the config <script> and floorkit.js #}
    {% floorkit_config %}        {# the config only, for pages that import floorkit.mjs #}

Both accept client options as keyword arguments, which override the settings:
``{% floorkit_js autoconnect=False debug=True %}``. The config is a
``<script id="floorkit-config" type="application/json">`` element, escaped like
Django's ``json_script``; floorkit.js reads it when the page has loaded.

The config carries the URLs of the HTTP fallback (``floorkit.urls``) and
``POLL_INTERVAL``. A project that has not included ``floorkit.urls`` gets
``pollInterval: 0``: no fallback. When the fallback is on and the tag is
rendered with a request, it makes sure the page sets Django's CSRF cookie (like
``{% csrf_token %}``), and puts the CSRF token in the config only when
JavaScript cannot read that cookie (``CSRF_USE_SESSIONS`` or
``CSRF_COOKIE_HTTPONLY``).
"""

from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings
from django.middleware.csrf import get_token
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, json_script

from floorkit import conf

register = template.Library()

CONFIG_ELEMENT_ID = "floorkit-config"
MIN_POLL_INTERVAL = 500  # milliseconds

_DJANGO_CSRF_COOKIE = "csrftoken"
_DJANGO_CSRF_HEADER = "HTTP_X_CSRFTOKEN"


def poll_interval() -> int:
    """``POLL_INTERVAL`` in milliseconds: 0 (no fallback) or at least 500."""
    value = int(conf.get("POLL_INTERVAL") or 0)
    return 0 if value <= 0 else max(MIN_POLL_INTERVAL, value)


def fallback_urls() -> dict[str, str] | None:
    """The URLs of the HTTP endpoints, or ``None`` when ``floorkit.urls`` is not included."""
    try:
        return {
            "windowUrl": reverse("floorkit:window"),
            "callUrl": reverse("floorkit:call"),
            "pollUrl": reverse("floorkit:poll"),
        }
    except NoReverseMatch:
        return None


def _header_name(meta_key: str) -> str:
    """``HTTP_X_CSRFTOKEN`` -> ``X-CSRFTOKEN`` (header names are case-insensitive)."""
    name = meta_key[5:] if meta_key.startswith("HTTP_") else meta_key
    return name.replace("_", "-")


def client_config(request=None, **options: Any) -> dict[str, Any]:
    """
    The options of floorkit.js: the websocket URL (a relative URL follows the page's
    host and scheme: http -> ws, https -> wss), the HTTP fallback (``windowUrl``,
    ``callUrl``, ``pollUrl``, ``pollInterval`` in ms; 0 disables it), the CSRF cookie
    and header names when they are not Django's defaults, then ``options``.
    Everything else (window, heartbeat, sequence numbers) comes from the server.
    """
    config: dict[str, Any] = {"url": conf.get("WEBSOCKET_URL")}
    interval = poll_interval()
    urls = fallback_urls() if interval else None
    if urls:
        config.update(urls)
    config["pollInterval"] = interval if urls else 0
    if urls:
        if settings.CSRF_COOKIE_NAME != _DJANGO_CSRF_COOKIE:
            config["csrfCookie"] = settings.CSRF_COOKIE_NAME
        if settings.CSRF_HEADER_NAME != _DJANGO_CSRF_HEADER:
            config["csrfHeader"] = _header_name(settings.CSRF_HEADER_NAME)
        if request is not None:
            token = get_token(request)  # also makes the response set the CSRF cookie
            if settings.CSRF_USE_SESSIONS or settings.CSRF_COOKIE_HTTPONLY:
                config["csrfToken"] = token  # the cookie is out of JavaScript's reach
    config.update(options)
    return config


@register.simple_tag(takes_context=True)
def floorkit_config(context, **options: Any) -> str:
    """The ``<script type="application/json">`` element that configures floorkit.js."""
    request = getattr(context, "request", None)
    return json_script(client_config(request, **options), CONFIG_ELEMENT_ID)


@register.simple_tag(takes_context=True)
def floorkit_js(context, **options: Any) -> str:
    """The config element and the ``<script>`` of floorkit.js."""
    return format_html(
        '{}\n<script src="{}"></script>',
        floorkit_config(context, **options),
        static("floorkit/floorkit.js"),
    )
