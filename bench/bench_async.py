#!/usr/bin/env python
"""AsyncSignal benchmark: send() cost and worker throughput.

    .venv/bin/python bench/bench_async.py [--sends 2000] [--jobs 1000] [--json]

Starts its own redis-server on a free port (floorkit.delivery.embedded_redis) and uses
the test settings (tests.settings, a throw-away sqlite file) with this module
listed in FLOORKIT["SIGNAL_MODULES"], so that web and worker processes both
know ``bench.bench_async.ping``. Bounded: well under two minutes by default.

1. send() cost, same run, same payload (JSON primitives, so that every
   variant carries the same data), one receiver:

   * ``AsyncSignal.send()``: one JSON job per send, RQ's enqueue in a pipeline;
   * ``django_rq.enqueue(noop, **payload)``: what django-rq users write (pickle,
     a new Redis client per call);
   * ``queue.enqueue(noop, **payload)`` on one django-rq queue kept across calls,
     JSON serializer: RQ's own enqueue at its best.

   Reported: µs per call (mean of --sends calls after a warm-up), Redis round
   trips per call (calls of redis-py's ``Connection.send_packed_command``: one
   per command sent alone, one per pipeline), Redis commands per call
   (``INFO commandstats``), and the round trips of the first call of a fresh
   process (connection handshake, RQ asking the server version once).

2. Worker throughput: --jobs ``ping`` sends, then ``manage.py rqworker --burst``
   with, alternated for --rounds rounds:

   * ``rq.Worker`` with RQ's JSON serializer: RQ's default forking worker as
     RQ ships it (a fork per job), the baseline;
   * ``rq.SimpleWorker`` with RQ's JSON serializer: RQ's in-process worker;
   * ``floorkit.jobs.worker.ForkingWorker``: RQ's forking worker with floorkit's
     heartbeat throttling;
   * ``floorkit.jobs.worker.SimpleWorker``: the recommended worker (in-process,
     RQ's bookkeeping in 5 round trips per job instead of 12).

   The best round of each is reported (other load on the machine only ever
   slows a round down). Signals/s = jobs / (last job's end - first job's
   start), from RQ's own job timestamps, so that Django's start-up is not
   counted. The target ratio is the recommended worker over RQ's default.

3. ``django.tasks`` (when Django 6 or the django-tasks backport is installed):
   a no-op ``@task`` with the same payload, on floorkit's ``RQBackend`` and,
   when django-tasks-rq is installed (a bench venv, see bench/README.md), on
   django-tasks-rq's ``RQBackend``, same run:

   * ``Task.enqueue()`` cost (µs, round trips, commands per call, autocommit);
   * worker throughput (tasks/s, as above): floorkit's ``SimpleWorker`` (what
     plain ``manage.py rqworker`` runs) for floorkit's backend;
     ``--job-class django_tasks_rq.Job`` (its docs) with ``rq.Worker`` (RQ's
     default) and with ``rq.SimpleWorker`` for django-tasks-rq's.

   Settings: ``bench/tasks_settings.py`` (the test settings plus
   django-tasks-rq's backend when it is importable).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MODULE = "bench.bench_async"
PAYLOAD = {"order_id": 42, "status": "paid", "amount": "19.99", "tags": ["a", "b"], "note": None}

if __name__ != "__main__":  # imported by Django (SIGNAL_MODULES), in the bench and the workers
    from floorkit import AsyncSignal

    ping = AsyncSignal()  # named "bench.bench_async.ping" by discovery

    def on_ping(sender: Any, **kwargs: Any) -> None:
        """The receiver: does nothing, so that the framework's cost is what is measured."""

    ping.connect(on_ping)

    from django.conf import settings as _settings

    from floorkit.tasks import compat as _compat

    _backends = getattr(_settings, "TASKS", {}) if _compat.AVAILABLE else {}
    if "default" in _backends:

        @_compat.task
        def floorkit_noop_task(**kwargs: Any) -> None:
            """The @task on floorkit's RQBackend: does nothing."""

    if "django_tasks_rq" in _backends:

        @_compat.task(backend="django_tasks_rq")
        def rq_noop_task(**kwargs: Any) -> None:
            """The same @task on django-tasks-rq's backend."""


WORKER_CLASSES = (
    "rq.Worker",
    "rq.SimpleWorker",
    "floorkit.jobs.worker.ForkingWorker",
    "floorkit.jobs.worker.SimpleWorker",
)


def noop(*args: Any, **kwargs: Any) -> None:
    """The function django-rq enqueues: the equivalent of ``on_ping``."""


# -- measuring ----------------------------------------------------------------------------


class RoundTrips:
    """Counts redis-py writes to a server: one per command sent alone, one per pipeline."""

    def __init__(self) -> None:
        import redis.connection

        self.count = 0
        self._cls = redis.connection.AbstractConnection
        self._original = self._cls.send_packed_command
        counter = self

        def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
            counter.count += 1
            return counter._original(self, *args, **kwargs)

        self._cls.send_packed_command = counted

    def close(self) -> None:
        self._cls.send_packed_command = self._original


def commands_executed(client: Any) -> int:
    """Commands the server has executed so far (INFO commandstats), this INFO excluded."""
    stats = client.info("commandstats")
    return sum(v["calls"] for v in stats.values()) - stats.get("cmdstat_info", {}).get("calls", 0)


def measure_send(label: str, call: Any, n: int, trips: RoundTrips, client: Any) -> dict[str, Any]:
    trips.count = 0
    call()
    first_trips = trips.count
    for _ in range(min(200, n)):  # warm-up
        call()
    before_commands = commands_executed(client)
    trips.count = 0
    start = time.perf_counter()
    for _ in range(n):
        call()
    elapsed = time.perf_counter() - start
    round_trips = trips.count / n
    commands = (commands_executed(client) - before_commands) / n
    return {
        "variant": label,
        "us_per_call": round(elapsed / n * 1e6, 1),
        "round_trips_per_call": round(round_trips, 2),
        "commands_per_call": round(commands, 2),
        "first_call_round_trips": first_trips,
    }


def worker_throughput(worker_class: str, jobs: int, env: dict[str, str], client: Any) -> dict:
    from rq.job import Job
    from rq.serializers import JSONSerializer

    signal = importlib.import_module(MODULE).ping
    client.flushdb()
    job_ids = [signal.send(**PAYLOAD) for _ in range(jobs)]
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "rqworker", "--burst"]
        + ["--worker-class", worker_class, "--serializer", "rq.serializers.JSONSerializer"]
        + ["default"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{worker_class} failed:\n{result.stderr[-3000:]}")
    done = [j for j in Job.fetch_many(job_ids, client, serializer=JSONSerializer) if j]
    finished = [j for j in done if j.get_status(refresh=False) == "finished"]
    if len(finished) != jobs:
        raise SystemExit(f"{worker_class}: {len(finished)} of {jobs} jobs finished")
    span = (max(j.ended_at for j in done) - min(j.started_at for j in done)).total_seconds()
    per_job = [(j.ended_at - j.started_at).total_seconds() * 1e3 for j in done]
    return {
        "worker_class": worker_class,
        "jobs": jobs,
        "signals_per_s": round(jobs / span, 1),
        "median_job_ms": round(statistics.median(per_job), 2),
        "wall_s_including_startup": round(wall, 2),
    }


#: (label, task attribute of this module, rqworker arguments)
TASK_WORKERS = (
    ("floorkit RQBackend + floorkit SimpleWorker", "floorkit_noop_task", []),
    (
        "django-tasks-rq + rq.Worker",
        "rq_noop_task",
        ["--worker-class", "rq.Worker", "--job-class", "django_tasks_rq.Job"],
    ),
    (
        "django-tasks-rq + rq.SimpleWorker",
        "rq_noop_task",
        ["--worker-class", "rq.SimpleWorker", "--job-class", "django_tasks_rq.Job"],
    ),
)


def task_throughput(label: str, task: Any, flags: list[str], jobs: int, env: dict, client: Any):
    """Enqueue ``jobs`` no-op tasks, run ``rqworker --burst`` with ``flags``; tasks/s from RQ."""
    from rq.job import Job

    from floorkit.tasks import compat

    client.flushdb()
    ids = [task.enqueue(**PAYLOAD).id for _ in range(jobs)]
    sample = client.hget(f"rq:job:{ids[0]}", "data") or b""
    serializer = None  # pickle, unless the job is JSON (zlib-compressed JSON starts with x)
    try:
        import zlib

        json.loads(zlib.decompress(sample))
        from rq.serializers import JSONSerializer as serializer
    except Exception:
        pass
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "rqworker", "--burst", *flags, "default"]
        + (["--serializer", "rq.serializers.JSONSerializer"] if serializer and flags else []),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{label} failed:\n{result.stderr[-3000:]}")
    done = [j for j in Job.fetch_many(ids, client, serializer=serializer) if j]
    finished = [j for j in done if j.get_status(refresh=False) == "finished"]
    if len(finished) != jobs:
        raise SystemExit(
            f"{label}: {len(finished)} of {jobs} tasks finished\n{result.stderr[-2000:]}"
        )
    if label.startswith("floorkit"):  # django-tasks-rq reads its jobs back with pickle
        status = task.get_backend().get_result(ids[-1]).status
        assert status == compat.TaskResultStatus.SUCCESSFUL, status
    span = (max(j.ended_at for j in done) - min(j.started_at for j in done)).total_seconds()
    per_job = [(j.ended_at - j.started_at).total_seconds() * 1e3 for j in done]
    return {
        "worker": label,
        "jobs": jobs,
        "tasks_per_s": round(jobs / span, 1),
        "median_job_ms": round(statistics.median(per_job), 2),
        "wall_s_including_startup": round(wall, 2),
    }


def measure_tasks(module: Any, args: Any, trips: RoundTrips, env: dict, client: Any) -> dict:
    """Section 3: @task enqueue cost and worker throughput, each backend present."""
    present = [row for row in TASK_WORKERS if hasattr(module, row[1])]
    enqueues, seen = [], set()
    for label, name, _flags in present:
        if name in seen:
            continue
        seen.add(name)
        task = getattr(module, name)
        backend = label.split(" + ")[0]
        enqueues.append(
            measure_send(
                f"{backend} Task.enqueue()",
                lambda task=task: task.enqueue(**PAYLOAD),
                args.sends,
                trips,
                client,
            )
        )
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label, _, _ in present}
    for _ in range(args.rounds):
        for label, name, flags in present:
            runs[label].append(
                task_throughput(label, getattr(module, name), flags, args.jobs, env, client)
            )
    workers = [
        {
            **max(found, key=lambda run: run["tasks_per_s"]),
            "all_rounds_tasks_per_s": [run["tasks_per_s"] for run in found],
        }
        for found in runs.values()
    ]
    return {"enqueue": enqueues, "workers": workers}


# -- main ---------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sends", type=int, default=2000, help="send() calls per variant")
    parser.add_argument("--jobs", type=int, default=600, help="jobs per worker run")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each worker class")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--no-tasks", action="store_true", help="skip section 3 (django.tasks)")
    args = parser.parse_args()
    began = time.perf_counter()

    sys.path.insert(0, str(ROOT))
    from floorkit.delivery.embedded_redis import EmbeddedRedis

    server = EmbeddedRedis(port=0)
    url = server.start()
    database = tempfile.NamedTemporaryFile(prefix="floorkit-bench-", suffix=".sqlite3")
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="bench.tasks_settings",
        FLOORKIT_REDIS_URL=url,
        FLOORKIT_TEST_DB=database.name,
        # tracing's batched writes (one per 100 ms per process, in a background
        # thread) are not part of send(): measured separately by bench_overhead.py
        FLOORKIT_TEST_OVERRIDES=json.dumps({"SIGNAL_MODULES": [MODULE], "TRACE": False}),
        FLOORKIT_ASYNC_RUN_MODE="async",
        PYTHONPATH=str(ROOT),
    )
    os.environ.update(env)
    try:
        import django

        django.setup()
        import django_rq
        import redis
        from rq.serializers import JSONSerializer

        module = importlib.import_module(MODULE)  # as Django imported it, not __main__
        signal, noop = module.ping, module.noop
        assert signal.name == f"{MODULE}.ping", signal.name
        client = redis.Redis.from_url(url)
        warm_queue = django_rq.get_queue("default", serializer=JSONSerializer)
        trips = RoundTrips()
        sends = [
            measure_send(
                "AsyncSignal.send()", lambda: signal.send(**PAYLOAD), args.sends, trips, client
            ),
            measure_send(
                "django_rq.enqueue()",
                lambda: django_rq.enqueue(noop, **PAYLOAD),
                args.sends,
                trips,
                client,
            ),
            measure_send(
                "queue.enqueue() (warm queue, JSON)",
                lambda: warm_queue.enqueue(noop, **PAYLOAD),
                args.sends,
                trips,
                client,
            ),
        ]
        tasks = None
        if not args.no_tasks:
            tasks = measure_tasks(module, args, trips, env, client)
        trips.close()
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in WORKER_CLASSES}
        for _ in range(args.rounds):
            for name, found in runs.items():
                found.append(worker_throughput(name, args.jobs, env, client))
        workers = [
            {
                **max(found, key=lambda run: run["signals_per_s"]),
                "all_rounds_signals_per_s": [run["signals_per_s"] for run in found],
            }
            for found in runs.values()
        ]
        client.close()
    finally:
        server.stop()
        database.close()

    by_class = {row["worker_class"]: row["signals_per_s"] for row in workers}
    ratio = by_class["floorkit.jobs.worker.SimpleWorker"] / by_class["rq.Worker"]
    figures = {
        "send": sends,
        "workers": workers,
        "tasks": tasks,
        "recommended_over_rq_default": round(ratio, 2),
        "targets": {
            "send_at_most_one_round_trip": sends[0]["round_trips_per_call"] <= 1,
            "recommended_worker_at_least_5x": ratio >= 5,
        },
        "python": sys.version.split()[0],
        "seconds": round(time.perf_counter() - began, 1),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"send() cost, {args.sends} calls each, payload {json.dumps(PAYLOAD)}")
    print(f"  {'variant':38} {'µs/call':>9} {'round trips':>12} {'commands':>9} {'1st call':>9}")
    for row in sends:
        print(
            f"  {row['variant']:38} {row['us_per_call']:9.1f} "
            f"{row['round_trips_per_call']:12.2f} {row['commands_per_call']:9.2f} "
            f"{row['first_call_round_trips']:9d}"
        )
    print(
        f"worker throughput, {args.jobs} signals per run, best of {args.rounds} "
        "(one no-op receiver)"
    )
    for row in workers:
        rounds = ", ".join(f"{value:.1f}" for value in row["all_rounds_signals_per_s"])
        print(
            f"  {row['worker_class']:38} {row['signals_per_s']:9.1f} signals/s  "
            f"median job {row['median_job_ms']:.2f} ms  (rounds: {rounds})"
        )
    baseline = by_class["rq.Worker"]
    print(
        "  ratios to rq.Worker: "
        + ", ".join(f"{name} {value / baseline:.2f}x" for name, value in by_class.items())
    )
    print(
        f"  recommended (floorkit.jobs.worker.SimpleWorker) / RQ's default (rq.Worker): {ratio:.2f}x"
    )
    if tasks:
        print(f"django.tasks: Task.enqueue() cost, {args.sends} calls each, same payload")
        for row in tasks["enqueue"]:
            print(
                f"  {row['variant']:38} {row['us_per_call']:9.1f} "
                f"{row['round_trips_per_call']:12.2f} {row['commands_per_call']:9.2f} "
                f"{row['first_call_round_trips']:9d}"
            )
        print(
            f"django.tasks: worker throughput, {args.jobs} no-op tasks per run, best of {args.rounds}"
        )
        for row in tasks["workers"]:
            rounds = ", ".join(f"{value:.1f}" for value in row["all_rounds_tasks_per_s"])
            print(
                f"  {row['worker']:44} {row['tasks_per_s']:9.1f} tasks/s  "
                f"median job {row['median_job_ms']:.2f} ms  (rounds: {rounds})"
            )
    print(f"targets: {figures['targets']}  ({figures['seconds']} s)")


if __name__ == "__main__":
    main()
