"""Failed logins are counted per (username, client address); past the limit both ways in answer 429.

The login page and the token endpoint share one counter in Django's cache, so an attacker cannot
switch between them. The window is fixed from the first failure; a successful login clears it.
While blocked even the right password is refused, without checking it, so the answer tells
nothing about the password. The address follows DRF's NUM_PROXIES rule (settings.py).
"""

import hashlib
import math
import time
from typing import Any, NoReturn

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from rest_framework import exceptions
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

BLOCKED = "Too many failed logins for this username from your address."


def client_address(request: HttpRequest | Request) -> str:
    # get_ident reads only `headers` and `META`, which both kinds of request have.
    return BaseThrottle().get_ident(request) or ""  # type: ignore[arg-type]


def _keys(*, username: str, address: str) -> tuple[str, str]:
    # Hashed: usernames are user input of any length and characters.
    digest = hashlib.sha256(f"{username.casefold()}\0{address}".encode()).hexdigest()
    return f"login-failures:{digest}", f"login-failures-since:{digest}"


def login_blocked_for(*, username: str, address: str) -> int:
    """Seconds until this username may try again from this address; 0 when not blocked."""
    count_key, since_key = _keys(username=username, address=address)
    values = cache.get_many([count_key, since_key])
    if values.get(count_key, 0) < settings.LOGIN_FAILURE_LIMIT:
        return 0
    since = values.get(since_key, time.time())
    return max(1, math.ceil(since + settings.LOGIN_FAILURE_WINDOW_S - time.time()))


def login_failure_record(*, username: str, address: str) -> None:
    count_key, since_key = _keys(username=username, address=address)
    window = settings.LOGIN_FAILURE_WINDOW_S
    cache.add(since_key, time.time(), window)
    cache.add(count_key, 0, window)
    try:
        cache.incr(count_key)  # atomic in Redis; keeps the key's expiry
    except ValueError:  # expired between add and incr: a new window starts
        cache.set(count_key, 1, window)


def login_failures_clear(*, username: str, address: str) -> None:
    cache.delete_many(list(_keys(username=username, address=address)))


def _minutes(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


class ThrottledLoginView(LoginView):
    """Django's login page, answering 429 with the wait time once the failure limit is reached."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        username = str(request.POST.get("username", ""))
        wait = login_blocked_for(username=username, address=client_address(request))
        if not wait:
            return super().post(request, *args, **kwargs)
        messages.error(request, f"{BLOCKED} Try again in {_minutes(wait)}.")
        # An unbound form: validating the posted one would check the password.
        form = self.get_form_class()(request, initial={"username": username})
        response = self.render_to_response(self.get_context_data(form=form), status=429)
        response["Retry-After"] = str(wait)
        return response

    def form_invalid(self, form: Any) -> HttpResponse:
        username = str(self.request.POST.get("username", ""))
        login_failure_record(username=username, address=client_address(self.request))
        return super().form_invalid(form)

    def form_valid(self, form: Any) -> HttpResponse:
        username = str(self.request.POST.get("username", ""))
        login_failures_clear(username=username, address=client_address(self.request))
        return super().form_valid(form)


def _posted_username(request: Request) -> str:
    data = request.data
    return str(data.get("username", "")) if hasattr(data, "get") else ""


class LoginFailureThrottle(BaseThrottle):
    """Refuses a token request while its (username, address) is over the failure limit."""

    def allow_request(self, request: Request, view: APIView) -> bool:
        self.wait_s = login_blocked_for(
            username=_posted_username(request), address=client_address(request)
        )
        return self.wait_s == 0

    def wait(self) -> float | None:
        return self.wait_s or None


class ThrottledObtainAuthToken(ObtainAuthToken):
    """DRF's token endpoint, counting refused credentials against the shared limit."""

    throttle_classes = (LoginFailureThrottle,)

    def throttled(self, request: Request, wait: float | None) -> NoReturn:
        raise exceptions.Throttled(wait=wait, detail=BLOCKED)

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        username, address = _posted_username(request), client_address(request)
        try:
            response = super().post(request, *args, **kwargs)
        except exceptions.ValidationError:
            login_failure_record(username=username, address=address)
            raise
        login_failures_clear(username=username, address=address)
        return response
