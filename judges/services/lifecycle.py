"""What the run services and the call service share: claims, budget release, take-over, the end
of a run and its routing.

Locking order, everywhere: the run's row first (select_for_update), then its calls' rows. The
claim, every change of a reservation and every take-over hold the run's row, so a call's
reservation is released exactly once whoever gets there first.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from annotate.models import Pair
from annotate.scale import canonical_preference, verdict_of
from judges import conf
from judges.models import CallStatus, JudgeCall, JudgeRun, Orders, RunStatus

# Pair priorities set by routing: inconsistent across orders first, then weakly split pairs.
ROUTE_INCONSISTENT = 10
ROUTE_SPLIT = 5
ID_CHUNK = 5000

# Set once per process: tells this process's claims from an earlier process's with the same pid
# (a container restarted keeps its host name and often its worker's pid).
BOOT_ID = uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class Worker:
    """Who works on a call: a Celery node name ("celery@host"), a process id and its boot id."""

    node: str
    pid: int
    boot: str

    @classmethod
    def current(cls, node: str = "") -> Worker:
        return cls(node or f"local@{socket.gethostname()}", os.getpid(), BOOT_ID)

    @property
    def host(self) -> str:
        return self.node.rpartition("@")[2]

    def new_claim(self) -> str:
        return f"{self.node}|{self.pid}|{self.boot}|{uuid.uuid4().hex[:12]}"

    def knows_dead(self, claim: str) -> bool:
        """Whether the claim was made by a process of this host that is gone.

        Only a process on the same host can tell, by its pid: it is gone if the pid is this very
        process's (so an earlier incarnation's) or no process has it any more.
        """
        parts = claim.split("|")
        if len(parts) != 4 or not parts[1].isdigit():
            return False
        node, pid, boot = parts[0], int(parts[1]), parts[2]
        if node.rpartition("@")[2] != self.host or boot == self.boot:
            return False
        if pid == self.pid:
            return True
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # alive, another user's
        return False


def lease_start() -> datetime:
    """Calls started before this have outlived any task: their worker is gone."""
    return timezone.now() - timedelta(seconds=conf.lease_s())


def book(
    *, run_id: int, lead_id: int | None, spent: Decimal = Decimal(0), lock: bool = True
) -> None:
    """Release the reservation the call `lead_id` holds (if any) and add `spent` to the run.

    Call inside a transaction; takes the run's row first unless the caller holds it already.
    """
    if lock:
        JudgeRun.objects.select_for_update().only("id").get(id=run_id)
    reserved = Decimal(0)
    if lead_id is not None:
        reserved = JudgeCall.objects.filter(id=lead_id).values_list(
            "reserved_usd", flat=True
        ).first() or Decimal(0)
        if reserved:
            JudgeCall.objects.filter(id=lead_id).update(reserved_usd=Decimal(0))
    if reserved or spent:
        JudgeRun.objects.filter(id=run_id).update(
            reserved_usd=F("reserved_usd") - reserved, spent_usd=F("spent_usd") + spent
        )


def take_over(*, run_id: int, is_dead: Callable[[str, datetime | None], bool]) -> list[int]:
    """Free the calls of a run left running by dead workers; return their ids.

    `is_dead(claimed_by, started_at)` decides. Freed calls give their reservation back and go
    back to the queue, or, when the run has stopped meanwhile, to the status its other unrun
    calls got (cancelled, skipped by budget). The dead worker's answer, should it still come,
    is kept only if the call is still queued then (judges.services.calls).
    """
    with transaction.atomic():
        run = JudgeRun.objects.select_for_update().only("id", "status").get(id=run_id)
        running = JudgeCall.objects.filter(run_id=run_id, status=CallStatus.RUNNING)
        dead = [
            call_id
            for call_id, claimed_by, started_at in running.values_list(
                "id", "claimed_by", "started_at"
            )
            if is_dead(claimed_by, started_at)
        ]
        if not dead:
            return []
        target = {
            RunStatus.CANCELLED: CallStatus.CANCELLED,
            RunStatus.BUDGET_STOPPED: CallStatus.SKIPPED_BUDGET,
        }.get(RunStatus(run.status), CallStatus.QUEUED)
        for start in range(0, len(dead), ID_CHUNK):
            chunk = dead[start : start + ID_CHUNK]
            freed = JudgeCall.objects.filter(id__in=chunk).aggregate(total=Sum("reserved_usd"))
            JudgeCall.objects.filter(id__in=chunk).update(
                status=target,
                claimed_by="",
                reserved_usd=Decimal(0),
                enqueued_at=timezone.now(),
                error="taken over: its worker stopped before the call ended",
            )
            if freed["total"]:
                JudgeRun.objects.filter(id=run_id).update(
                    reserved_usd=F("reserved_usd") - freed["total"]
                )
    return dead


def lease_expired_or_dead(
    worker: Worker, *, since: datetime | None = None
) -> Callable[[str, datetime | None], bool]:
    """A take-over test: the claim is this host's and its process is gone, or it started before
    `since` (default: the lease)."""
    started_before = since or lease_start()

    def is_dead(claimed_by: str, started_at: datetime | None) -> bool:
        return (started_at is None or started_at < started_before) or worker.knows_dead(claimed_by)

    return is_dead


def run_settle(run_id: int) -> None:
    """End a running run whose calls are all finished, and route a run that has ended.

    Only the UPDATE that ends the run, and then the one that marks it routed, go on, so each
    happens once however many workers get here.
    """
    unfinished = JudgeCall.objects.filter(
        run_id=run_id, status__in=[CallStatus.QUEUED, CallStatus.RUNNING]
    )
    if not unfinished.exists():
        JudgeRun.objects.filter(id=run_id, status=RunStatus.RUNNING).update(
            status=RunStatus.DONE, finished_at=timezone.now()
        )
    elif unfinished.filter(status=CallStatus.RUNNING).exists():
        return
    routed = JudgeRun.objects.filter(
        id=run_id,
        status__in=[RunStatus.DONE, RunStatus.CANCELLED, RunStatus.BUDGET_STOPPED],
        route_disagreements=True,
        routed_at__isnull=True,
    ).update(routed_at=timezone.now())
    if routed:
        judge_run_route(run=JudgeRun.objects.get(id=run_id))


@dataclass(frozen=True)
class RouteResult:
    inconsistent: int
    split: int


def judge_run_route(*, run: JudgeRun) -> RouteResult:
    """Send the pairs this run's judge disagreed with itself on to humans first.

    Units (pair, criterion) count when the judge answered them in every order the run asked
    for (both, or the one), so a run stopped by its budget or cancelled routes what it finished.
    A pair gets priority ROUTE_INCONSISTENT when, on any criterion, the judge's verdicts in the two
    orders differ, else ROUTE_SPLIT when the mean signed preference over orders is within one
    point of a tie on any criterion. Priorities only go up (another run or an import may have set
    a higher one); annotate's assignment_next hands out higher priorities first.
    """
    orders_needed = 2 if run.orders == Orders.BOTH else 1
    preferences: dict[tuple[int, int], list[int]] = {}
    answered = run.calls.filter(status=CallStatus.DONE, shown_preference__isnull=False)
    for pair_id, criterion_id, a_first, shown in answered.values_list(
        "pair_id", "criterion_id", "a_first", "shown_preference"
    ).iterator():
        if shown is None:
            continue
        preference = canonical_preference(shown, a_shown_first=a_first)
        preferences.setdefault((pair_id, criterion_id), []).append(preference)
    inconsistent: set[int] = set()
    split: set[int] = set()
    for (pair_id, _), values in preferences.items():
        if len(values) < orders_needed:
            continue
        if len({verdict_of(v) for v in values}) > 1:
            inconsistent.add(pair_id)
        elif abs(sum(values) / len(values)) <= 1:
            split.add(pair_id)
    split -= inconsistent
    for priority, pair_ids in ((ROUTE_INCONSISTENT, inconsistent), (ROUTE_SPLIT, split)):
        _raise_priority(sorted(pair_ids), priority)
    return RouteResult(inconsistent=len(inconsistent), split=len(split))


def _raise_priority(pair_ids: list[int], priority: int) -> None:
    for start in range(0, len(pair_ids), ID_CHUNK):
        Pair.objects.filter(
            id__in=pair_ids[start : start + ID_CHUNK], priority__lt=priority
        ).update(priority=priority)


def one_per_request(rows: Iterable[tuple[int, int, bool]], *, together: bool) -> list[int]:
    """From (id, pair_id, a_first) rows of queued calls, one id per request: in together mode
    the calls of a (pair, order) are one request and one message claims them all."""
    if not together:
        return [row[0] for row in rows]
    first: dict[tuple[int, bool], int] = {}
    for call_id, pair_id, a_first in rows:
        first.setdefault((pair_id, a_first), call_id)
    return sorted(first.values())


def unfinished_runs() -> Q:
    """Runs a worker start or a watchdog must look at: running, or with calls still running."""
    return Q(status=RunStatus.RUNNING) | Q(
        id__in=JudgeCall.objects.filter(status=CallStatus.RUNNING).values("run_id")
    )
