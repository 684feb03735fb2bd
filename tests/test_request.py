"""SignalRequest and the middleware."""

import pytest
from django.test import Client

from floorkit import SignalRequest
from floorkit.signals.identity import new_window, session_id, verify_window


def test_round_trips_through_dict():
    request = SignalRequest(user_id=4, username="alice", session="abc", window="w", parent="p")
    assert SignalRequest.from_dict(request.to_dict()) == request


@pytest.mark.django_db
def test_user_is_loaded_lazily_from_the_database(django_user_model, django_assert_num_queries):
    user = django_user_model.objects.create_user("alice", password="pw")
    request = SignalRequest.from_dict({"user_id": user.pk, "username": "alice"})
    user.is_staff = True
    user.save()
    with django_assert_num_queries(1):
        assert request.user.is_staff  # current state, not a snapshot
        assert request.user.pk == user.pk
    assert SignalRequest().user.is_anonymous
    gone = SignalRequest.from_dict({"user_id": 99999, "username": "ghost"})
    assert gone.user.is_anonymous


@pytest.mark.django_db
def test_middleware_attaches_signal_request_with_hashed_session(django_user_model, rf):
    from django.urls import path

    seen = {}

    def view(request):
        seen["sr"] = request.signal_request.to_dict()
        seen["key"] = request.session.session_key
        from django.http import HttpResponse

        return HttpResponse("ok")

    django_user_model.objects.create_user("alice", password="pw")
    client = Client()
    assert client.login(username="alice", password="pw")
    import demo_project.urls as urls

    urls.urlpatterns.append(path("__sr__/", view))
    try:
        assert client.get("/__sr__/").status_code == 200
    finally:
        urls.urlpatterns.pop()
    sr = seen["sr"]
    assert sr["username"] == "alice" and sr["user_id"] is not None
    assert sr["session"] == session_id(seen["key"]) and seen["key"] not in str(sr)
    assert len(sr["trace_id"]) == 16 and sr["window"] is None


def test_window_tokens_are_bound_to_their_session():
    window, token = new_window("session-a")
    assert verify_window(token, "session-a") == window
    assert verify_window(token, "session-b") is None
    assert verify_window(f"other.{token.split('.')[1]}", "session-a") is None
    for garbage in (None, "", "x", "a.b.c", 12):
        assert verify_window(garbage, "session-a") is None


def test_call_accepts_http_request_and_signal_request(rf):
    from floorkit import call

    http_request = rf.get("/")
    from django.contrib.auth.models import AnonymousUser

    http_request.user = AnonymousUser()
    assert call("tests.anonymous", http_request, text="a").results == [{"user": None, "text": "a"}]
    with pytest.raises(TypeError, match="expected a SignalRequest"):
        call("tests.anonymous", "alice")
