"""The progress of an import that runs inside an upload request, for the upload page to poll.

The import itself stays one request and one transaction (nothing is half-written); what it
reports through its `progress` callback is kept in Django's cache under a key made of the
project, the uploading user and an id the page chose, so a second request of the same user can
read it while the first runs. The cache is shared between server processes when REDIS_URL is
set (production); the embedded default's in-process cache serves one process's requests.
"""

import re
import time
from typing import Any

from django.contrib.auth.models import User
from django.core.cache import cache

from annotate.models import Project
from annotate.services.import_common import ImportProgress, no_progress

UPLOAD_ID = re.compile(r"[A-Za-z0-9-]{8,64}")
# Progress outlives no import by long; an abandoned entry expires on its own.
TTL_SECONDS = 3600
# At most one cache write per interval for one stage; a new stage is always written.
MIN_INTERVAL_S = 0.2

STAGE_LABELS = {
    "reading": "Reading the file",
    "checking": "Checking the rows against the project",
    "writing prompts": "Writing prompts",
    "writing completions": "Writing completions",
    "writing pairs": "Writing pairs",
    "writing ratings": "Writing ratings",
    "committing": "Committing",
    "done": "Done",
}


def _key(*, project: Project, user: User, upload_id: str) -> str | None:
    if not UPLOAD_ID.fullmatch(upload_id):
        return None
    return f"import-progress:{project.pk}:{user.pk}:{upload_id}"


def import_progress_reporter(*, project: Project, user: User, upload_id: str) -> ImportProgress:
    """A progress callback for import_file that keeps the latest state in the cache.

    An upload without a well-formed id (a script, a page without JavaScript) reports nowhere.
    """
    key = _key(project=project, user=user, upload_id=upload_id)
    if key is None:
        return no_progress
    last: dict[str, Any] = {"stage": None, "at": 0.0}

    def report(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if stage == last["stage"] and now - last["at"] < MIN_INTERVAL_S:
            return
        last.update(stage=stage, at=now)
        cache.set(key, {"stage": stage, "done": done, "total": total}, TTL_SECONDS)

    return report


def import_progress_get(*, project: Project, user: User, upload_id: str) -> dict[str, Any]:
    """The latest progress of the user's upload `upload_id`, with a label for the page.

    "waiting" until the import reports: the file is still being uploaded, or another server
    process without a shared cache runs it.
    """
    key = _key(project=project, user=user, upload_id=upload_id)
    state = (cache.get(key) if key else None) or {"stage": "waiting", "done": 0, "total": 0}
    label = STAGE_LABELS.get(state["stage"], "Uploading the file")
    if state["total"] and state["stage"] not in ("checking", "done"):
        label += f": {state['done']:,} of {state['total']:,}"
    elif state["stage"] == "reading":
        label += f": {state['done']:,} rows"
    return {**state, "label": label}
