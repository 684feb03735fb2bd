"""
Old import path of floorkit's worker classes, kept for one release so that
settings such as ``RQ = {"WORKER_CLASS": "floorkit.worker.SimpleWorker"}``
keep working. New code names ``floorkit.jobs.worker``.
"""

from floorkit.jobs.worker import FloorkitJob, ForkingWorker, SimpleWorker

__all__ = ["FloorkitJob", "ForkingWorker", "SimpleWorker"]
