"""floorkit peer: the one place to wire floorkit's ``runwebsocket`` into the benchmark.

Everything floorkit-specific that bench/run_ws.py needs is here. run_ws.py
imports this module with the stdlib only (any interpreter), and
bench/peers/publish.py imports it inside the project's .venv to call
``publish_floorkit``; keep imports of floorkit/redis inside functions.

What the benchmark expects of the server
----------------------------------------
* Started as ``server_command(port)`` with ``server_env(redis_url)`` in
  ``SERVER_CWD``, i.e. by default

      cd /work/main && FLOORKIT_REDIS_URL=redis://127.0.0.1:<p>/0 \
          DJANGO_SETTINGS_MODULE=demo_project.settings \
          .venv/bin/python manage.py runwebsocket 127.0.0.1:<port>

  It must listen on that address (run_ws waits for a TCP accept) and keep
  running in the foreground until SIGTERM (SIGKILL after 5 s). Its RSS and
  CPU are read from /proc for every process in its session, so an
  autoreloader child is counted too (better: no autoreload).
* Websocket at ``ws://127.0.0.1:<port>`` + ``WS_PATH``, JSON text frames.
* A Python handler for the signal ``bench.echo`` returning its kwargs must be
  registered by the settings/apps of ``DJANGO_SETTINGS_MODULE``, so that
      client: {"type":"call","id":N,"signal":"bench.echo","kwargs":{"x":N}}
      server: {"type":"result","id":N,"ok":true,"results":[{"x":N}]}
  (key order and spacing are free; the client parses JSON, ignores frames
  that are not this result, and checks ok/results).
* ``HELLO_FRAMES``: frames each client sends right after the handshake (e.g.
  a subscription to the broadcast signal, if the browser protocol needs one).
  Broadcast clients are counted as ready when the handshake is done and these
  frames are sent; run_ws then waits ``--settle`` seconds before publishing.
* Broadcast: ``publish_floorkit(redis_url, payload)`` below is called from a
  separate process (the project's .venv) once per message. ``payload`` is a
  dict ``{"bench_seq": int, "bench_ts": float}`` (time.time() at publish).
  Every connected client must receive a text frame that contains those two
  keys with their values somewhere, in any envelope (e.g.
  ``{"type":"signal","signal":"bench.broadcast","kwargs":{"bench_seq":3,"bench_ts":...}}``);
  the client finds ``"bench_ts": <float>`` with a regex, so a JSON-in-a-string
  envelope (escaped quotes) works too.

Environment overrides (no code change needed): FLOORKIT_BENCH_PYTHON,
FLOORKIT_BENCH_MANAGE (path to manage.py), FLOORKIT_BENCH_SETTINGS,
FLOORKIT_BENCH_WS_PATH, FLOORKIT_BENCH_HELLO (JSON list of frames).
"""

import json
import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RUNWEBSOCKET_FILE = PROJECT_ROOT / "floorkit" / "management" / "commands" / "runwebsocket.py"

PYTHON = os.environ.get("FLOORKIT_BENCH_PYTHON", str(PROJECT_ROOT / ".venv" / "bin" / "python"))
MANAGE_PY = Path(os.environ.get("FLOORKIT_BENCH_MANAGE", str(PROJECT_ROOT / "manage.py")))
SERVER_CWD = str(MANAGE_PY.parent)
DJANGO_SETTINGS = os.environ.get("FLOORKIT_BENCH_SETTINGS", "floorkit_bench_settings")
WS_PATH = os.environ.get("FLOORKIT_BENCH_WS_PATH", "/ws/floorkit/")  # floorkit's WEBSOCKET_URL
HELLO_FRAMES = json.loads(os.environ.get("FLOORKIT_BENCH_HELLO", "[]"))


def server_command(port, processes=1):
    command = [PYTHON, str(MANAGE_PY), "runwebsocket", f"127.0.0.1:{port}", "--noreload"]
    return command + (["--processes", str(processes)] if processes != 1 else [])


def server_env(redis_url):
    """Extra environment for the server (merged over os.environ)."""
    pythonpath = os.pathsep.join(
        p
        for p in (
            str(PROJECT_ROOT),
            str(PROJECT_ROOT / "bench"),
            SERVER_CWD,
            os.environ.get("PYTHONPATH", ""),
        )
        if p
    )
    return {
        "FLOORKIT_REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": DJANGO_SETTINGS,
        "PYTHONPATH": pythonpath,
        "PYTHONUNBUFFERED": "1",
    }


def ws_url(port):
    return f"ws://127.0.0.1:{port}{WS_PATH}"


def availability():
    """(ok, reason): whether the floorkit peer can run at all."""
    if not RUNWEBSOCKET_FILE.exists():
        return False, (
            f"{RUNWEBSOCKET_FILE.relative_to(PROJECT_ROOT)} does not exist yet; skipping floorkit"
        )
    if not Path(PYTHON).exists():
        return False, f"{PYTHON} not found (project .venv missing?)"
    if not MANAGE_PY.exists():
        return False, f"{MANAGE_PY} not found (set FLOORKIT_BENCH_MANAGE)"
    return True, ""


def publish_ready():
    """False while publish_floorkit below is still the stub."""
    return not getattr(publish_floorkit, "bench_stub", False)


def floorkit_publisher(redis_url, room=None):
    """Set Django up (outside the timed window, as the other peers build their
    clients first) and return ``send(payload)``, which publishes through the
    public API a user calls: ``floorkit.call("bench.broadcast", None, BROADCAST, **payload)``,
    or to ``Group(room)`` with ``room``."""
    import sys

    os.environ.update(server_env(redis_url))
    sys.path[:0] = [str(PROJECT_ROOT), str(PROJECT_ROOT / "bench")]
    import django

    django.setup()
    from floorkit import BROADCAST, Group, call

    to = Group(room) if room else BROADCAST

    def send(payload):
        call("bench.broadcast", None, to, **payload)

    return send


def publish_floorkit(redis_url, payload):
    """One broadcast (convenience; the publisher process uses ``floorkit_publisher``)."""
    floorkit_publisher(redis_url)(payload)
