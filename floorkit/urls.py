"""URLs of degraded mode: ``path("floorkit/", include("floorkit.urls"))``."""

from django.urls import path, re_path

from floorkit import views

app_name = "floorkit"
urlpatterns = [
    path("window/", views.window, name="window"),
    path("call/", views.call, name="call"),
    path("poll/", views.poll, name="poll"),
    re_path(r"^(?P<path>.*)$", views.not_found),  # every floorkit URL answers JSON
]
