"""floorkit.js across a Redis restarted empty: the page keeps its socket, takes the
messages numbered from 1 again under the new epoch, and fires "recovery" with lost: true."""

from __future__ import annotations

import time

import redis as redis_py

from floorkit import BROADCAST, call
from floorkit.delivery import redis_client
from floorkit.delivery.embedded_redis import EmbeddedRedis
from tests.browser.conftest import Server, wait_open
from tests.conftest import subprocess_env


def test_the_page_takes_a_new_epochs_messages_and_is_told_it_lost_some(pages, login, settings):
    redis = EmbeddedRedis(port=0)
    url = redis.start()
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    settings.FLOORKIT = {**settings.FLOORKIT, "REDIS_URL": url}
    redis_client.reset()
    server = Server(name="epoch-server", env=subprocess_env(FLOORKIT_REDIS_URL=url)).start()
    try:
        page = pages.new(session=login("erin"), base_url=server.url)
        page.goto("/")
        wait_open(page)
        page.evaluate(
            "window.recoveries = []; floorkit.on('recovery', (r) => recoveries.push(r));"
            "window.got = []; floorkit.connect('tests.jsonly', (kw) => got.push(kw.n)); null"
        )
        call("tests.jsonly", None, BROADCAST, n=1)
        page.wait_for_function("got.length === 1")
        old_epoch, old_seq = page.evaluate("[floorkit.epoch, floorkit.seq]")
        assert old_epoch and old_seq >= 1

        redis.stop()
        redis = EmbeddedRedis(port=port)
        redis.start()
        redis_client.reset()
        client = redis_py.Redis.from_url(url)
        deadline = time.monotonic() + 15
        while client.pubsub_numpat() < 1:  # the server's router is back
            assert time.monotonic() < deadline
            time.sleep(0.05)
        client.close()

        call("tests.jsonly", None, BROADCAST, n=2)
        page.wait_for_function("got.length === 2")
        assert page.evaluate("got") == [1, 2]  # not dropped as a duplicate of seq 1
        assert page.evaluate("recoveries") == [{"after": old_seq, "replayed": 0, "lost": True}]
        new_epoch, new_seq = page.evaluate("[floorkit.epoch, floorkit.seq]")
        assert new_epoch != old_epoch and new_seq == 1
        assert page.evaluate("floorkit.state") == "open"  # the socket never closed
    finally:
        server.stop()
        redis.stop()
        redis_client.reset()
