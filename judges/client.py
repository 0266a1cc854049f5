"""Calls to a judge's OpenAI-compatible endpoint through the official `openai` client.

The client's own retries are off: we retry here, with exponential backoff and jitter, on 429,
5xx, timeouts and connection errors, waiting at least what Retry-After asks. Errors that retrying
cannot fix (a wrong key, a bad request) end at once with a message a user can act on.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import openai

from judges.models import Judge

MAX_ATTEMPTS = 4
BACKOFF_BASE_S = 1.0
BACKOFF_MAX_S = 60.0


@dataclass(frozen=True)
class Reply:
    text: str
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    attempts: int


class JudgeCallError(Exception):
    """A call that did not get an answer; `transient` says whether trying later may help."""

    def __init__(self, message: str, *, transient: bool, attempts: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.attempts = attempts


def call_cost(judge: Judge, *, prompt_tokens: int, completion_tokens: int) -> Decimal:
    """USD, rounded to the micro-dollar the ledger columns keep, so sums add up exactly."""
    million = Decimal(1_000_000)
    cost = (
        Decimal(prompt_tokens) * judge.price_in / million
        + Decimal(completion_tokens) * judge.price_out / million
    )
    return cost.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def _client(judge: Judge) -> openai.OpenAI:
    api_key = os.environ.get(judge.api_key_env)
    if not api_key:
        raise JudgeCallError(
            f"no API key for judge {judge.name}: set the environment variable {judge.api_key_env}",
            transient=False,
        )
    return openai.OpenAI(
        base_url=judge.base_url, api_key=api_key, max_retries=0, timeout=judge.timeout_s
    )


def _retry_after(error: openai.APIStatusError) -> float | None:
    value = error.response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def backoff_seconds(attempt: int, retry_after: float | None, rng: random.Random) -> float:
    """Exponential backoff with full jitter, never shorter than the server's Retry-After."""
    backoff = rng.uniform(0, min(BACKOFF_MAX_S, BACKOFF_BASE_S * 2 ** (attempt - 1)))
    return max(backoff, retry_after or 0.0) + (rng.uniform(0, 0.25) if retry_after else 0.0)


def chat(
    judge: Judge,
    messages: list[dict[str, str]],
    *,
    max_attempts: int = MAX_ATTEMPTS,
    sleep: Callable[[float], None] | None = None,
    rng: random.Random | None = None,
) -> Reply:
    """One judge answer for `messages`, retrying transient failures up to `max_attempts` times."""
    client = _client(judge)
    sleep = sleep or time.sleep
    rng = rng or random.Random()
    last_error = ""
    for attempt in range(1, max_attempts + 1):
        started = time.monotonic()
        retry_after: float | None = None
        try:
            response = client.chat.completions.create(
                model=judge.model,
                messages=messages,  # type: ignore[arg-type]
                temperature=judge.temperature,
                max_tokens=judge.max_tokens,
            )
        except openai.AuthenticationError:
            raise JudgeCallError(
                f"authentication failed for judge {judge.name}: "
                f"check the environment variable {judge.api_key_env}",
                transient=False,
                attempts=attempt,
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
                ) from None
            last_error = f"HTTP {error.status_code}: {error.message}"
            retry_after = _retry_after(error)
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
            sleep(backoff_seconds(attempt, retry_after, rng))
    raise JudgeCallError(
        f"judge {judge.name} gave no answer after {max_attempts} attempts: {last_error}",
        transient=True,
        attempts=max_attempts,
    )
