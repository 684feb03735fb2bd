from django.urls import path

from demo import views

urlpatterns = [
    path("", views.index, name="index"),
    path("rooms/", views.rooms, name="rooms"),
    path("job/", views.job, name="job"),
    path("notes/", views.notes, name="notes"),
    path("resilience/", views.resilience, name="resilience"),
    path("trace/", views.trace, name="trace"),
    path("trace/<str:trace_id>/", views.trace_tree, name="trace-tree"),
]
