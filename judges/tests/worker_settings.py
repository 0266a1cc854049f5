"""Settings of the worker and command subprocesses that judges' worker tests start.

The project's settings plus a queue of the test's own, so a worker under test on a shared Redis
never takes another process's messages and no other worker takes its messages.
"""

import os

from concord.settings import *  # noqa: F403

CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CONCORD_TEST_QUEUE", "celery")
