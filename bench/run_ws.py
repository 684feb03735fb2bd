#!/usr/bin/env python3
"""Websocket server benchmark: floorkit vs Channels vs python-socketio vs bare gevent-websocket
vs Socket.IO on Node vs bare ws on Node.

Stdlib only: runs under any Python 3.11 (``python bench/run_ws.py``). Each
peer server runs from its own virtualenv under bench/.venvs/ (built by
bench/setup_peers.sh, called automatically unless --no-setup), floorkit from
the project's .venv, the Node peers from bench/peers/node/node_modules. The
load driver runs in processes separate from the server:
bench/driver_node/driver.mjs (Node + ws, --driver node, the default
once bench/driver_node/node_modules is installed) or bench/driver.py
(asyncio + websockets in bench/.venvs/driver, --driver python); both speak
the same line protocol and report the same fields. A private redis-server is
started on a free port for the run.

Per peer and run (peer order rotates between runs), on one fresh server:
  warm-up  a few calls (also checks the call protocol)
  idle     open N idle connections: KiB of server RSS per connection
  calls    1 and 50 concurrent clients in a closed call/result loop
  bcast    100 and 1,000 clients; a separate publisher process sends M
           messages through the peer's Redis path: deliveries/s and
           publish-to-receipt latency
  group    100 and 1,000 members of one room (Socket.IO rooms, Channels groups,
           floorkit groups joined with the browser's floorkit.join, the bare
           server's rooms) while as many connections sit in another room; the
           publisher sends to the first: deliveries/s, latency, server CPU
Metrics are medians over --runs, reported as ratios to Channels.

--curve runs the same scenarios at growing sizes instead (CURVE below: idle
RSS at 2,000 / 10,000 / 20,000 connections, calls with 1 / 50 / 500 clients,
broadcast to 100 / 1,000 / 5,000 clients; one run) and writes
ws-curve-<stamp>.json; bench/plot.py draws it. See bench/README.md.
"""

import argparse
import atexit
import json
import math
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VENVS = BENCH / ".venvs"
PEERS_DIR = BENCH / "peers"
RESULTS = BENCH / "results"
DRIVER_PY = VENVS / "driver" / "bin" / "python"
DRIVER_NODE_DIR = BENCH / "driver_node"
DRIVERS = ("python", "node")
NODE_FLAGS = ("--no-opt", "--max-semi-space-size=32")
CLK_TCK = os.sysconf("SC_CLK_TCK")

sys.path.insert(0, str(PEERS_DIR))
import floorkit_adapter  # noqa: E402

ALL_PEERS = ["floorkit", "channels", "socketio", "bare", "node_socketio", "node_ws"]
# peers that run on Node from bench/peers/node/node_modules (setup_peers.sh node_peers)
NODE_PEERS = ("node_socketio", "node_ws")
NODE_PEERS_DIR = PEERS_DIR / "node"
# opt-in peers: the same server with more processes (runwebsocket --processes 2)
EXTRA_PEERS = ["floorkit2"]
BASELINE = "channels"

# --curve: how cost grows with work (broadcasts keep 100,000 deliveries per point:
# fewer leave a fast server's run so short that the ranking is noise)
CURVE = {
    "idle": (2000, 10000, 20000),
    "calls": (1, 50, 500),
    "bcast": ((100, 1000), (1000, 100), (5000, 20)),
}
# --curve --quick: the same shape, small enough for a smoke test
CURVE_QUICK = {
    "idle": (300, 1000, 3000),
    "calls": (1, 10, 50),
    "bcast": ((100, 30), (500, 6), (1000, 3)),
}
# file descriptors a process keeps for itself beyond its websockets (listener,
# Redis, logs, epoll, pipes, imports): an idle scenario opens at most the
# server's open-file limit minus what it has open minus this
FD_RESERVE = 64
# connections one driver process opens at a time, at most
MAX_CONNECT_CONCURRENCY = 64


# --------------------------------------------------------------------------- processes


class Procs:
    """Every child we start lives in its own session/process group; all are
    killed (TERM, then KILL) on exit, Ctrl-C or SIGTERM."""

    def __init__(self):
        self.live = []

    def spawn(self, argv, *, env=None, cwd=None, stdin=None, stdout=None, stderr=None, text=True):
        full_env = dict(os.environ)
        full_env.update(env or {})
        p = subprocess.Popen(
            [str(a) for a in argv],
            env=full_env,
            cwd=cwd,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            text=text,
            start_new_session=True,
        )
        self.live.append(p)
        return p

    def kill(self, p, grace=5.0):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        # the leader may be gone while others in its session are not
        for pid in session_pids(p.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            p.wait(2)
        except subprocess.TimeoutExpired:
            pass
        for stream in (p.stdin, p.stdout, p.stderr):
            if stream:
                try:
                    stream.close()
                except OSError:
                    pass
        if p in self.live:
            self.live.remove(p)

    def kill_all(self):
        for p in list(reversed(self.live)):
            self.kill(p, grace=2.0)


PROCS = Procs()


def _on_signal(signum, _frame):
    PROCS.kill_all()
    sys.exit(128 + signum)


def proc_stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    return data[data.rindex(")") + 2 :].split()


def session_pids(sid):
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if int(proc_stat_fields(name)[3]) == sid:
                out.append(int(name))
        except (OSError, ValueError, IndexError):
            continue
    return out


def tree_rss_kib(sid):
    total = 0
    for pid in session_pids(sid):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def tree_cpu_s(sid):
    total = 0
    for pid in session_pids(sid):
        try:
            fields = proc_stat_fields(pid)
            total += int(fields[11]) + int(fields[12])
        except (OSError, ValueError, IndexError):
            pass
    return total / CLK_TCK


def machine_busy_s():
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:]
    vals = [int(x) for x in parts]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)
    return (sum(vals[:8]) - idle) / CLK_TCK


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_accept(port, proc, timeout, log_path):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {last_lines(log_path)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"server did not accept on {port} within {timeout}s: {last_lines(log_path)}")


def last_lines(path, n=2):
    """The last n non-empty lines of a log, on one line (for error summaries)."""
    lines = [x.strip() for x in tail(path, 4000).splitlines() if x.strip()]
    return " | ".join(lines[-n:])


def tail(path, n=600):
    try:
        return Path(path).read_text(errors="replace")[-n:].strip()
    except OSError:
        return ""


def wait_quiet(sid, max_s=4.0, step=0.25):
    """Wait until the server uses < 5 % of a core (leftover closes, GC...)."""
    end = time.time() + max_s
    last = tree_cpu_s(sid)
    while time.time() < end:
        time.sleep(step)
        now = tree_cpu_s(sid)
        if now - last < 0.05 * step:
            return
        last = now


def raise_nofile():
    """Raise this process's soft open-file limit to its hard limit (the
    servers, drivers and publishers started from here inherit it); returns
    (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def proc_nofile(pid):
    """(soft, hard) open-file limit of a process from /proc/PID/limits, or None."""
    try:
        with open(f"/proc/{pid}/limits") as f:
            for line in f:
                if line.startswith("Max open files"):
                    soft, hard = line.split()[3:5]
                    return (
                        int(soft) if soft.isdigit() else math.inf,
                        int(hard) if hard.isdigit() else math.inf,
                    )
    except OSError:
        pass
    return None


def fd_headroom(sid):
    """How many more sockets the server's session can open: the smallest
    (soft limit - open descriptors) over its processes, with what bounds it.
    A multi-process server spreads connections, so this is conservative there."""
    best = None
    for pid in session_pids(sid):
        lim = proc_nofile(pid)
        try:
            used = len(os.listdir(f"/proc/{pid}/fd"))
        except OSError:
            continue
        if lim is None:
            continue
        room = lim[0] - used
        if best is None or room < best["room"]:
            best = {"room": room, "pid": pid, "soft": lim[0], "hard": lim[1], "open": used}
    return best


def sysctl(name):
    """An integer from /proc/sys (``net/core/somaxconn``), or None."""
    try:
        return int(Path("/proc/sys", name).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def ephemeral_ports():
    """Size of the local port range: connections to one server address, at most."""
    try:
        lo, hi = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(hi) - int(lo) + 1
    except (OSError, ValueError):
        return None


def listen_overflows():
    """The machine's TcpExt ListenOverflows counter (connections dropped because
    an accept queue was full, any listener), or None."""
    try:
        with open("/proc/net/netstat") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for keys, vals in zip(lines[::2], lines[1::2], strict=False):
        if keys.startswith("TcpExt:") and vals.startswith("TcpExt:"):
            table = dict(zip(keys.split()[1:], vals.split()[1:], strict=False))
            if "ListenOverflows" in table:
                return int(table["ListenOverflows"])
    return None


def listen_backlog(port):
    """The accept-queue length of the server's listening socket(s) on ``port``
    (``ss``'s Send-Q for a listener: min(backlog, net.core.somaxconn)), the
    smallest if several (SO_REUSEPORT); None when ``ss`` is missing or shows none."""
    ss = shutil.which("ss")
    if not ss:
        return None
    try:
        out = subprocess.run(
            [ss, "-ltnH", f"sport = :{port}"], capture_output=True, text=True, timeout=5
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    vals = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "LISTEN" and parts[2].isdigit():
            vals.append(int(parts[2]))
    return min(vals) if vals else None


# --------------------------------------------------------------------------- redis


def start_redis(logdir):
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    log = open(logdir / "redis.log", "w")
    p = PROCS.spawn(
        [
            "redis-server",
            "--port",
            port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            workdir,
            "--maxclients",
            "10000",
            "--loglevel",
            "warning",
            "--client-output-buffer-limit",
            "pubsub 0 0 0",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    end = time.time() + 10
    while time.time() < end:
        if p.poll() is not None:
            raise RuntimeError(f"redis-server exited: {tail(logdir / 'redis.log')}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return p, f"redis://127.0.0.1:{port}/0"
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError("redis-server did not answer PING")


# --------------------------------------------------------------------------- peers


def venv_py(name):
    return VENVS / name / "bin" / "python"


def node_peer_versions():
    """The pinned versions of the Node peers' packages (their package-lock.json)."""
    try:
        lock = json.loads((NODE_PEERS_DIR / "package-lock.json").read_text())["packages"]
    except (OSError, KeyError, ValueError):
        return {}
    names = ("socket.io", "@socket.io/redis-adapter", "@socket.io/redis-emitter", "redis", "ws")
    return {n: lock.get(f"node_modules/{n}", {}).get("version") for n in names}


def node_peers_installed():
    return (NODE_PEERS_DIR / "node_modules" / "socket.io").is_dir()


def peer_specs():
    """name -> how to start it, reach it and publish to it."""
    nv = node_peer_versions()
    ch = VENVS / "channels"
    ch_dir = PEERS_DIR / "channels_peer"
    specs = {
        "channels": {
            "label": "Channels 4 + daphne + channels_redis pubsub",
            "venv": "channels",
            "server": lambda port, url: (
                [
                    ch / "bin" / "daphne",
                    "-v",
                    "0",
                    "-b",
                    "127.0.0.1",
                    "-p",
                    port,
                    "bench_channels_asgi:application",
                ],
                {
                    "BENCH_REDIS_URL": url,
                    "DJANGO_SETTINGS_MODULE": "bench_channels_settings",
                    "PYTHONPATH": str(ch_dir),
                },
                str(ch_dir),
            ),
            "url": lambda port: f"ws://127.0.0.1:{port}/ws",
            "proto": "plain",
            "join": "channels",
            "rooms": ("ga", "gb"),
            "hello": [],
            "publisher": venv_py("channels"),
        },
        "socketio": {
            "label": "python-socketio (gevent, gevent-websocket, RedisManager)",
            "venv": "socketio",
            "server": lambda port, url: (
                [
                    venv_py("socketio"),
                    PEERS_DIR / "socketio_server.py",
                    "--port",
                    port,
                    "--redis-url",
                    url,
                ],
                {},
                str(PEERS_DIR),
            ),
            "url": lambda port: f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket",
            "proto": "socketio",
            "join": "socketio",
            "rooms": ("ga", "gb"),
            "hello": [],
            "publisher": venv_py("socketio"),
        },
        "bare": {
            "label": "bare gevent-websocket + one Redis subscriber greenlet",
            "venv": "bare",
            "server": lambda port, url: (
                [venv_py("bare"), PEERS_DIR / "bare_server.py", "--port", port, "--redis-url", url],
                {},
                str(PEERS_DIR),
            ),
            "url": lambda port: f"ws://127.0.0.1:{port}/",
            "proto": "plain",
            "join": "plain",
            "rooms": ("ga", "gb"),
            "hello": [],
            "publisher": venv_py("bare"),
        },
        "floorkit": {
            "label": "floorkit runwebsocket",
            "venv": None,
            "server": lambda port, url: (
                floorkit_adapter.server_command(port),
                floorkit_adapter.server_env(url),
                floorkit_adapter.SERVER_CWD,
            ),
            "url": floorkit_adapter.ws_url,
            "proto": "plain",
            "join": "floorkit",  # the browser API: a floorkit.join call (presence included)
            "rooms": ("bench.ga", "bench.gb"),
            "hello": floorkit_adapter.HELLO_FRAMES,
            "publisher": Path(floorkit_adapter.PYTHON),
            "publish_ready": floorkit_adapter.publish_ready,
        },
    }
    # Node peers: node with default flags (a server runs long enough for the JIT
    # to pay); `node` itself leads the session, so /proc accounting covers it
    node_publish = [node_binary(), NODE_PEERS_DIR / "publish.mjs"]
    specs["node_socketio"] = {
        **specs["socketio"],
        "label": (
            f"Socket.IO {nv.get('socket.io')} on Node + @socket.io/redis-adapter "
            f"{nv.get('@socket.io/redis-adapter')} (redis {nv.get('redis')})"
        ),
        "venv": None,
        "server": lambda port, url: (
            [
                node_binary(),
                NODE_PEERS_DIR / "socketio_server.mjs",
                "--port",
                port,
                "--redis-url",
                url,
            ],
            {},
            str(NODE_PEERS_DIR),
        ),
        "publisher": node_binary(),
        "publish_cmd": node_publish,
    }
    specs["node_ws"] = {
        **specs["bare"],
        "label": f"ws {nv.get('ws')} on Node + one Redis subscriber (redis {nv.get('redis')})",
        "venv": None,
        "server": lambda port, url: (
            [node_binary(), NODE_PEERS_DIR / "ws_server.mjs", "--port", port, "--redis-url", url],
            {},
            str(NODE_PEERS_DIR),
        ),
        "publisher": node_binary(),
        "publish_cmd": node_publish,
    }
    specs["floorkit2"] = {
        **specs["floorkit"],
        "label": "floorkit runwebsocket --processes 2",
        "publishes_as": "floorkit",
        "server": lambda port, url: (
            floorkit_adapter.server_command(port, processes=2),
            floorkit_adapter.server_env(url),
            floorkit_adapter.SERVER_CWD,
        ),
    }
    return specs


# --------------------------------------------------------------------------- driver helpers


class DriverError(RuntimeError):
    pass


def node_binary():
    """The node executable on PATH, or None."""
    return shutil.which("node")


def node_driver_installed():
    return node_binary() is not None and (DRIVER_NODE_DIR / "node_modules" / "ws").is_dir()


def driver_command(driver):
    """argv prefix of one load-driver process (``python`` or ``node``)."""
    if driver == "node":
        # no optimizing compiler and a larger young generation: a driver lives
        # for seconds, in which TurboFan's compile threads cost more than they save
        return [node_binary(), *NODE_FLAGS, DRIVER_NODE_DIR / "driver.mjs"]
    return [DRIVER_PY, BENCH / "driver.py"]


def driver_versions(driver):
    """What the chosen driver runs on, for the output JSON."""
    if driver == "node":
        node = subprocess.run([node_binary(), "--version"], capture_output=True, text=True)
        try:  # the installed one
            pkg = DRIVER_NODE_DIR / "node_modules" / "ws" / "package.json"
            ws = json.loads(pkg.read_text())["version"]
        except (OSError, KeyError, ValueError):
            ws = None
        return {"node": node.stdout.strip(), "ws": ws, "node_flags": list(NODE_FLAGS)}
    freeze = VENVS / "driver" / ".bench-freeze.txt"
    pins = freeze.read_text().split() if freeze.exists() else []
    return {"pip_freeze": [x for x in pins if x.split("==")[0] in ("websockets", "uvloop")]}


def start_concurrency(backlog, procs):
    """Connections each of ``procs`` driver processes opens at a time: together
    at most the server's accept queue (``backlog``), each at most
    MAX_CONNECT_CONCURRENCY."""
    if not backlog:
        return MAX_CONNECT_CONCURRENCY
    return max(1, min(MAX_CONNECT_CONCURRENCY, backlog // procs))


def start_drivers(
    spec, port, mode, total_clients, procs, extra, logdir, tag, *, driver, backlog=None
):
    """
    Split total_clients over `procs` driver processes (``driver``: python or
    node), more when one process's share would not fit in its open-file limit
    (inherited from this process). Together they open at most ``backlog``
    connections at a time (the server's accept queue, so that a burst of SYNs
    is never dropped and retried a second later), and at most
    MAX_CONNECT_CONCURRENCY per process.
    """
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    per_proc = max(1, soft - FD_RESERVE)
    procs = max(procs, math.ceil(total_clients / per_proc))
    procs = max(1, min(procs, total_clients))
    concurrency = start_concurrency(backlog, procs)
    shares = [
        total_clients // procs + (1 if i < total_clients % procs else 0) for i in range(procs)
    ]
    drivers = []
    for i, n in enumerate(shares):
        err = open(logdir / f"{tag}-driver{i}.err", "w")
        argv = [
            *driver_command(driver),
            mode,
            "--url",
            spec["url"](port),
            "--proto",
            spec["proto"],
            "--clients",
            n,
            "--connect-concurrency",
            concurrency,
            *extra,
        ]
        if spec["hello"]:
            argv += ["--hello", json.dumps(spec["hello"])]
        drivers.append(PROCS.spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err))
    return drivers


def read_tagged(p, tag, timeout, errpath=None):
    """Read lines from a driver until one starts with `tag` (bounded in time)."""
    import selectors

    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    end = time.time() + timeout
    try:
        while True:
            left = end - time.time()
            if left <= 0:
                raise DriverError(f"driver gave no {tag} within {timeout:.0f}s")
            if not sel.select(left):
                continue
            line = p.stdout.readline()
            if not line:
                raise DriverError(
                    f"driver exited ({p.poll()}) before {tag}: {last_lines(errpath, 3) if errpath else ''}"
                )
            if line.startswith(tag + " "):
                return json.loads(line[len(tag) + 1 :])
    finally:
        sel.close()


def send(p, line):
    p.stdin.write(line + "\n")
    p.stdin.flush()


def pct(sorted_vals, q):
    if not sorted_vals:
        return None
    k = max(0, math.ceil(q * len(sorted_vals)) - 1)
    return sorted_vals[k]


def ready_timeout(connections):
    """Seconds to wait for READY: generous for the slowest peer opening many
    connections (Channels opens a few hundred a second)."""
    return 120 + connections / 50


def wait_ready(drivers, timeout, logdir, tag):
    readies = []
    for i, d in enumerate(drivers):
        readies.append(read_tagged(d, "READY", timeout, logdir / f"{tag}-driver{i}.err"))
    connected = sum(r["connected"] for r in readies)
    failed = sum(r["failed"] for r in readies)
    errors = sorted({e for r in readies for e in r["errors"]})[:5]
    return connected, failed, errors


# --------------------------------------------------------------------------- scenarios


def sc_calls(ctx, clients, duration, warmup):
    spec, port, sid, cfg = ctx["spec"], ctx["port"], ctx["sid"], ctx["cfg"]
    tag = f"{ctx['tag']}-calls{clients}"
    procs = 1 if clients == 1 else cfg.client_procs
    drivers = start_drivers(
        spec,
        port,
        "calls",
        clients,
        procs,
        ["--warmup", warmup, "--duration", duration],
        ctx["logdir"],
        tag,
        driver=cfg.driver,
        backlog=ctx.get("backlog"),
    )
    try:
        connected, failed, errors = wait_ready(drivers, ready_timeout(clients), ctx["logdir"], tag)
        if failed:
            raise DriverError(f"{failed} of {clients} connections failed: {errors}")
        start = time.time() + 0.3
        for d in drivers:
            send(d, "GO " + json.dumps({"start": start}))
        w0, w1 = start + warmup, start + warmup + duration
        time.sleep(max(0.0, w0 - time.time()))
        s0, m0 = tree_cpu_s(sid), machine_busy_s()
        time.sleep(max(0.0, w1 - time.time()))
        s1, m1 = tree_cpu_s(sid), machine_busy_s()
        results = [
            read_tagged(d, "RESULT", duration + warmup + 60, ctx["logdir"] / f"{tag}-driver{i}.err")
            for i, d in enumerate(drivers)
        ]
    finally:
        for d in drivers:
            PROCS.kill(d, grace=3)
    errs = sorted({e for r in results for e in r["errors"]})
    lat = sorted(x for r in results for x in r["lat_us"])
    n = len(lat)
    if errs or n == 0:
        raise DriverError(f"call errors: {errs[:3] or 'no call completed'}")
    client_cpu = [r["client_cpu_s"] / duration * 100 for r in results]
    server_cpu = (s1 - s0) / duration * 100
    return {
        "server_us_per_op": (s1 - s0) / n * 1e6,
        "client_us_per_op": sum(r["client_cpu_s"] for r in results) / n * 1e6,
        "clients": clients,
        "client_procs": len(drivers),
        "calls": n,
        "calls_per_s": n / duration,
        "p50_ms": pct(lat, 0.50) / 1000,
        "p99_ms": pct(lat, 0.99) / 1000,
        "server_cpu_pct": server_cpu,
        "client_cpu_pct_max": max(client_cpu),
        "client_cpu_pct_total": sum(client_cpu),
        "machine_cpu_pct": (m1 - m0) / duration * 100,
    }


def sc_bcast(ctx, clients, messages, group=False):
    """
    Broadcast ``messages`` to ``clients`` connections; with ``group``, to the
    ``clients`` members of one room while as many connections sit in another
    room (a group send must pick its members).
    """
    spec, port, sid, cfg = ctx["spec"], ctx["port"], ctx["sid"], ctx["cfg"]
    tag = f"{ctx['tag']}-{'group' if group else 'bcast'}{clients}"
    if spec.get("publish_ready") and not spec["publish_ready"]():
        return {"skipped": "publish_floorkit() in bench/peers/floorkit_adapter.py is still a stub"}
    extra, room_args, total = ["--expect", messages], [], clients
    if group:
        extra += ["--rooms", ",".join(spec["rooms"]), "--join-style", spec["join"]]
        room_args, total = ["--room", spec["rooms"][0]], 2 * clients
    drivers = start_drivers(
        spec,
        port,
        "bcast",
        total,
        cfg.client_procs,
        extra,
        ctx["logdir"],
        tag,
        driver=cfg.driver,
        backlog=ctx.get("backlog"),
    )
    pub = None
    try:
        connected, failed, errors = wait_ready(drivers, ready_timeout(total), ctx["logdir"], tag)
        if failed:
            raise DriverError(f"{failed} of {total} connections failed: {errors}")
        time.sleep(cfg.settle)
        wait_quiet(sid, max_s=20.0 if group else 2.0)  # joins' presence events drain first
        pub_time = messages / cfg.bcast_rate if cfg.bcast_rate > 0 else 0.0
        deadline = time.time() + pub_time + cfg.bcast_timeout
        s0, m0, g0 = tree_cpu_s(sid), machine_busy_s(), time.time()
        for d in drivers:
            send(d, "GO " + json.dumps({"deadline": deadline}))
        publog = ctx["logdir"] / f"{tag}-publish.err"
        with open(publog, "w") as err:
            pub = PROCS.spawn(
                [
                    *spec.get("publish_cmd", (spec["publisher"], PEERS_DIR / "publish.py")),
                    "--peer",
                    spec.get("publishes_as", ctx["peer"]),
                    "--redis-url",
                    ctx["redis_url"],
                    "--count",
                    messages,
                    "--rate",
                    cfg.bcast_rate,
                    *room_args,
                ],
                stdout=subprocess.PIPE,
                stderr=err,
            )
            try:
                out, _ = pub.communicate(timeout=pub_time + 60)
            except subprocess.TimeoutExpired as exc:
                raise DriverError("publisher timed out") from exc
        if pub.returncode == 3:
            return {"skipped": last_lines(publog, 1)}
        if pub.returncode != 0:
            raise DriverError(f"publisher failed ({pub.returncode}): {last_lines(publog, 3)}")
        pubres = json.loads(out.strip().splitlines()[-1])
        results = [
            read_tagged(
                d,
                "RESULT",
                cfg.bcast_timeout + pub_time + 60,
                ctx["logdir"] / f"{tag}-driver{i}.err",
            )
            for i, d in enumerate(drivers)
        ]
        s1, m1, g1 = tree_cpu_s(sid), machine_busy_s(), time.time()
    finally:
        if pub is not None:
            PROCS.kill(pub, grace=1)
        for d in drivers:
            PROCS.kill(d, grace=3)
    lat = sorted(x for r in results for x in r["lat_us"])
    received = len(lat)
    members = sum(r.get("members", r["connected"]) for r in results) if group else connected
    expected = messages * members
    last = max((r["last_recv"] for r in results if r["received"]), default=0.0)
    span = last - pubres["t0"] if received else 0.0
    # CPU is sampled just before GO and after the drivers report; the server is
    # quiet outside the delivery span, so divide by the span, not the wall time.
    busy = span if span > 0 else g1 - g0
    srv_cpu_s = s1 - s0
    cli_cpu_s = [r["client_cpu_s"] for r in results]
    client_cpu = [c / busy * 100 for c in cli_cpu_s]
    return {
        "clients": members,
        "connections": connected,
        "leaked": sum(r.get("leaked", 0) for r in results),
        "other_frames": sum(r.get("other_frames", 0) for r in results),
        "client_procs": len(drivers),
        "messages": messages,
        "rate": cfg.bcast_rate,
        "expected": expected,
        "received": received,
        "delivered_frac": received / expected if expected else 0.0,
        "deliveries_per_s": received / span if span > 0 else 0.0,
        "publish_s": pubres["t1"] - pubres["t0"],
        "span_s": span,
        "p50_ms": pct(lat, 0.50) / 1000 if lat else None,
        "p99_ms": pct(lat, 0.99) / 1000 if lat else None,
        "max_ms": lat[-1] / 1000 if lat else None,
        "server_cpu_pct": srv_cpu_s / busy * 100,
        "client_cpu_pct_max": max(client_cpu),
        "client_cpu_pct_total": sum(client_cpu),
        # the GO..RESULT window also holds the publisher's start-up: no machine figure
        "machine_cpu_pct": None,
        "machine_cpu_pct_window": (m1 - m0) / (g1 - g0) * 100,
        "server_us_per_op": srv_cpu_s / received * 1e6 if received else None,
        "client_us_per_op": sum(cli_cpu_s) / received * 1e6 if received else None,
        "wall_s": g1 - g0,
        "unparsed": sum(r["unparsed"] for r in results),
        "clients_timed_out": sum(r["clients_timed_out"] for r in results),
    }


def idle_cap(sid, clients):
    """How many of ``clients`` idle connections the server can hold: at most
    its open-file headroom less FD_RESERVE and the local port range. Returns
    (count, None) or (smaller count, what capped it)."""
    limits = []
    room = fd_headroom(sid)
    if room is not None:
        limits.append(
            (
                room["room"] - FD_RESERVE,
                f"the server's open-file limit (RLIMIT_NOFILE soft {room['soft']}, hard "
                f"{room['hard']}; {room['open']} descriptors open before, {FD_RESERVE} kept free)",
            )
        )
    ports = ephemeral_ports()
    if ports is not None:
        limits.append((ports, f"the local port range ({ports} ports)"))
    n, why = clients, None
    for limit, reason in limits:
        if limit < n:
            n, why = max(1, limit), reason
    return n, why


def sc_idle(ctx, clients):
    spec, port, sid, cfg = ctx["spec"], ctx["port"], ctx["sid"], ctx["cfg"]
    tag = f"{ctx['tag']}-idle{clients}"
    wait_quiet(sid)
    target, capped_by = idle_cap(sid, clients)
    before = tree_rss_kib(sid)
    drivers = start_drivers(
        spec,
        port,
        "idle",
        target,
        cfg.client_procs,
        [],
        ctx["logdir"],
        tag,
        driver=cfg.driver,
        backlog=ctx.get("backlog"),
    )
    t_open, cpu_open, drops_open = time.time(), tree_cpu_s(sid), listen_overflows()
    try:
        connected, failed, errors = wait_ready(drivers, ready_timeout(target), ctx["logdir"], tag)
        open_s = time.time() - t_open
        open_cpu_pct = (tree_cpu_s(sid) - cpu_open) / open_s * 100 if open_s > 0 else None
        drops = listen_overflows()
        drops = drops - drops_open if drops is not None and drops_open is not None else None
        if connected == 0:
            raise DriverError(f"no connection succeeded: {errors}")
        time.sleep(cfg.settle)
        wait_quiet(sid)
        after = tree_rss_kib(sid)
        for d in drivers:
            send(d, "CLOSE")
        results = [
            read_tagged(d, "RESULT", 60, ctx["logdir"] / f"{tag}-driver{i}.err")
            for i, d in enumerate(drivers)
        ]
    finally:
        for d in drivers:
            PROCS.kill(d, grace=3)
    alive = sum(r["alive_at_close"] for r in results)
    time.sleep(0.5)
    return {
        "clients": target,
        "asked": clients,
        "capped_by": capped_by,
        "client_procs": len(drivers),
        "open_s": open_s,
        # server CPU while the connections opened (% of a core): is opening server-bound?
        "open_server_cpu_pct": open_cpu_pct,
        # accept-queue overflows on the machine (any listener) while they opened
        "listen_overflows": drops,
        "connect_concurrency": start_concurrency(ctx.get("backlog"), len(drivers)),
        "connected": connected,
        "failed": failed,
        "alive_at_measure": alive,
        "rss_before_kib": before,
        "rss_after_kib": after,
        # per connection still open when RSS was read: a server that drops
        # connections must not look lighter for it (and is listed as failing)
        "kib_per_conn": (after - before) / max(1, alive),
        "errors": errors,
    }


# --------------------------------------------------------------------------- one peer, one run


def idle_name(cfg, clients):
    """Scenario name of an idle size: ``idle`` when there is one, ``idle<N>`` when several."""
    return "idle" if len(cfg.idle_clients) == 1 else f"idle{clients}"


def run_plan(cfg):
    """The scenarios of one run as segments, each on a fresh server: the first
    holds the first idle size, the calls, broadcasts and group sends; each
    further idle size gets a server of its own, so that memory freed by a
    smaller size's connections (kept by the allocator) is not reused by the
    next size's and counted as free. A scenario is (name, fn(ctx))."""
    idle = list(cfg.idle_clients) if "idle" in cfg.scenarios else []
    first = []
    if idle:
        n = idle.pop(0)
        first.append((idle_name(cfg, n), lambda ctx, n=n: sc_idle(ctx, n)))
    for c in cfg.call_clients if "calls" in cfg.scenarios else ():
        first.append((f"calls{c}", lambda ctx, c=c: sc_calls(ctx, c, cfg.duration, cfg.warmup)))
    for c, m in cfg.bcast if "bcast" in cfg.scenarios else ():
        first.append((f"bcast{c}", lambda ctx, c=c, m=m: sc_bcast(ctx, c, m)))
    for c, m in cfg.groups if "group" in cfg.scenarios else ():
        first.append((f"group{c}", lambda ctx, c=c, m=m: sc_bcast(ctx, c, m, group=True)))
    return [first] + [[(idle_name(cfg, n), lambda ctx, n=n: sc_idle(ctx, n))] for n in idle]


def run_peer(peer, spec, cfg, redis_url, logdir, run_idx):
    """One run of one peer: every segment of run_plan() on its own server,
    after a warm-up. A warm-up that fails on the first server fails the run
    (``error``); on a later one, that segment's scenarios."""
    out = {"peer": peer, "run": run_idx, "scenarios": {}}
    for k, segment in enumerate(run_plan(cfg)):
        tag = f"run{run_idx}-{peer}" + (f"-s{k + 1}" if k else "")
        info = run_segment(peer, spec, cfg, redis_url, logdir, tag, segment, out["scenarios"])
        if k == 0:
            if "error" in info:
                out["error"] = info.pop("error")
            out.update(info)
            if "error" in out:
                return out
        else:
            out.setdefault("more_servers", []).append(info)
            if "error" in info:
                for name, _fn in segment:
                    out["scenarios"].setdefault(name, {"error": info["error"]})
    return out


def run_segment(peer, spec, cfg, redis_url, logdir, tag, segment, scenarios):
    """Start a fresh server, warm it up, run ``segment``'s scenarios into
    ``scenarios`` and kill it; returns what is known of the server."""
    port = free_port()
    argv, env, cwd = spec["server"](port, redis_url)
    log_path = logdir / f"{tag}-server.log"
    info = {}
    with open(log_path, "w") as log:
        server = PROCS.spawn(argv, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    t_start = time.time()
    try:
        wait_accept(port, server, cfg.start_timeout, log_path)
        info["startup_s"] = time.time() - t_start
        info["listen_backlog"] = listen_backlog(port)
        ctx = {
            "backlog": info["listen_backlog"],
            "spec": spec,
            "port": port,
            "sid": server.pid,
            "cfg": cfg,
            "peer": peer,
            "tag": tag,
            "logdir": logdir,
            "redis_url": redis_url,
        }
        try:  # warm-up, also a protocol check: a peer failing here is skipped for this run
            sc_calls(dict(ctx, tag=tag + "-warmup"), 2, 0.3 if cfg.quick else 0.5, 0.2)
        except Exception as exc:  # noqa: BLE001
            info["error"] = f"warm-up failed: {exc}"
            return info
        for name, fn in segment:
            if server.poll() is not None:
                scenarios[name] = {"error": f"server died: {last_lines(log_path, 3)}"}
                continue
            t0 = time.time()
            try:
                res = fn(ctx)
            except Exception as exc:  # noqa: BLE001 - recorded, run goes on
                res = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            res["elapsed_s"] = time.time() - t0
            scenarios[name] = res
            print(f"    {peer:9s} {name:10s} {brief(res)}", flush=True)
            if server.poll() is None:
                wait_quiet(server.pid)
    except Exception as exc:  # noqa: BLE001
        info["error"] = f"{type(exc).__name__}: {exc}"[:800]
    finally:
        PROCS.kill(server)
        leftovers = session_pids(server.pid)
        if leftovers:
            info["leftover_pids"] = leftovers
    return info


def brief(res):
    if "error" in res:
        return "ERROR " + res["error"][:200]
    if "skipped" in res:
        return "skipped: " + res["skipped"][:200]
    if "calls_per_s" in res:
        return (
            f"{res['calls_per_s']:8.0f} calls/s  p99 {res['p99_ms']:7.2f} ms  "
            f"cpu srv {res['server_cpu_pct']:3.0f}% cli {res['client_cpu_pct_max']:3.0f}%"
        )
    if "deliveries_per_s" in res:
        p99 = f"{res['p99_ms']:7.1f}" if res["p99_ms"] is not None else "    n/a"
        return (
            f"{res['deliveries_per_s']:8.0f} deliveries/s  p99 {p99} ms  "
            f"got {res['delivered_frac'] * 100:5.1f}%  "
            f"cpu srv {res['server_cpu_pct']:3.0f}% cli {res['client_cpu_pct_max']:3.0f}%"
        )
    if "kib_per_conn" in res:
        capped = f", capped from {res['asked']}" if res.get("capped_by") else ""
        return (
            f"{res['kib_per_conn']:8.1f} KiB/conn  ({res['connected']} conns{capped}, "
            f"{res['failed']} failed, {res['alive_at_measure']} alive, "
            f"opened in {res['open_s']:.1f} s, server at {res['open_server_cpu_pct']:.0f} %)"
        )
    return str(res)[:200]


# --------------------------------------------------------------------------- summary


def metric_defs(cfg):
    """(key, label, scenario, field, better, fmt) of every table row, for the
    scenarios that run. Beside each throughput row: its p99 and the server's
    CPU per call (multi-client calls) or per delivery (broadcast, group)."""
    defs = []
    run = cfg.scenarios
    for c in cfg.call_clients if "calls" in run else ():
        who = f"{c:,} client{'s' if c > 1 else ''}"
        sc = f"calls{c}"
        defs.append((f"{sc}_rps", f"calls/s, {who}", sc, "calls_per_s", "higher", "{:.0f}"))
        defs.append((f"{sc}_p99", f"call p99 ms, {who}", sc, "p99_ms", "lower", "{:.2f}"))
        if c > 1:  # one client in lock-step: its CPU per call is mostly wake-ups
            defs.append(
                (
                    f"{sc}_cpu",
                    f"server CPU µs per call, {who}",
                    sc,
                    "server_us_per_op",
                    "lower",
                    "{:.0f}",
                )
            )
    for c, _m in cfg.bcast if "bcast" in run else ():
        sc = f"bcast{c}"
        for key, label, field, better, fmt in (
            (
                "dps",
                f"broadcast deliveries/s, {c:,} clients",
                "deliveries_per_s",
                "higher",
                "{:.0f}",
            ),
            ("p99", f"broadcast p99 ms, {c:,} clients", "p99_ms", "lower", "{:.1f}"),
            (
                "cpu",
                f"broadcast server CPU µs per delivery, {c:,} clients",
                "server_us_per_op",
                "lower",
                "{:.1f}",
            ),
        ):
            defs.append((f"{sc}_{key}", label, sc, field, better, fmt))
    for c, _m in cfg.groups if "group" in run else ():
        sc = f"group{c}"
        for key, label, field, better, fmt in (
            (
                "dps",
                f"group deliveries/s, {c:,} members (+{c:,} outside)",
                "deliveries_per_s",
                "higher",
                "{:.0f}",
            ),
            ("p99", f"group p99 ms, {c:,} members", "p99_ms", "lower", "{:.1f}"),
            (
                "cpu",
                f"group server CPU µs per delivery, {c:,} members",
                "server_us_per_op",
                "lower",
                "{:.1f}",
            ),
        ):
            defs.append((f"{sc}_{key}", label, sc, field, better, fmt))
    for n in cfg.idle_clients if "idle" in run else ():
        sc = idle_name(cfg, n)
        defs.append(
            (
                f"{sc}_kib",
                f"KiB RSS per idle conn, {n:,} conns",
                sc,
                "kib_per_conn",
                "lower",
                "{:.1f}",
            )
        )
    return defs


def summarize(cfg, runs, peers):
    defs = metric_defs(cfg)
    medians = {p: {} for p in peers}
    values = {p: {} for p in peers}
    diag = {p: {} for p in peers}
    for p in peers:
        pruns = [r for r in runs if r["peer"] == p]
        for key, _l, sc, field, _b, _f in defs:
            vals = [
                r["scenarios"][sc][field]
                for r in pruns
                if sc in r.get("scenarios", {}) and r["scenarios"][sc].get(field) is not None
            ]
            values[p][key] = vals
            medians[p][key] = statistics.median(vals) if vals else None
        scen_names = {sc for _k, _l, sc, _f, _b, _ff in defs}
        for sc in scen_names:
            rs = [
                r["scenarios"][sc]
                for r in pruns
                if "server_cpu_pct" in r.get("scenarios", {}).get(sc, {})
            ]
            if rs:
                diag[p][sc] = {
                    k: statistics.median(x[k] for x in rs)
                    for k in (
                        "server_cpu_pct",
                        "client_cpu_pct_max",
                        "client_cpu_pct_total",
                        "machine_cpu_pct",
                        "server_us_per_op",
                        "client_us_per_op",
                    )
                    if all(x.get(k) is not None for x in rs)
                }
    ratios = {p: {} for p in peers}
    for p in peers:
        for key, *_ in defs:
            b = medians.get(BASELINE, {}).get(key)
            v = medians[p].get(key)
            ratios[p][key] = (v / b) if (v is not None and b) else None
    return defs, medians, values, ratios, diag


def cell_status(runs, peer, sc):
    """Why a peer has no value for a scenario: skipped, failed or n/a."""
    prs = [r for r in runs if r["peer"] == peer]
    states = [r.get("scenarios", {}).get(sc, {}) for r in prs]
    if any("skipped" in st for st in states):
        return "skipped"
    if any("error" in st for st in states) or any("error" in r for r in prs):
        return "failed"
    return "n/a"


def markdown(cfg, peers, defs, medians, ratios, diag, skipped, failures, runs):
    lines = []
    cols = [p for p in cfg.peers if p in peers or p in skipped]
    medians = {p: medians.get(p, {}) for p in cols}
    ratios = {p: ratios.get(p, {}) for p in cols}
    diag = {p: diag.get(p, {}) for p in cols}
    lines.append("| metric | better | " + " | ".join(cols) + " |")
    lines.append("|---|---|" + "---|" * len(cols))
    for key, label, _sc, _field, better, fmt in defs:
        cells = []
        for p in cols:
            if p in skipped:
                cells.append("skipped")
                continue
            v = medians[p].get(key)
            if v is None:
                cells.append(cell_status(runs, p, _sc))
                continue
            r = ratios[p].get(key)
            rs = f" ({r:.2f}×)" if r is not None else ""
            cells.append(fmt.format(v) + rs)
        lines.append(f"| {label} | {better} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        f"Medians over {cfg.runs} run(s); (×) = ratio to {BASELINE} "
        f"(value / Channels value, whatever the direction); load driver: {cfg.driver}."
    )
    # CPU / client-bottleneck table
    scen = [d[2] for d in defs if d[4] == "higher"]
    if any(diag[p] for p in cols):
        lines.append("")
        lines.append(
            "CPU during each scenario (median; 100 % = one core of "
            f"{os.cpu_count()}): server % / busiest client process % / whole machine % "
            "· CPU µs per call or delivery: server / all client processes"
        )
        lines.append("")
        lines.append("| scenario | " + " | ".join(cols) + " |")
        lines.append("|---|" + "---|" * len(cols))
        for sc in scen:
            cells = []
            for p in cols:
                d = diag[p].get(sc)
                if not d:
                    cells.append("—")
                    continue
                mach = d.get("machine_cpu_pct")
                us = ""
                if d.get("server_us_per_op") is not None:
                    us = f" · {d['server_us_per_op']:.0f} / {d['client_us_per_op']:.0f} µs"
                cells.append(
                    f"{d['server_cpu_pct']:.0f} / {d['client_cpu_pct_max']:.0f} / "
                    f"{'—' if mach is None else f'{mach:.0f}'}{us}"
                )
            lines.append(f"| {sc} | " + " | ".join(cells) + " |")
        lines.append("")
        lines.extend(bottleneck_notes(diag, cols, scen))
    for r in runs:
        for sc, v in r.get("scenarios", {}).items():
            if v.get("capped_by"):
                lines.append(
                    f"- {r['peer']} run {r['run']} {sc}: {v['clients']:,} of {v['asked']:,} "
                    f"connections opened, capped by {v['capped_by']}"
                )
    for p, reason in skipped.items():
        lines.append(f"- {p}: skipped: {reason}")
    for f in failures:
        lines.append(f"- {f}")
    return "\n".join(lines)


# verdicts under which the figure is a lower bound for the server
LOWER_BOUND_VERDICTS = ("client-bound", "machine-saturated", "contended")


def verdict(sc, d, ncpu):
    """(kind, text): what bounded one scenario, from its CPU diagnostics. kind
    is one of lockstep, client-bound, server-bound, machine-saturated,
    contended, latency-bound; the figure is a lower bound for the server
    when kind is in LOWER_BOUND_VERDICTS."""
    srv, cli = d["server_cpu_pct"], d["client_cpu_pct_max"]
    mach = d.get("machine_cpu_pct")
    srv_us, cli_us = d.get("server_us_per_op"), d.get("client_us_per_op")
    if sc == "calls1":
        return "lockstep", (
            "one client in lock-step with the server: latency-bound by design; the "
            "client's share of each round trip is the same for every peer"
        )
    if cli >= 85 and cli >= srv:
        return "client-bound", "CLIENT-BOUND (a client process is near a full core)"
    if srv >= 85:
        return "server-bound", "server-bound (server at a full core)"
    if mach is not None and mach >= 90 * ncpu:
        return "machine-saturated", "machine saturated, server below a full core: CPU-contended"
    if srv_us is not None and cli_us is not None and cli_us >= 0.7 * srv_us:
        return "contended", (
            "server below a full core while the clients cost about as much CPU "
            f"as the server on {ncpu} cores: contended, a lower bound for the server"
        )
    return "latency-bound", "neither side saturated (latency-bound)"


def verdicts(diag, peers, scen):
    """peer -> scenario -> {"kind", "text"} for every scenario with CPU diagnostics."""
    ncpu = os.cpu_count() or 1
    out = {}
    for p in peers:
        for sc in scen:
            d = diag.get(p, {}).get(sc)
            if d and "server_cpu_pct" in d and "client_cpu_pct_max" in d:
                kind, text = verdict(sc, d, ncpu)
                out.setdefault(p, {})[sc] = {"kind": kind, "text": text}
    return out


def bottleneck_notes(diag, cols, scen):
    """Is the load driver the bottleneck? Every scenario of the bare floor is
    spelled out; other peers only when a client process looks saturated or
    the server could not get a full core."""
    notes = []
    ncpu = os.cpu_count() or 1
    for p in cols:
        for sc in scen:
            d = diag[p].get(sc)
            if not d:
                continue
            srv, cli = d["server_cpu_pct"], d["client_cpu_pct_max"]
            mach = d.get("machine_cpu_pct")
            srv_us, cli_us = d.get("server_us_per_op"), d.get("client_us_per_op")
            cost = (
                f"; CPU per op: server {srv_us:.0f} µs, clients {cli_us:.0f} µs"
                if srv_us is not None and cli_us is not None
                else ""
            )
            where = f"server {srv:.0f} %, busiest client {cli:.0f} %" + (
                f", machine {mach:.0f} % of {ncpu * 100} %" if mach is not None else ""
            )
            kind, text = verdict(sc, d, ncpu)
            if p == "bare" or kind not in ("server-bound", "latency-bound", "lockstep"):
                notes.append(f"- {p} {sc}: {where}{cost}: {text}")
    if not any("CLIENT-BOUND" in n for n in notes):
        notes.append(
            "- no scenario looked client-bound (no client process near a full core "
            "at or above the server's CPU)"
        )
    return notes


# --------------------------------------------------------------------------- main


def driver_label(info):
    if info["kind"] == "node":
        return (
            f"node (driver_node/driver.mjs, node {info.get('node')}, ws {info.get('ws')}, "
            f"{' '.join(info.get('node_flags', []))})"
        )
    return "python (driver.py, " + ", ".join(info.get("pip_freeze") or ["websockets"]) + ")"


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--peers",
        default=",".join(ALL_PEERS),
        help=f"comma list out of {','.join(ALL_PEERS)} (default: all)",
    )
    ap.add_argument(
        "--runs", type=int, default=None, help="runs per peer (default 3; quick and curve 1)"
    )
    ap.add_argument("--quick", action="store_true", help="smoke mode: small numbers, ~1 min")
    ap.add_argument(
        "--curve",
        action="store_true",
        help="the curve: idle at 2000,10000,20000 connections, calls with 1,50,500 clients, "
        "broadcast 100x1000,1000x100,5000x20 (with --quick: 300,1000,3000; 1,10,50; "
        "100x30,500x6,1000x3); scenarios idle,calls,bcast, 1 run, ws-curve-<stamp>.json. "
        "The options below still override each list",
    )
    ap.add_argument(
        "--duration",
        type=float,
        help="measured seconds of each call scenario (default 5, quick 0.8)",
    )
    ap.add_argument("--call-clients", help="comma list (default 1,50)")
    ap.add_argument(
        "--scenarios",
        default=None,
        help="comma list out of idle,calls,bcast,group (default: all; curve: idle,calls,bcast)",
    )
    ap.add_argument(
        "--groups",
        help="group sends, comma list MEMBERSxMESSAGES (as many connections sit in another "
        "room; default 100x1000,1000x100; quick 100x30,1000x5)",
    )
    ap.add_argument(
        "--bcast",
        help="comma list CLIENTSxMESSAGES (default 100x1000,1000x100; quick 100x30,1000x5)",
    )
    ap.add_argument(
        "--bcast-rate",
        type=float,
        default=0.0,
        help="publisher messages/s (0 = as fast as possible, the default)",
    )
    ap.add_argument(
        "--bcast-timeout",
        type=float,
        default=None,
        help="seconds after publishing starts within which deliveries count (default 15, quick 5)",
    )
    ap.add_argument(
        "--idle-clients",
        help="idle connections for RSS, comma list (default 2000, quick 300); each size is "
        "capped at what the server's open-file limit and the local port range allow",
    )
    ap.add_argument(
        "--client-procs",
        type=int,
        default=2,
        help="driver processes for multi-client scenarios (default 2)",
    )
    ap.add_argument(
        "--settle",
        type=float,
        default=None,
        help="seconds to wait after clients connect (default 1.0, quick 0.5)",
    )
    ap.add_argument(
        "--driver",
        choices=DRIVERS,
        default=None,
        help="load client: node (bench/driver_node/driver.mjs, ws) or python (bench/driver.py, "
        "websockets); default node when bench/driver_node/node_modules is installed, else python",
    )
    ap.add_argument("--start-timeout", type=float, default=60.0)
    ap.add_argument(
        "--no-setup",
        action="store_true",
        help="do not run bench/setup_peers.sh for missing/outdated venvs",
    )
    ap.add_argument("--out", help="JSON output path (default bench/results/ws-<stamp>.json)")
    cfg = ap.parse_args(argv)
    q = cfg.quick
    curve = (CURVE_QUICK if q else CURVE) if cfg.curve else None
    cfg.runs = cfg.runs or (1 if q or curve else 3)
    cfg.duration = cfg.duration or (0.8 if q else 5.0)
    cfg.warmup = 0.2 if q else 0.5
    if curve:
        defaults = {
            "calls": ",".join(str(c) for c in curve["calls"]),
            "bcast": ",".join(f"{c}x{m}" for c, m in curve["bcast"]),
            "idle": ",".join(str(n) for n in curve["idle"]),
            "scenarios": "idle,calls,bcast",
        }
    else:
        defaults = {
            "calls": "1,50",
            "bcast": "100x30,1000x5" if q else "100x1000,1000x100",
            "idle": "300" if q else "2000",
            "scenarios": "idle,calls,bcast,group",
        }
    cfg.call_clients = [int(x) for x in (cfg.call_clients or defaults["calls"]).split(",")]
    cfg.bcast = [
        tuple(int(y) for y in x.split("x")) for x in (cfg.bcast or defaults["bcast"]).split(",")
    ]
    cfg.groups = [
        tuple(int(y) for y in x.split("x"))
        for x in (cfg.groups or ("100x30,1000x5" if q else "100x1000,1000x100")).split(",")
    ]
    cfg.bcast_timeout = cfg.bcast_timeout or (5.0 if q else 30.0)
    cfg.idle_clients = [int(x) for x in (cfg.idle_clients or defaults["idle"]).split(",")]
    cfg.scenarios = cfg.scenarios or defaults["scenarios"]
    cfg.settle = cfg.settle if cfg.settle is not None else (0.5 if q else 1.0)
    cfg.peers = [p.strip() for p in cfg.peers.split(",") if p.strip()]
    cfg.scenarios = {x.strip() for x in cfg.scenarios.split(",") if x.strip()}
    if not cfg.scenarios <= {"idle", "calls", "bcast", "group"}:
        ap.error(f"unknown scenario(s) {sorted(cfg.scenarios)}; choose from idle,calls,bcast,group")
    bad = [p for p in cfg.peers if p not in ALL_PEERS + EXTRA_PEERS]
    if bad:
        ap.error(f"unknown peer(s) {bad}; choose from {ALL_PEERS + EXTRA_PEERS}")
    return cfg


def main(argv=None):
    cfg = parse_args(argv)
    atexit.register(PROCS.kill_all)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    nofile = raise_nofile()
    specs = peer_specs()

    skipped = {}
    peers = []
    for p in cfg.peers:
        if p.startswith("floorkit"):
            ok, reason = floorkit_adapter.availability()
            if not ok:
                skipped[p] = reason
                print(f"floorkit: SKIPPED: {reason}", flush=True)
                continue
        if p in NODE_PEERS and node_binary() is None:
            skipped[p] = "no node on PATH"
            print(f"{p}: SKIPPED: no node on PATH", flush=True)
            continue
        peers.append(p)
    node_peers = [p for p in peers if p in NODE_PEERS]

    if cfg.driver == "node" and node_binary() is None:
        sys.exit("--driver node: no node on PATH")
    peer_venvs = {specs[p]["venv"] for p in peers if specs[p]["venv"]}
    if not cfg.no_setup:
        names = sorted(peer_venvs | ({"driver"} if cfg.driver != "node" else set()))
        if cfg.driver != "python" and node_binary() and shutil.which("npm"):
            names.append("driver_node")
        if node_peers and shutil.which("npm"):
            names.append("node_peers")
        subprocess.run(["bash", str(BENCH / "setup_peers.sh"), *names], check=True)
    if cfg.driver is None:
        cfg.driver = "node" if node_driver_installed() else "python"
    venvs = sorted(peer_venvs | ({"driver"} if cfg.driver == "python" else set()))
    missing = [v for v in venvs if not venv_py(v).exists()]
    if cfg.driver == "node" and not node_driver_installed():
        missing.append("driver_node (bench/driver_node/node_modules)")
    if node_peers and not node_peers_installed():
        missing.append("node_peers (bench/peers/node/node_modules)")
    if missing:
        sys.exit(f"missing venv(s) {missing}: run bash bench/setup_peers.sh")
    driver_info = {"kind": cfg.driver, **driver_versions(cfg.driver)}

    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    RESULTS.mkdir(parents=True, exist_ok=True)
    logdir = RESULTS / f"logs-{stamp}"
    logdir.mkdir()
    t_begin = time.time()
    redis_proc, redis_url = start_redis(logdir)
    print(
        f"redis {redis_url}; nofile {nofile}; peers {peers}; runs {cfg.runs}"
        f"{' (quick)' if cfg.quick else ''}{' (curve)' if cfg.curve else ''}; driver {driver_label(driver_info)}; "
        f"logs {logdir.relative_to(ROOT)}",
        flush=True,
    )

    runs = []
    try:
        for r in range(cfg.runs):
            order = peers[r % len(peers) :] + peers[: r % len(peers)] if peers else []
            for p in order:
                print(f"run {r + 1}/{cfg.runs}  {p}  (load {os.getloadavg()[0]:.2f})", flush=True)
                res = run_peer(p, specs[p], cfg, redis_url, logdir, r + 1)
                res["loadavg_before"] = os.getloadavg()[0]
                if "error" in res:
                    print(f"    {p}: ERROR {res['error'][:300]}", flush=True)
                runs.append(res)
    finally:
        PROCS.kill(redis_proc)

    defs, medians, values, ratios, diag = summarize(cfg, runs, peers)
    failures = [f"{r['peer']} run {r['run']}: {r['error'][:200]}" for r in runs if "error" in r]
    failures += [
        f"{r['peer']} run {r['run']} {sc}: {v['error'][:200]}"
        for r in runs
        for sc, v in r.get("scenarios", {}).items()
        if "error" in v
    ]
    failures += [
        f"{r['peer']} run {r['run']} {sc}: skipped: {v['skipped'][:200]}"
        for r in runs
        for sc, v in r.get("scenarios", {}).items()
        if "skipped" in v
    ]
    failures += [
        f"{r['peer']} run {r['run']} {sc}: {v['expected'] - v['received']} of "
        f"{v['expected']} deliveries missing"
        for r in runs
        for sc, v in r.get("scenarios", {}).items()
        if sc.startswith(("bcast", "group")) and v.get("received", 0) < v.get("expected", 0)
    ]
    failures += [
        f"{r['peer']} run {r['run']} {sc}: {v['leaked']} deliveries to connections outside the room"
        for r in runs
        for sc, v in r.get("scenarios", {}).items()
        if v.get("leaked")
    ]
    failures += [
        f"{r['peer']} run {r['run']} idle: {v['connected'] - v['alive_at_measure']} of "
        f"{v['connected']} connections closed by the server before RSS was read"
        for r in runs
        for sc, v in r.get("scenarios", {}).items()
        if sc == "idle" and v.get("alive_at_measure", 0) < v.get("connected", 0)
    ]
    table = markdown(cfg, peers, defs, medians, ratios, diag, skipped, failures, runs)
    elapsed = time.time() - t_begin
    print()
    print(table)
    print(f"\n(total {elapsed:.0f} s)")

    freezes = {}
    for v in venvs:
        f = VENVS / v / ".bench-freeze.txt"
        if f.exists():
            freezes[v] = f.read_text().split()
    doc = {
        "started_utc": stamp,
        "elapsed_s": elapsed,
        "argv": sys.argv[1:],
        "config": {k: v for k, v in vars(cfg).items()},
        "machine": {
            "cpus": os.cpu_count(),
            "nofile": nofile,
            "somaxconn": sysctl("net/core/somaxconn"),
            "ephemeral_ports": ephemeral_ports(),
            "python": sys.version.split()[0],
        },
        "peers": {p: specs[p]["label"] for p in peers},
        "driver": driver_info,
        "skipped": skipped,
        "baseline": BASELINE,
        "metrics": [{"key": d[0], "label": d[1], "better": d[4]} for d in defs],
        "medians": medians,
        "ratios_to_baseline": ratios,
        "values_per_run": values,
        "cpu_diagnostics": diag,
        "verdicts": verdicts(diag, peers, [d[2] for d in defs if d[4] == "higher"]),
        "runs": runs,
        "venv_freeze": freezes,
        "table_markdown": table,
    }
    kind = "ws-curve" if cfg.curve else "ws"
    out = Path(cfg.out) if cfg.out else RESULTS / f"{kind}-{stamp}.json"
    for f in logdir.iterdir():
        if f.stat().st_size == 0:
            f.unlink()
    text = json.dumps(doc, indent=1, default=str)
    out.write_text(text)
    (RESULTS / "ws-latest.json").write_text(text)
    if cfg.curve:
        (RESULTS / "ws-curve-latest.json").write_text(text)
    print(f"wrote {out}")
    if cfg.curve:
        print(
            "plot it: bash bench/setup_peers.sh plot && "
            f"bench/.venvs/plot/bin/python bench/plot.py {out}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
