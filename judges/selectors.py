"""Reads for judges: runs and their progress."""

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from annotate.models import Membership, Pair, Project, RaterKind, Rating, Role
from judges.models import CallStatus, Judge, JudgeCall, JudgeRun

PROMPT_EXCERPT = 120


@dataclass(frozen=True)
class RunProgress:
    status: str
    total: int
    queued: int
    running: int
    done: int
    unparsed: int
    failed: int
    skipped_budget: int
    cancelled: int
    cached: int
    cost_usd: Decimal
    estimated_cost_usd: Decimal
    calls_per_minute: float

    @property
    def finished(self) -> int:
        return self.total - self.queued - self.running


def judge_get_by_name(*, name: str) -> Judge | None:
    return Judge.objects.filter(name=name).first()


def judge_runs_of_project(*, project: Project) -> QuerySet[JudgeRun]:
    return JudgeRun.objects.filter(project=project).select_related("judge").order_by("-created_at")


def judge_run_progress(*, run: JudgeRun) -> RunProgress:
    """Counts by status, cost so far and calls answered in the last minute, in one query."""
    since = timezone.now() - timedelta(minutes=1)
    counts = JudgeCall.objects.filter(run=run).aggregate(
        total=Count("id"),
        cached=Count("id", filter=Q(cached_from__isnull=False)),
        recent=Count("id", filter=Q(finished_at__gte=since)),
        cost=Sum("cost_usd"),
        **{status: Count("id", filter=Q(status=status)) for status in CallStatus.values},
    )
    run.refresh_from_db(fields=["status"])
    return RunProgress(
        status=run.status,
        total=counts["total"],
        queued=counts[CallStatus.QUEUED],
        running=counts[CallStatus.RUNNING],
        done=counts[CallStatus.DONE],
        unparsed=counts[CallStatus.UNPARSED],
        failed=counts[CallStatus.FAILED],
        skipped_budget=counts[CallStatus.SKIPPED_BUDGET],
        cancelled=counts[CallStatus.CANCELLED],
        cached=counts["cached"],
        cost_usd=counts["cost"] or Decimal(0),
        estimated_cost_usd=run.estimated_cost_usd,
        calls_per_minute=float(counts["recent"]),
    )


def judge_run_get_for_member(*, user: User, run_id: int, roles: set[str]) -> JudgeRun:
    """The run if the user is a member of its project with one of `roles`.

    Outsiders get 404 (they cannot learn that the run exists); members with another role 403.
    """
    run = (
        JudgeRun.objects.select_related("project", "judge").filter(id=run_id).first()
        if user.is_authenticated
        else None
    )
    role = (
        Membership.objects.filter(project_id=run.project_id, user_id=user.pk)
        .values_list("role", flat=True)
        .first()
        if run is not None
        else None
    )
    if run is None or role is None:
        raise Http404("No such judge run.")
    if role not in roles:
        raise PermissionDenied("Your role in this project does not allow this.")
    return run


def judge_run_status(*, run: JudgeRun) -> dict[str, Any]:
    """What the run page and GET /api/judge-runs/{id}/ show: state, progress, cost and budget."""
    progress = judge_run_progress(run=run)
    counts = asdict(progress)
    for key in ("status", "cost_usd", "estimated_cost_usd", "calls_per_minute"):
        counts.pop(key)
    run.refresh_from_db(fields=["error", "spent_usd", "finished_at"])
    error = run.error
    if not error and progress.failed:
        # Calls fail one by one (a wrong key fails them all): say why, once, for the whole run.
        last = (
            JudgeCall.objects.filter(run=run, status=CallStatus.FAILED)
            .exclude(error="")
            .order_by("-finished_at", "-id")
            .values_list("error", flat=True)
            .first()
        )
        error = f"{progress.failed} call{'s' if progress.failed != 1 else ''} failed: {last}"
    return {
        "id": run.pk,
        "project": run.project.slug,
        "judge": run.judge.name,
        "status": progress.status,
        "active": progress.status in ("queued", "running"),
        "resumable": progress.status in ("running", "failed"),
        "error": error,
        "orders": run.orders,
        "criteria_mode": run.criteria_mode,
        "route_disagreements": run.route_disagreements,
        "created_at": run.created_at,
        "finished_at": run.finished_at,
        "progress": {**counts, "finished": progress.finished},
        "cost_usd": progress.cost_usd,
        "estimated_cost_usd": progress.estimated_cost_usd,
        "budget_usd": run.budget_usd,
        "calls_per_minute": progress.calls_per_minute,
    }


def judge_manager_check(*, user: User) -> None:
    """Judges are global: staff and users who lead at least one project may create and edit them.

    A lead needs to set up the judge their project runs without an administrator; labelers and
    researchers only use what leads configured.
    """
    if not user.is_authenticated:
        raise PermissionDenied("Log in first.")
    if user.is_staff:
        return
    if not Membership.objects.filter(user_id=user.pk, role=Role.LEAD).exists():
        raise PermissionDenied("Only staff and project leads manage judges.")


@dataclass(frozen=True)
class VerdictRow:
    pair_id: int
    prompt: str
    model_a: str
    model_b: str
    criterion: str
    human: list[str]
    judge_a_first: str
    judge_b_first: str


def _judge_cell(call: Mapping[str, Any] | None) -> str:
    if call is None:
        return "–"
    if call["status"] != CallStatus.DONE or call["rating__verdict"] is None:
        return call["status"]
    return f"{call['rating__verdict']} ({call['rating__preference']:+d})"


def judge_run_verdict_rows(*, run: JudgeRun, pairs: list[Pair]) -> list[VerdictRow]:
    """One row per (pair, criterion) of the run: human verdicts and the judge's in each order.

    Two queries for any number of pairs (calls of these pairs, human ratings of these pairs).
    Verdicts are canonical: a = model A better, b = model B better, with the signed preference.
    """
    ids = [pair.pk for pair in pairs]
    criteria = list(run.criteria.order_by("position", "key"))
    calls = {
        (c["pair_id"], c["criterion_id"], c["a_first"]): c
        for c in JudgeCall.objects.filter(run=run, pair_id__in=ids).values(
            "pair_id", "criterion_id", "a_first", "status", "rating__verdict", "rating__preference"
        )
    }
    human: dict[tuple[int, int], list[str]] = {}
    for pair_id, criterion_id, verdict in (
        Rating.objects.filter(pair_id__in=ids, rater_kind=RaterKind.HUMAN)
        .order_by("id")
        .values_list("pair_id", "criterion_id", "verdict")
    ):
        human.setdefault((pair_id, criterion_id), []).append(verdict)
    return [
        VerdictRow(
            pair_id=pair.pk,
            prompt=pair.prompt.text[:PROMPT_EXCERPT]
            + ("…" if len(pair.prompt.text) > PROMPT_EXCERPT else ""),
            model_a=pair.model_a,
            model_b=pair.model_b,
            criterion=criterion.key,
            human=human.get((pair.pk, criterion.pk), []),
            judge_a_first=_judge_cell(calls.get((pair.pk, criterion.pk, True))),
            judge_b_first=_judge_cell(calls.get((pair.pk, criterion.pk, False))),
        )
        for pair in pairs
        for criterion in criteria
    ]


def judge_run_pairs(*, run: JudgeRun) -> QuerySet[Pair]:
    """The pairs a run judges, with their prompts, in a stable order for paging."""
    return (
        Pair.objects.filter(id__in=JudgeCall.objects.filter(run=run).values("pair_id"))
        .select_related("prompt")
        .order_by("id")
    )
