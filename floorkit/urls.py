"""URLs of degraded mode: ``path("floorkit/", include("floorkit.urls"))``."""

from django.urls import path

from floorkit import views

app_name = "floorkit"
urlpatterns = [
    path("window/", views.window, name="window"),
    path("call/", views.call, name="call"),
    path("poll/", views.poll, name="poll"),
]
