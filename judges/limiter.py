"""A rate limiter shared by every worker, kept in the database.

Each request takes the next free slot of its judge: requests are spaced 60/rpm seconds apart and
tokens are paid for at tpm/60 per second, so no sliding minute ever holds more than the limits
allow (a server counting over a sliding window never has to answer 429). The slot is reserved
under select_for_update, which serialises workers on PostgreSQL and on SQLite alike; the caller
then sleeps outside the transaction until its slot comes.

A server's Retry-After holds every worker back (limiter_defer), judges without limits included:
one 429 then costs one wait for the fleet instead of one 429 per worker.
"""

import time

from django.db import transaction

from judges.models import Judge, JudgeLimiter

# Pace slightly under the limits: network jitter can bring two requests a slot apart closer
# together at the server, and the last request of a minute may carry more tokens than are left.
HEADROOM = 0.97


def limiter_reserve(*, judge: Judge, tokens: int, now: float | None = None) -> float:
    """Reserve a slot for one request of `tokens` tokens; return the seconds to wait for it."""
    now = time.time() if now is None else now
    if not judge.rpm and not judge.tpm:
        # No slots to take, only a Retry-After deferral to respect (no row: none ever asked).
        held = (
            JudgeLimiter.objects.filter(judge=judge)
            .values_list("next_request_at", flat=True)
            .first()
        )
        return max(0.0, (held or 0.0) - now)
    with transaction.atomic():
        JudgeLimiter.objects.get_or_create(judge=judge)
        slot = JudgeLimiter.objects.select_for_update().get(judge=judge)
        start = max(now, slot.next_request_at, slot.next_tokens_at)
        if judge.rpm:
            slot.next_request_at = start + 60.0 / (judge.rpm * HEADROOM)
        if judge.tpm:
            slot.next_tokens_at = start + 60.0 * min(tokens, judge.tpm) / (judge.tpm * HEADROOM)
        slot.save(update_fields=["next_request_at", "next_tokens_at"])
    return start - now


def limiter_defer(*, judge: Judge, seconds: float, now: float | None = None) -> None:
    """Let no request of this judge start in the next `seconds` (the server said Retry-After)."""
    until = (time.time() if now is None else now) + seconds
    JudgeLimiter.objects.get_or_create(judge=judge)
    JudgeLimiter.objects.filter(judge=judge, next_request_at__lt=until).update(
        next_request_at=until
    )


def limiter_wait(*, judge: Judge, tokens: int) -> float:
    """Reserve a slot and sleep until it comes; return the seconds slept."""
    wait = limiter_reserve(judge=judge, tokens=tokens)
    if wait > 0:
        time.sleep(wait)
    return wait
