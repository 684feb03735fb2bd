"""
Import paths kept for jobs and settings written before the package was split:
they must keep naming the same objects as the new homes.
"""

from django.utils.module_loading import import_string

from floorkit.async_signals.job import JOB_FUNCTION, run_receivers
from floorkit.async_signals.signal import AsyncSignal


def test_old_worker_module_names_the_same_worker_classes():
    from floorkit import worker
    from floorkit.jobs import worker as jobs_worker

    assert worker.SimpleWorker is jobs_worker.SimpleWorker
    assert worker.ForkingWorker is jobs_worker.ForkingWorker
    assert worker.FloorkitJob is jobs_worker.FloorkitJob
    # what RQ = {"WORKER_CLASS": ...} settings name
    assert import_string("floorkit.worker.SimpleWorker") is jobs_worker.SimpleWorker


def test_delayed_handler_job_function_is_importable():
    from floorkit.jobs.handler_jobs import run_handler

    assert import_string("floorkit.jobs.run_handler") is run_handler


def test_old_async_signal_job_function_is_the_new_one():
    assert import_string("floorkit.async_signal.deliver") is run_receivers
    assert import_string(JOB_FUNCTION) is run_receivers
    assert import_string("floorkit.async_signal.AsyncSignal") is AsyncSignal


def test_middleware_imports():
    from floorkit.middleware import SignalRequestMiddleware

    assert import_string("floorkit.middleware.SignalRequestMiddleware") is SignalRequestMiddleware
