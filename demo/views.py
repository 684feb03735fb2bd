from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie


@ensure_csrf_cookie
def index(request):
    """The chat page; the JavaScript is in the template."""
    return render(request, "demo/index.html")
