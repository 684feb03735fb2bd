"""Where the memory of an idle floorkit websocket goes.

    python3 bench/idle_anatomy.py [--clients 2000] [--tracemalloc] [--json FILE]

Starts a private redis-server and floorkit's ``runwebsocket`` (through this
file's ``--serve`` mode, in the project's .venv), warms it up with a few calls
as ``run_ws.py`` does, then opens ``--clients`` idle connections with the load
driver. The server writes a report of its own memory when it gets SIGUSR1,
once before the connections and once after; this prints the difference per
connection:

* RSS, split by mapping: the malloc heap, pymalloc's arenas and the other
  anonymous mappings (which hold each greenlet's Python frame chunk);
* pymalloc (``sys._debugmallocstats``) and glibc malloc (``mallinfo2``) in use;
* the objects the garbage collector tracks, by type (count, ``sys.getsizeof``);
* the greenlets: how many, their Python frames at the point where they wait
  and the frame memory those take;
* with ``--tracemalloc`` (slower, and its own bookkeeping inflates RSS), every
  allocation still live, grouped by where it was made; a greenlet's saved C
  stack is allocated by the greenlet module and shows under the frame that
  switched away.

The server code is this checkout's (``FLOORKIT_BENCH_MANAGE`` and
``FLOORKIT_BENCH_PYTHON`` as in ``bench/peers/floorkit_adapter.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
PAGE = 4096


# --------------------------------------------------------------------------- server side


def _smaps() -> dict[str, int]:
    """Resident KiB of this process by kind of mapping."""
    kinds: dict[str, int] = {}
    current = "other"
    size = 0
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()
            if not head:
                continue
            if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                start, end = (int(x, 16) for x in head[0].split("-"))
                size = end - start
                name = head[5] if len(head) > 5 else ""
                if name == "[heap]":
                    current = "heap"
                elif name == "[stack]":
                    current = "stack"
                elif name.startswith("/") or name.startswith("["):
                    current = "files"
                elif size % (1 << 20) == 0 and size <= (64 << 20):
                    current = "anon_mib_multiple"  # pymalloc arenas, malloc's arenas
                else:
                    current = "anon_other"  # frame chunks of greenlets, large mallocs
            elif head[0] == "Rss:":
                kinds[current] = kinds.get(current, 0) + int(head[1])
    return kinds


def _debugmallocstats() -> dict[str, int]:
    import tempfile

    with tempfile.TemporaryFile(mode="w+") as tmp:
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(tmp.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read()
    wanted = {
        "# arenas allocated current": "arenas",
        "# bytes in allocated blocks": "allocated",
        "# bytes in available blocks": "available",
        "bytes lost to pool headers": "pool_headers",
        "bytes lost to quantization": "quantization",
        "bytes lost to arena alignment": "alignment",
    }
    out = {}
    for line in text.splitlines():
        for prefix, name in wanted.items():
            if line.strip().startswith(prefix) and "=" in line:
                out[name] = int(line.split("=")[1].replace(",", "").strip())
    return out


def _mallinfo() -> dict[str, int]:
    import ctypes

    class Mallinfo2(ctypes.Structure):
        _fields_ = [
            (name, ctypes.c_size_t)
            for name in (
                "arena",
                "ordblks",
                "smblks",
                "hblks",
                "hblkhd",
                "usmblks",
                "fsmblks",
                "uordblks",
                "fordblks",
                "keepcost",
            )
        ]

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = Mallinfo2
    except (OSError, AttributeError):
        return {}
    info = libc.mallinfo2()
    return {
        "in_use": info.uordblks + info.hblkhd,
        "free": info.fordblks,
        "heap": info.arena,
        "mmapped": info.hblkhd,
    }


def _frame_bytes(code) -> int:
    """Bytes of a 3.11 interpreter frame of ``code`` on the frame data stack."""
    localsplus = len(code.co_varnames) + len(code.co_cellvars) + len(code.co_freevars)
    return (localsplus + code.co_stacksize + 7) * 8  # 7: FRAME_SPECIALS_SIZE


def _resident_pages(frame) -> int | None:
    """
    Resident pages of the 16 KiB frame chunk that ``frame``, a greenlet's
    outermost frame, sits at the start of (CPython 3.11's layout: the
    frame object's ``f_frame`` pointer, the chunk's 3-word header, one word kept free).
    """
    import ctypes
    import mmap

    if sys.version_info[:2] != (3, 11):
        return None
    # a greenlet's first chunk keeps its first word free: the frame is 4 words in
    address = ctypes.c_void_p.from_address(id(frame) + 24).value - 32
    if address % mmap.PAGESIZE:
        return None  # not at the start of a chunk of its own
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    vec = (ctypes.c_ubyte * 4)()
    if libc.mincore(ctypes.c_void_p(address), ctypes.c_size_t(16384), vec):
        return None
    return sum(v & 1 for v in vec)


def _greenlets() -> dict:
    import gc

    import greenlet

    stacks: dict[str, list] = {}
    pages: dict[int, int] = {}
    for obj in gc.get_objects():
        if not isinstance(obj, greenlet.greenlet) or obj.dead:
            continue
        frames = []
        frame = obj.gr_frame
        while frame is not None:
            frames.append(frame)
            frame = frame.f_back
        frames.reverse()
        if frames:
            resident = _resident_pages(frames[0])
            pages[resident] = pages.get(resident, 0) + 1
        names = tuple(
            f"{Path(f.f_code.co_filename).name}:{f.f_code.co_name}:{f.f_lineno}" for f in frames
        )
        entry = stacks.setdefault(" > ".join(names), [0, len(frames), 0])
        entry[0] += 1
        entry[2] = sum(_frame_bytes(f.f_code) for f in frames)
    return {
        "stacks": {
            k: {"count": c, "frames": n, "frame_bytes": b} for k, (c, n, b) in stacks.items()
        },
        "chunk_pages": {str(k): v for k, v in pages.items()},
    }


def _objects() -> dict[str, list[int]]:
    import gc

    counts: dict[str, list[int]] = {}
    for obj in gc.get_objects():
        t = type(obj)
        name = f"{t.__module__}.{t.__qualname__}"
        entry = counts.setdefault(name, [0, 0])
        entry[0] += 1
        try:
            entry[1] += sys.getsizeof(obj)
        except TypeError:
            pass
        d = obj.__dict__ if t.__dictoffset__ and not isinstance(obj, type) else None
        if type(d) is dict:
            entry = counts.setdefault(f"{name}.__dict__", [0, 0])
            entry[0] += 1
            entry[1] += sys.getsizeof(d)
    return counts


def _sample() -> dict:
    """One connection's handler attributes and environ keys, with their sizes."""
    import gc

    from floorkit.websocket.handshake import WebSocketHandler

    for obj in gc.get_objects():
        if isinstance(obj, WebSocketHandler) and getattr(obj, "websocket", None) is not None:
            environ = obj.environ or {}
            return {
                "handler_dict": sys.getsizeof(obj.__dict__),
                "handler": {k: sys.getsizeof(v) for k, v in obj.__dict__.items()},
                "environ_dict": sys.getsizeof(environ),
                "environ": {k: sys.getsizeof(v) for k, v in environ.items()},
            }
    return {}


_first_snapshot = None


def _tracemalloc_top(limit: int = 60) -> list:
    global _first_snapshot
    import tracemalloc

    if not tracemalloc.is_tracing():
        return []
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, __file__, all_frames=True),
        ]
    )
    if _first_snapshot is None:
        _first_snapshot = snapshot
        return []
    stats = snapshot.compare_to(_first_snapshot, "traceback")
    top = [{"size_diff": sum(s.size_diff for s in stats), "count_diff": 0, "at": ["total"]}]
    for stat in stats[:limit]:
        frames = [f"{Path(f.filename).name}:{f.lineno}" for f in stat.traceback]
        top.append({"size_diff": stat.size_diff, "count_diff": stat.count_diff, "at": frames})
    return top


def _report(path: str) -> None:
    import gc

    status = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                status[key] = int(value.split()[0])
    report = {
        "time": time.time(),
        "status_kib": status,
        "smaps_kib": _smaps(),
        "pymalloc": _debugmallocstats(),
        "malloc": _mallinfo(),
        "gc_counts": gc.get_count(),
        "objects": _objects(),
        "greenlets": _greenlets(),
        "sample": _sample(),
        "tracemalloc": _tracemalloc_top(),
    }
    with open(path, "a") as f:
        f.write(json.dumps(report) + "\n")


def serve(argv: list[str]) -> None:
    """Run ``manage.py runwebsocket`` patched, reporting on SIGUSR1 (to $FLOORKIT_ANATOMY_OUT)."""
    from gevent import monkey

    monkey.patch_all()
    frames = int(os.environ.get("FLOORKIT_ANATOMY_TRACEMALLOC", "0"))
    if frames:
        import tracemalloc

        tracemalloc.start(frames)
    import gevent

    out = os.environ["FLOORKIT_ANATOMY_OUT"]
    gevent.signal_handler(signal.SIGUSR1, lambda: gevent.spawn(_report, out))
    sys.argv = [sys.argv[0], *argv]
    from floorkit.websocket import run

    run.main()


# --------------------------------------------------------------------------- orchestrator


def _diff(before: dict, after: dict, n: int) -> None:
    def per(a, b):
        return (b - a) / n

    print(f"\n== per idle connection, {n:,} connections ==")
    for key in ("VmRSS", "RssAnon"):
        sb, sa = before["status_kib"].get(key, 0), after["status_kib"].get(key, 0)
        print(f"{key:28s} {per(sb, sa):8.2f} KiB")
    kinds = sorted(set(before["smaps_kib"]) | set(after["smaps_kib"]))
    for k in kinds:
        d = per(before["smaps_kib"].get(k, 0), after["smaps_kib"].get(k, 0))
        print(f"  rss {k:24s} {d:8.2f} KiB")
    pb, pa = before["pymalloc"], after["pymalloc"]
    for k in ("arenas", "allocated", "available", "quantization"):
        if k in pa:
            scale = 1024 if k == "arenas" else 1 / 1024  # arenas: 1 MiB each in 3.11
            d = (pa[k] - pb.get(k, 0)) * scale / n
            print(f"  pymalloc {k:19s} {d:8.2f} KiB")
    mb, ma = before["malloc"], after["malloc"]
    for k in ("in_use", "free", "heap", "mmapped"):
        if k in ma:
            print(f"  malloc {k:21s} {(ma[k] - mb.get(k, 0)) / 1024 / n:8.2f} KiB")
    print("\n-- gc-tracked objects per connection (count, bytes of getsizeof) --")
    rows = []
    for name, (count, size) in after["objects"].items():
        c0, s0 = before["objects"].get(name, (0, 0))
        if size - s0 > n * 8 or count - c0 >= n // 2:
            rows.append(((size - s0) / n, (count - c0) / n, name))
    total = 0.0
    for size, count, name in sorted(rows, reverse=True):
        total += size if not name.endswith("__dict__") else size
        print(f"  {count:6.2f} × {name:60s} {size:8.1f} B")
    print(f"  total of these: {total / 1024:.2f} KiB")
    print("\n-- waiting greenlets (new since before) --")
    print(f"  resident pages of frame chunks: before {before['greenlets']['chunk_pages']}")
    print(f"                                  after  {after['greenlets']['chunk_pages']}")
    stacks0 = before["greenlets"]["stacks"]
    for stack, info in sorted(after["greenlets"]["stacks"].items(), key=lambda kv: -kv[1]["count"]):
        old = stacks0.get(stack, {}).get("count", 0)
        if info["count"] - old >= n // 10:
            print(
                f"  {info['count'] - old:6d} × {info['frames']} frames, "
                f"{info['frame_bytes']} B of frames:\n      " + "\n      ".join(stack.split(" > "))
            )
    sample = after.get("sample")
    if sample:
        print("\n-- one connection's handler and environ (B of getsizeof) --")
        for part in ("handler", "environ"):
            items = sample[part]
            print(f"  {part}: {len(items)} keys, the dict {sample[part + '_dict']} B")
            print("    " + ", ".join(f"{k} {v}" for k, v in items.items()))
    if after["tracemalloc"]:
        print("\n-- tracemalloc: live allocations by traceback (B per connection) --")
        for stat in after["tracemalloc"]:
            if stat["size_diff"] < n * 16 and stat["at"] != ["total"]:
                continue
            print(
                f"  {stat['size_diff'] / n:8.1f} B  {stat['count_diff'] / n:5.2f} blocks  "
                + " < ".join(reversed(stat["at"]))
            )


def orchestrate(args) -> int:
    sys.path[:0] = [str(BENCH), str(BENCH / "peers")]
    import floorkit_adapter
    import run_ws  # stdlib only

    run_ws.raise_nofile()
    logdir = Path(args.logdir)
    logdir.mkdir(parents=True, exist_ok=True)
    out = logdir / "anatomy.jsonl"
    out.unlink(missing_ok=True)
    signal.signal(signal.SIGTERM, run_ws._on_signal)
    try:
        redis, redis_url = run_ws.start_redis(logdir)
        port = run_ws.free_port()
        env = floorkit_adapter.server_env(redis_url)
        env["FLOORKIT_ANATOMY_OUT"] = str(out)
        if args.tracemalloc:
            env["FLOORKIT_ANATOMY_TRACEMALLOC"] = str(args.frames)
        env.update(dict(kv.split("=", 1) for kv in args.env))
        argv = [
            floorkit_adapter.PYTHON,
            Path(__file__).resolve(),
            "--serve",
            floorkit_adapter.MANAGE_PY,
            "runwebsocket",
            f"127.0.0.1:{port}",
            "--noreload",
        ]
        log_path = logdir / "server.log"
        with open(log_path, "w") as log:
            server = run_ws.PROCS.spawn(
                argv,
                env=env,
                cwd=floorkit_adapter.SERVER_CWD,
                stdout=log,
                stderr=run_ws.subprocess.STDOUT,
            )
        run_ws.wait_accept(port, server, 60, log_path)
        spec = run_ws.peer_specs()["floorkit"]
        driver = "node" if run_ws.node_driver_installed() else "python"
        cfg = argparse.Namespace(client_procs=2, driver=driver, quick=False)
        ctx = {
            "spec": spec,
            "port": port,
            "sid": server.pid,
            "cfg": cfg,
            "peer": "floorkit",
            "tag": "anatomy",
            "logdir": logdir,
            "redis_url": redis_url,
        }
        run_ws.sc_calls(dict(ctx, tag="anatomy-warmup"), 2, 0.5, 0.2)
        run_ws.wait_quiet(server.pid)

        def report() -> dict:
            lines = out.read_text().splitlines() if out.exists() else []
            os.kill(server.pid, signal.SIGUSR1)
            end = time.time() + 300
            while time.time() < end:
                time.sleep(0.2)
                now = out.read_text().splitlines() if out.exists() else []
                if len(now) > len(lines):
                    return json.loads(now[-1])
            raise RuntimeError("the server wrote no report")

        before = report()
        run_ws.wait_quiet(server.pid)
        rss0 = run_ws.tree_rss_kib(server.pid)
        drivers = run_ws.start_drivers(
            spec, port, "idle", args.clients, 2, [], logdir, "anatomy-idle", driver=driver
        )
        try:
            connected, failed, errors = run_ws.wait_ready(drivers, 300, logdir, "anatomy-idle")
            time.sleep(args.settle)
            run_ws.wait_quiet(server.pid)
            rss1 = run_ws.tree_rss_kib(server.pid)
            after = report()
            for d in drivers:
                run_ws.send(d, "CLOSE")
            alive = sum(run_ws.read_tagged(d, "RESULT", 120)["alive_at_close"] for d in drivers)
        finally:
            for d in drivers:
                run_ws.PROCS.kill(d, grace=3)
        print(
            f"{connected} connected, {failed} failed, {alive} alive; "
            f"RSS {rss0} -> {rss1} KiB: {(rss1 - rss0) / max(1, alive):.2f} KiB per connection"
            + (f"; errors {errors}" if errors else "")
        )
        _diff(before, after, max(1, alive))
        if args.json:
            Path(args.json).write_text(json.dumps({"before": before, "after": after}))
    finally:
        run_ws.PROCS.kill_all()
    return 0


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2:])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=2000)
    ap.add_argument("--settle", type=float, default=2.0)
    ap.add_argument("--tracemalloc", action="store_true")
    ap.add_argument("--frames", type=int, default=8, help="traceback depth with --tracemalloc")
    ap.add_argument("--json", help="write both raw reports here")
    ap.add_argument("--logdir", default=str(BENCH / "results" / "anatomy"))
    ap.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    return orchestrate(ap.parse_args())


if __name__ == "__main__":
    sys.exit(main())
