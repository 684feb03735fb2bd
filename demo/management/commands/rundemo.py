"""
``manage.py rundemo [ADDR:PORT]``: everything the demo needs, in one command.

Starts Redis (the configured one, the local default, or an embedded server),
migrates, creates the demo users, then runs one RQ worker and
``runwebsocket --http`` (the site and its websocket in one process), and
prints the URL. Ctrl-C stops every process it started, Redis included.
"""

import os
import signal
import subprocess
import sys
import time

from django.core.management import call_command
from django.core.management.base import BaseCommand

from floorkit.delivery.embedded_redis import ensure_redis

DEMO_USERS = [("alice", "alice-password"), ("bob", "bob-password")]


class Command(BaseCommand):
    help = "Run the floorkit demo: Redis, a worker and the site."
    requires_system_checks = []  # checked once Redis is up (it may be the embedded one)

    def add_arguments(self, parser):
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")

    def handle(self, *args, **options):
        url, server = ensure_redis()
        os.environ["FLOORKIT_REDIS_URL"] = url  # for the worker and the site
        from django.conf import settings

        settings.FLOORKIT["REDIS_URL"] = url
        for queue in settings.RQ_QUEUES.values():
            queue["URL"] = url
        self.stdout.write(f"Redis: {url}" + (" (embedded)" if server else ""))
        self.check(display_num_errors=False)
        call_command("migrate", verbosity=0, interactive=False)
        from django.contrib.auth import get_user_model

        User = get_user_model()
        for username, password in DEMO_USERS:
            user, _ = User.objects.get_or_create(username=username)
            user.set_password(password)
            user.save()
        manage = [sys.executable, sys.argv[0]]
        children = [
            subprocess.Popen([*manage, "rqworker", "default", "slow"], start_new_session=True),
            subprocess.Popen(
                [*manage, "runwebsocket", options["addrport"], "--http"], start_new_session=True
            ),
        ]
        host = options["addrport"]
        self.stdout.write(self.style.SUCCESS(f"\nfloorkit demo: http://{host}/"))
        for username, password in DEMO_USERS:
            self.stdout.write(f"  log in as {username} / {password}")
        self.stdout.write("Ctrl-C stops everything.\n")
        stopping = []

        def stop(signum, frame):
            stopping.append(signum)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            while not stopping and all(child.poll() is None for child in children):
                time.sleep(0.2)
        finally:
            for child in children:
                if child.poll() is None:
                    os.killpg(child.pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            for child in children:
                try:
                    child.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    os.killpg(child.pid, signal.SIGKILL)
                    child.wait()
            if server:
                server.stop()
        self.stdout.write("demo stopped")
