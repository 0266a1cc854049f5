"""GET /healthz: is this process able to serve, i.e. can it reach the database and the broker?

For load balancers and container healthchecks, so no login. The answer names only what failed
(`{"database": "ok", "broker": "unavailable"}`, 503); the reason (which may name hosts) goes to the
log, never into the response.
"""

import logging
import os

import kombu.exceptions
from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from concord.celery import app

logger = logging.getLogger(__name__)

OK = "ok"
UNAVAILABLE = "unavailable"
# A probe must answer well within a healthcheck's own timeout (docker's default is 30 s).
BROKER_CONNECT_TIMEOUT_S = 2.0


def database_check() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as error:
        logger.warning("healthz: database unavailable: %s", error)
        return UNAVAILABLE
    return OK


def broker_check() -> str:
    """Connect to the Celery broker once (one quick retry), as a publish would.

    kombu's filesystem transport connects to anything, so its folders are checked as well.
    """
    try:
        with app.connection_for_write(connect_timeout=BROKER_CONNECT_TIMEOUT_S) as conn:
            conn.ensure_connection(
                max_retries=1,
                interval_start=0.1,
                interval_step=0.1,
                timeout=BROKER_CONNECT_TIMEOUT_S,
            )
            if conn.transport_cls == "filesystem":
                options = conn.transport_options
                for key in ("data_folder_in", "data_folder_out"):
                    folder = options.get(key)
                    if not folder or not os.access(folder, os.W_OK | os.X_OK):
                        raise OSError(f"broker folder {folder!r} is missing or not writable")
    except (kombu.exceptions.KombuError, OSError) as error:
        logger.warning("healthz: broker unavailable: %s", error)
        return UNAVAILABLE
    return OK


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    checks = {"database": database_check(), "broker": broker_check()}
    healthy = all(value == OK for value in checks.values())
    return JsonResponse(checks, status=200 if healthy else 503)
