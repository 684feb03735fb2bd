"""
``SignalRequestMiddleware`` attaches ``request.signal_request`` (a
``floorkit.SignalRequest``) to every request. It must come after Django's
``SessionMiddleware`` and ``AuthenticationMiddleware``.

The ``SignalRequest`` is built lazily, on first use, so requests that never
fire a signal pay nothing.
"""

from __future__ import annotations

from django.utils.functional import SimpleLazyObject

from floorkit.signals.request import SignalRequest


class SignalRequestMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.signal_request = SimpleLazyObject(lambda: SignalRequest.from_request(request))
        return self.get_response(request)
