"""
Whether a websocket upgrade comes from an allowed page: the ``Origin`` check.

Browsers send ``Origin`` with every websocket upgrade, and a page of any site
may open a websocket to any server, carrying the server's cookies; the check
is the websocket's counterpart of the one Django's CSRF middleware makes for
POSTs, honouring the same settings (``ALLOWED_HOSTS``,
``CSRF_TRUSTED_ORIGINS``, ``SECURE_PROXY_SSL_HEADER``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain


def origin_allowed(environ: dict) -> bool:
    """
    Whether the upgrade request's ``Origin`` may open a socket: its host is
    the ``Host`` of the request and allowed by ``ALLOWED_HOSTS`` and its
    scheme is the request's (``https`` behind a proxy that sets
    ``SECURE_PROXY_SSL_HEADER``, else the server's own), or it is in
    ``CSRF_TRUSTED_ORIGINS`` (wildcards as in Django). Browsers always send
    ``Origin`` on websockets; a request without one (a non-browser client,
    which cannot carry a victim's cookies across sites) is allowed.
    """
    origin = environ.get("HTTP_ORIGIN")
    if origin is None:
        return True
    if origin in settings.CSRF_TRUSTED_ORIGINS:
        return True
    try:
        parsed = urlsplit(origin)
    except ValueError:
        return False
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        return False
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        if "*" in trusted:
            trusted_parsed = urlsplit(trusted)
            if trusted_parsed.scheme == parsed.scheme and is_same_domain(
                parsed.netloc, trusted_parsed.netloc
            ):
                return True
    host = environ.get("HTTP_HOST", "")
    if parsed.netloc.lower() != host.lower() or parsed.scheme != _scheme(environ):
        return False
    domain, _port = split_domain_port(host)
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    return bool(domain) and validate_host(domain, allowed)


def _scheme(environ: dict) -> str:
    """The scheme the page must have used: ``https`` when Django deems the request secure."""
    return "https" if WSGIRequest(environ).is_secure() else "http"
