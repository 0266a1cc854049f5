"""Settings of the worker and command subprocesses that judges' worker tests start.

The project's settings plus a queue of the test's own, so a worker under test on a shared Redis
never takes another process's messages and no other worker takes its messages; and the judge
tunables (judges.conf) from the environment, so a fault test can shrink the waits.
"""

import os

from concord.settings import *  # noqa: F403

CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CONCORD_TEST_QUEUE", "celery")

for _name in (
    "JUDGE_CLIENT_ATTEMPTS",
    "JUDGE_CLIENT_BACKOFF_S",
    "JUDGE_TASK_RETRIES",
    "JUDGE_TASK_BACKOFF_S",
    "JUDGE_BUSY_RETRY_S",
    "JUDGE_WATCH_INTERVAL_S",
):
    if _name in os.environ:
        globals()[_name] = float(os.environ[_name])

if os.environ.get("CONCORD_WORKER_READY_FILE"):
    # Lets a benchmark start its clock once the worker consumes, not while it is still booting.
    from pathlib import Path
    from typing import Any

    from celery.signals import worker_ready

    def _touch_ready_file(**_: Any) -> None:
        Path(os.environ["CONCORD_WORKER_READY_FILE"]).touch()

    worker_ready.connect(_touch_ready_file, weak=False)
