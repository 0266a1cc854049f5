"""Calls to a judge's OpenAI-compatible endpoint through the official `openai` client.

The client's own retries are off: we retry here, with exponential backoff and jitter, on 429,
5xx, timeouts and connection errors, waiting at least what Retry-After asks. Every attempt, the
first and each retry, first takes its slot from the caller's `pace` (the shared rate limiter),
and a Retry-After is reported through `on_retry_after` so every worker holds back, not only this
one. Errors that retrying cannot fix end at once with a message a user can act on; those that
no other call of the judge can get past either (a missing or wrong key, an unknown model or
endpoint) say so with `stops_run`.
"""

from __future__ import annotations

import functools
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import openai

from judges import conf
from judges.models import Judge

BACKOFF_MAX_S = 60.0
# The openai client refuses an empty key; a local server that checks none ignores this one.
NO_KEY = "no-key-needed"
# Refusals that every request of the judge would get: a wrong key, no access, no such model or
# endpoint. Any other 4xx is about this request.
RUN_STOPPING_STATUSES = frozenset({401, 403, 404})


@dataclass(frozen=True)
class Reply:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    attempts: int


class JudgeCallError(Exception):
    """A call that did not get an answer.

    `transient`: trying later may help (after at least `retry_after` seconds when the server
    said). `stops_run`: no call of this judge can succeed until someone fixes its configuration.
    """

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        attempts: int = 0,
        retry_after: float | None = None,
        stops_run: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.attempts = attempts
        self.retry_after = retry_after
        self.stops_run = stops_run


def call_cost(judge: Judge, *, prompt_tokens: int, completion_tokens: int) -> Decimal:
    """USD, rounded to the micro-dollar the ledger columns keep, so sums add up exactly."""
    million = Decimal(1_000_000)
    cost = (
        Decimal(prompt_tokens) * judge.price_in / million
        + Decimal(completion_tokens) * judge.price_out / million
    )
    return cost.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def _client(judge: Judge) -> openai.OpenAI:
    if not judge.api_key_env:
        api_key = NO_KEY
    else:
        api_key = os.environ.get(judge.api_key_env, "")
        if not api_key:
            raise JudgeCallError(
                f"no API key for judge {judge.name}: set the environment variable "
                f"{judge.api_key_env} where the workers run",
                transient=False,
                stops_run=True,
            )
    return _openai_client(judge.base_url, api_key, judge.timeout_s)


@functools.lru_cache(maxsize=32)
def _openai_client(base_url: str, api_key: str, timeout_s: float) -> openai.OpenAI:
    """One client per endpoint, key and timeout in a process: creating one loads the system's
    CA certificates (tens of milliseconds), and a client keeps its connections alive between
    calls. The openai client is safe to share between threads."""
    return openai.OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=timeout_s)


def _retry_after(error: openai.APIStatusError) -> float | None:
    value = error.response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def backoff_seconds(
    attempt: int,
    retry_after: float | None,
    rng: random.Random,
    *,
    base_s: float = 1.0,
    max_s: float = BACKOFF_MAX_S,
) -> float:
    """Exponential backoff with full jitter, never shorter than the server's Retry-After."""
    backoff = rng.uniform(0, min(max_s, base_s * 2 ** (attempt - 1)))
    return max(backoff, retry_after or 0.0) + (rng.uniform(0, 0.25) if retry_after else 0.0)


def chat(
    judge: Judge,
    messages: list[dict[str, str]],
    *,
    max_attempts: int | None = None,
    pace: Callable[[], object] | None = None,
    on_retry_after: Callable[[float], object] | None = None,
    sleep: Callable[[float], None] | None = None,
    rng: random.Random | None = None,
) -> Reply:
    """One judge answer for `messages`, retrying transient failures up to `max_attempts` times.

    `pace()` is called before every attempt (it waits for a rate-limit slot); `on_retry_after(s)`
    when the server asks for s seconds of quiet. A Retry-After longer than
    conf.inline_wait_max_s() ends the attempts at once (transient, with its retry_after).
    """
    client = _client(judge)
    max_attempts = max_attempts or conf.client_attempts()
    sleep = sleep or time.sleep
    rng = rng or random.Random()
    last_error = ""
    retry_after: float | None = None
    for attempt in range(1, max_attempts + 1):
        if pace is not None:
            pace()
        started = time.monotonic()
        retry_after = None
        try:
            response = client.chat.completions.create(
                model=judge.model,
                messages=messages,  # type: ignore[arg-type]
                temperature=judge.temperature,
                max_tokens=judge.max_tokens,
            )
        except openai.AuthenticationError:
            where = (
                f"check the environment variable {judge.api_key_env}"
                if judge.api_key_env
                else "the endpoint wants a key: name its environment variable in the judge"
            )
            raise JudgeCallError(
                f"authentication failed for judge {judge.name}: {where}",
                transient=False,
                attempts=attempt,
                stops_run=True,
            ) from None
        except openai.APITimeoutError:
            last_error = f"timed out after {judge.timeout_s:g} s"
        except openai.APIConnectionError as error:
            last_error = f"could not connect to {judge.base_url}: {error.message}"
        except openai.APIStatusError as error:
            if error.status_code != 429 and error.status_code < 500:
                raise JudgeCallError(
                    f"judge {judge.name} refused the request (HTTP {error.status_code}): "
                    f"{error.message}",
                    transient=False,
                    attempts=attempt,
                    stops_run=error.status_code in RUN_STOPPING_STATUSES,
                ) from None
            last_error = f"HTTP {error.status_code}: {error.message}"
            retry_after = _retry_after(error)
            if retry_after and on_retry_after is not None:
                on_retry_after(retry_after)
            if retry_after and retry_after > conf.inline_wait_max_s():
                raise JudgeCallError(
                    f"judge {judge.name} asked to retry after {retry_after:g} s: {last_error}",
                    transient=True,
                    attempts=attempt,
                    retry_after=retry_after,
                ) from None
        else:
            choice = response.choices[0] if response.choices else None
            usage = response.usage
            return Reply(
                text=(choice.message.content or "") if choice else "",
                prompt_tokens=usage.prompt_tokens if usage else 0,
                completion_tokens=usage.completion_tokens if usage else 0,
                latency_ms=int((time.monotonic() - started) * 1000),
                attempts=attempt,
            )
        if attempt < max_attempts:
            sleep(backoff_seconds(attempt, retry_after, rng, base_s=conf.client_backoff_s()))
    raise JudgeCallError(
        f"judge {judge.name} gave no answer after {max_attempts} attempts: {last_error}",
        transient=True,
        attempts=max_attempts,
        retry_after=retry_after,
    )
