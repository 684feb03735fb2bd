"""Settings of the floorkit peer in the benchmark: the demo project, its
``bench.*`` signals, and no per-connection rate limit (it would cap the load)."""

from demo_project.settings import *  # noqa: F403
from demo_project.settings import FLOORKIT

FLOORKIT = {**FLOORKIT, "RATE_LIMIT": 0, "SIGNAL_MODULES": ["floorkit_bench_signals"]}
DEBUG = False
LOGGING = {"version": 1, "disable_existing_loggers": False}
