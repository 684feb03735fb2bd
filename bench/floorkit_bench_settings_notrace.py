"""The benchmark's floorkit settings with tracing off (bench/bench_overhead.py)."""

from floorkit_bench_settings import *  # noqa: F403
from floorkit_bench_settings import FLOORKIT

FLOORKIT = {**FLOORKIT, "TRACE": False}
