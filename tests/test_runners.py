"""The greenlets that run browser calls: reused, bounded, and never lost to an error."""

import logging

import gevent
import gevent.event

from floorkit.websocket.runners import CallRunners


def settle():
    for _ in range(3):
        gevent.sleep(0)


def test_finished_greenlets_run_the_next_calls():
    runners = CallRunners()
    seen = []
    for n in range(3):
        runners.run(lambda n=n: seen.append((n, gevent.getcurrent())))
    settle()
    assert [n for n, _ in seen] == [0, 1, 2] and runners.idle == 3
    first_greenlets = {g for _, g in seen}
    seen.clear()
    for n in range(3):
        runners.run(lambda n=n: seen.append((n, gevent.getcurrent())))
    settle()
    assert sorted(n for n, _ in seen) == [0, 1, 2]
    assert {g for _, g in seen} == first_greenlets  # no new greenlet
    assert runners.idle == 3


def test_a_waiting_call_does_not_hold_up_the_others():
    runners = CallRunners()
    done = []
    release = gevent.event.Event()
    runners.run(lambda: (release.wait(), done.append("slow")))
    runners.run(lambda: done.append("fast"))
    settle()
    assert done == ["fast"]
    release.set()
    settle()
    assert done == ["fast", "slow"]


def test_idle_greenlets_are_bounded():
    runners = CallRunners(max_idle=2)
    release = gevent.event.Event()
    for _ in range(5):
        runners.run(release.wait)
    settle()
    assert runners.idle == 0
    release.set()
    settle()
    assert runners.idle == 2


def test_an_escaping_error_is_logged_and_the_greenlet_serves_on(caplog):
    runners = CallRunners()
    with caplog.at_level(logging.ERROR, logger="floorkit.websocket"):
        runners.run(lambda: 1 / 0)
        settle()
    assert "unhandled error in a browser call" in caplog.text
    assert "ZeroDivisionError" in caplog.text
    seen = []
    runners.run(lambda: seen.append("after"))
    settle()
    assert seen == ["after"] and runners.idle == 1
