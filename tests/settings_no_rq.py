"""The test settings less ``RQ``: a site that sets nothing but ``RQ_QUEUES``
(``tests/test_rqworker_defaults.py``). ``$FLOORKIT_TEST_WORKER_CLASS``, when
set, becomes ``RQ["WORKER_CLASS"]``: a user's own worker class."""

import os

from tests.settings import *  # noqa: F403

del RQ  # noqa: F821
if os.environ.get("FLOORKIT_TEST_WORKER_CLASS"):
    RQ = {"WORKER_CLASS": os.environ["FLOORKIT_TEST_WORKER_CLASS"]}
