"""An async Django view that calls signals with ``await acall()``, served through
Django's ASGI handler in tests/test_async_handlers.py (``pytest.mark.urls``)."""

import asyncio
import threading

from django.http import JsonResponse
from django.urls import path

from floorkit import acall


async def acall_view(request):
    result = await acall("tests.async.mixed", request, value=int(request.GET["value"]))
    return JsonResponse(
        {
            "results": result.results,
            "jobs": result.jobs,
            "loop": id(asyncio.get_running_loop()),
            "thread": threading.get_ident(),
        }
    )


async def acall_fails_view(request):
    try:
        await acall("tests.async.fails", request, value=3)
    except RuntimeError as exc:
        return JsonResponse({"raised": str(exc)})
    return JsonResponse({"raised": None})


urlpatterns = [
    path("acall/", acall_view),
    path("acall-fails/", acall_fails_view),
]
