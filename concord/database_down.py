"""Answers 503 while the database cannot be reached, instead of a stack trace or a bare 500.

A request that meets a lost connection (PostgreSQL restarting, a failover) fails at once with a
message saying to retry; Django closes the broken connection when the request ends, so the next
request opens a new one and the app recovers without a restart.
"""

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger(__name__)

MESSAGE = "The database is unavailable for a moment; nothing was saved. Try again shortly."
RETRY_AFTER_S = "5"


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        logger.warning(
            "database unavailable during %s %s: %s", request.method, request.path, exception
        )
        response: HttpResponse
        if request.path.startswith("/api/"):
            response = JsonResponse({"detail": MESSAGE}, status=503)
        else:
            response = HttpResponse(MESSAGE, status=503, content_type="text/plain; charset=utf-8")
        response["Retry-After"] = RETRY_AFTER_S
        return response
