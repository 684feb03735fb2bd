"""
A site with ``RQ_QUEUES`` and no ``RQ`` setting: ``manage.py rqworker`` runs
floorkit's JSON jobs, django-rq's admin shows them decoded, and a worker that
reads pickle fails them with a text naming the fix.
"""

import json
import subprocess
import sys
from types import SimpleNamespace

from django.core import checks
from rq.job import Job
from rq.serializers import JSONSerializer

from floorkit import call
from floorkit.async_signals.job import JOB_FUNCTION
from floorkit.jobs import rq_defaults
from tests.conftest import ROOT, reports, subprocess_env
from tests.testapp.async_signals import everything
from tests.testapp.models import Order

ADMIN_VIEW = """
import json
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django_rq.queues import get_queue_by_index
from django_rq.settings import get_queues_map
from rq.job import Job

client = Client(HTTP_HOST="localhost")
client.force_login(get_user_model().objects.get(username="staff"))
out = {}
index = get_queues_map()["default"]
queue = get_queue_by_index(index)
for job_id in JOB_IDS:
    detail = client.get(reverse("admin:django_rq_job_detail", args=[index, job_id]))
    result_id = Job.fetch(job_id, connection=queue.connection, serializer=queue.serializer).latest_result().id
    result = client.get(reverse("admin:django_rq_result_detail", args=[index, job_id, result_id]))
    out[job_id] = [detail.status_code, detail.content.decode(), result.status_code, result.content.decode()]
print(json.dumps(out))
"""


def manage_no_rq(*args: str, worker_class: str = "") -> subprocess.CompletedProcess:
    """``manage.py`` on the site without ``RQ`` (``tests/settings_no_rq.py``)."""
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env={
            **subprocess_env(FLOORKIT_TEST_WORKER_CLASS=worker_class),
            "DJANGO_SETTINGS_MODULE": "tests.settings_no_rq",
        },
        capture_output=True,
        text=True,
        timeout=90,
    )


def test_rqworker_without_rq_setting_runs_jobs_and_admin_shows_them(
    redis_client, redis_server, transactional_db, django_user_model
):
    django_user_model.objects.create_superuser("staff", "staff@example.com", "pw")
    order = Order.objects.create(number="A-1")
    delayed = call("tests.delayed", value=5, label="x").jobs[0]
    signal_job = everything.send(sender=Order, order=order)

    worker = manage_no_rq("rqworker", "--burst", "default")
    assert worker.returncode == 0, worker.stderr
    assert "DeserializationError" not in worker.stderr + worker.stdout
    (done,) = reports(redis_client, "delayed")
    assert done["value"] == 5 and done["label"] == "x"
    (seen,) = reports(redis_client, "everything")
    assert seen["kwargs"]["order"]["fields"]["number"] == "'A-1'"  # the row, fetched by the worker
    for job_id in (delayed, signal_job):
        job = Job.fetch(job_id, connection=redis_client, serializer=JSONSerializer)
        assert job.get_status() == "finished"

    script = ADMIN_VIEW.replace("JOB_IDS", json.dumps([delayed, signal_job]))
    shown = manage_no_rq("shell", "-c", script)
    assert shown.returncode == 0, shown.stderr
    pages = json.loads(shown.stdout.strip().splitlines()[-1])
    status, page, result_status, result = pages[signal_job]
    assert status == 200 and result_status == 200
    assert "DeserializationError" not in page
    assert JOB_FUNCTION in page  # the callable
    assert everything.name in page  # its arguments: the signal's name
    assert "tests.testapp.async_signals.on_everything" in result  # its result: the receivers
    status, page, result_status, result = pages[delayed]
    assert status == 200 and "DeserializationError" not in page
    assert "floorkit.jobs.run_handler" in page and "tests.delayed" in page
    assert result_status == 200 and "&#x27;value&#x27;: 5" in result


def test_pickle_worker_fails_floorkit_jobs_naming_the_fix(
    redis_client, redis_server, transactional_db
):
    job_id = call("tests.delayed", value=1).jobs[0]
    worker = manage_no_rq("rqworker", "--burst", "default", worker_class="rq.SimpleWorker")
    assert worker.returncode == 0, worker.stderr
    assert reports(redis_client, "delayed") == []
    job = Job.fetch(job_id, connection=redis_client, serializer=JSONSerializer)
    assert job.get_status() == "failed"
    failure = job.latest_result().exc_string
    assert "could not be read with rq.serializers" in failure
    assert "floorkit's jobs are JSON" in failure
    assert "--serializer rq.serializers.JSONSerializer" in failure


def test_users_own_settings_are_kept():
    site = SimpleNamespace(
        RQ={"WORKER_CLASS": "rq.SimpleWorker", "JOB_CLASS": "myapp.Job"},
        RQ_QUEUES={"default": {"URL": "redis://x"}, "own": {"SERIALIZER": "myapp.Serializer"}},
    )
    rq_defaults.apply(site)
    assert site.RQ == {"WORKER_CLASS": "rq.SimpleWorker", "JOB_CLASS": "myapp.Job"}
    assert site.RQ_QUEUES["default"]["SERIALIZER"] == "rq.serializers.JSONSerializer"
    assert site.RQ_QUEUES["own"]["SERIALIZER"] == "myapp.Serializer"
    bare = SimpleNamespace(RQ_QUEUES={})
    rq_defaults.apply(bare)
    assert bare.RQ["WORKER_CLASS"] == "floorkit.jobs.worker.SimpleWorker"


def test_w003_names_a_worker_class_that_reads_pickle(settings, redis_server):
    settings.RQ = {"WORKER_CLASS": "rq.SimpleWorker"}
    (warning,) = [m for m in checks.run_checks() if m.id == "floorkit.W003"]
    assert "rq.SimpleWorker is not a floorkit worker" in warning.msg
    assert "--serializer rq.serializers.JSONSerializer" in warning.hint
    settings.RQ = {"WORKER_CLASS": "floorkit.jobs.worker.ForkingWorker"}
    assert [m for m in checks.run_checks() if m.id == "floorkit.W003"] == []
