"""Handing pairs to labelers, and taking their ratings back.

Invariants, held under concurrency on PostgreSQL and on SQLite:
- a labeler never gets the same pair twice (unique (pair, labeler));
- a pair never has more than `overlap` open + submitted assignments (`Pair.claims`, raised only by a
  conditional UPDATE that checks the bound);
- each pair is shown A-first to half of its labelers (`Pair.a_first_claims`, `b_first_claims`;
  places of imported ratings with no known order count for neither);
- a labeler is never offered a pair that already has a human rating under their name (one imported
  from a vendor file with `rater` = their username counts).

On PostgreSQL candidate pairs are locked with FOR UPDATE SKIP LOCKED, so concurrent labelers take
different pairs instead of queueing on the same row; SQLite serialises writers on its own.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, F, Model, OuterRef, Q
from django.http import Http404
from django.utils import timezone

from annotate.models import (
    Assignment,
    AssignmentStatus,
    Completion,
    Criterion,
    Pair,
    Project,
    Prompt,
    RaterKind,
    Rating,
    ShownFirst,
)
from annotate.scale import Scale, canonical_preference, verdict_of
from annotate.selectors import assignment_get_for_labeler, assignments_of_labeler
from concord.api_errors import ApplicationError

CANDIDATES_PER_TRY = 8
# Expired leases are swept at most this often per process while pairs remain, and at once when
# the pool looks dry: a 30-minute lease does not need a sweep query on every request.
SWEEP_SECONDS = 10.0
_last_sweep: dict[int, float] = {}


@dataclass(frozen=True)
class RatingSubmitResult:
    assignment_id: int
    status: str
    ratings: dict[str, str]
    created: bool


def project_open_pairs_refresh(*, project: Project) -> int:
    """Recounts the project's pairs with room; call after writes that bypass these services."""
    open_pairs = Pair.objects.filter(project=project, claims__lt=project.overlap).count()
    Project.objects.filter(id=project.pk).update(open_pairs=open_pairs)
    project.open_pairs = open_pairs
    return open_pairs


def _take_place(*, project: Project, pair_id: int, claims: int, a_first: bool) -> bool:
    """Takes one of the pair's places if it has room; keeps the project's open-pair count."""
    raised = Pair.objects.filter(id=pair_id, claims__lt=project.overlap).update(
        claims=F("claims") + 1,
        a_first_claims=F("a_first_claims") + (1 if a_first else 0),
        b_first_claims=F("b_first_claims") + (0 if a_first else 1),
    )
    if raised and claims + 1 == project.overlap:
        Project.objects.filter(id=project.pk).update(open_pairs=F("open_pairs") - 1)
    return bool(raised)


def _release_pair(
    *, project: Project, pair_id: int, a_shown_first: bool, may_return: bool = False
) -> None:
    """Gives a place back; `may_return` when its labeler can still submit late (a lapsed lease)."""
    pair = Pair.objects.select_for_update().filter(id=pair_id).values("claims").first()
    if pair is None or pair["claims"] == 0:
        return
    lean = (1 if a_shown_first else -1) if may_return else 0
    Pair.objects.filter(id=pair_id).update(
        claims=F("claims") - 1,
        a_first_claims=F("a_first_claims") - (1 if a_shown_first else 0),
        b_first_claims=F("b_first_claims") - (0 if a_shown_first else 1),
        expired_lean=F("expired_lean") + lean,
    )
    if pair["claims"] == project.overlap:
        Project.objects.filter(id=project.pk).update(open_pairs=F("open_pairs") + 1)


def assignment_expire(*, project: Project, now: datetime | None = None) -> int:
    """Returns overdue open assignments of the project to the pool; answers how many."""
    now = now or timezone.now()
    expired = 0
    overdue = Assignment.objects.filter(
        project=project, status=AssignmentStatus.OPEN, expires_at__lt=now
    ).values_list("id", flat=True)[:500]
    for assignment_id in list(overdue):
        with transaction.atomic():
            row = (
                Assignment.objects.select_for_update()
                .filter(id=assignment_id, status=AssignmentStatus.OPEN, expires_at__lt=now)
                .values("pair_id", "a_shown_first")
                .first()
            )
            if row is None:
                continue
            Assignment.objects.filter(id=assignment_id).update(
                status=AssignmentStatus.EXPIRED, finished_at=now
            )
            _release_pair(
                project=project,
                pair_id=row["pair_id"],
                a_shown_first=row["a_shown_first"],
                may_return=True,
            )
            expired += 1
    return expired


def _model_columns(model: type[Model], alias: str) -> str:
    return ", ".join(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)


def _from_row[M: Model](model: type[M], row: Sequence[Any]) -> M:
    names = [field.attname for field in model._meta.concrete_fields]
    return model.from_db(connection.alias, names, row[: len(names)])


# The ORM query of _candidates, written out for PostgreSQL: the hot path of every claim. Building
# it through the ORM costs more CPU than running it, and as one fixed text it is prepared once per
# connection (server-side binding, DB_PREPARED_STATEMENTS), so it is not planned each time.
_CANDIDATE_SQL = f"""
    SELECT {_model_columns(Pair, "p")}, {_model_columns(Prompt, "pr")},
           {_model_columns(Completion, "ca")}, {_model_columns(Completion, "cb")}
    FROM {Pair._meta.db_table} p
    JOIN {Prompt._meta.db_table} pr ON pr.id = p.prompt_id
    JOIN {Completion._meta.db_table} ca ON ca.id = p.completion_a_id
    JOIN {Completion._meta.db_table} cb ON cb.id = p.completion_b_id
    WHERE p.project_id = %s AND p.claims < %s
      AND NOT EXISTS (
        SELECT 1 FROM {Assignment._meta.db_table} a WHERE a.pair_id = p.id AND a.labeler_id = %s)
      AND NOT EXISTS (
        SELECT 1 FROM {Rating._meta.db_table} r
        WHERE r.pair_id = p.id AND r.rater_kind = %s AND (r.rater = %s OR r.user_id = %s))
    ORDER BY p.priority DESC, p.claims, p.id
    LIMIT 1
    FOR UPDATE OF p SKIP LOCKED
"""


def _candidate_postgresql(*, project: Project, labeler: User) -> list[Pair]:
    with connection.cursor() as cursor:
        cursor.execute(
            _CANDIDATE_SQL,
            [
                project.pk,
                project.overlap,
                labeler.pk,
                RaterKind.HUMAN,
                labeler.get_username(),
                labeler.pk,
            ],
        )
        row = cursor.fetchone()
    if row is None:
        return []
    widths = [len(m._meta.concrete_fields) for m in (Pair, Prompt, Completion, Completion)]
    starts = [sum(widths[:i]) for i in range(len(widths))]
    pair = _from_row(Pair, row)
    pair.prompt = _from_row(Prompt, row[starts[1] :])
    pair.completion_a = _from_row(Completion, row[starts[2] :])
    pair.completion_b = _from_row(Completion, row[starts[3] :])
    return [pair]


def _candidates(*, project: Project, labeler: User) -> list[Pair]:
    """Open pairs the labeler never had nor rated, most urgent and least rated first, locked.

    On PostgreSQL the first row, locked with SKIP LOCKED, is always claimable, so one is enough.
    The pair comes with its prompt and completions, so the labeler view of a fresh claim needs
    no second read of them.
    """
    if connection.vendor == "postgresql":
        return _candidate_postgresql(project=project, labeler=labeler)
    rated_by_labeler = Rating.objects.filter(
        pair_id=OuterRef("pk"), rater_kind=RaterKind.HUMAN
    ).filter(Q(rater=labeler.get_username()) | Q(user_id=labeler.pk))
    candidates = (
        Pair.objects.filter(project=project, claims__lt=project.overlap)
        .exclude(assignments__labeler_id=labeler.pk)
        .exclude(Exists(rated_by_labeler))
        .select_related("prompt", "completion_a", "completion_b")
        .order_by("-priority", "claims", "id")
    )
    # SQLite serialises writers, so nothing is locked; a few candidates cover a lost race.
    return list(candidates[:CANDIDATES_PER_TRY])


def _claim(*, project: Project, labeler: User, pair: Pair, now: datetime) -> Assignment | None:
    claims, a_first_claims, b_first_claims = pair.claims, pair.a_first_claims, pair.b_first_claims
    if a_first_claims != b_first_claims:
        a_first = a_first_claims < b_first_claims
    elif pair.expired_lean:
        # Balanced, but a labeler whose lease lapsed may still submit: show the other order.
        a_first = pair.expired_lean < 0
    else:
        # Balanced so far: alternate by pair id so neither order wins across the project.
        a_first = (pair.pk + claims // 2) % 2 == 0
    if not _take_place(project=project, pair_id=pair.pk, claims=claims, a_first=a_first):
        return None
    pair.claims = claims + 1
    pair.a_first_claims = a_first_claims + (1 if a_first else 0)
    pair.b_first_claims = b_first_claims + (0 if a_first else 1)
    return Assignment.objects.create(
        pair=pair,
        project=project,
        labeler=labeler,
        a_shown_first=a_first,
        expires_at=now + timedelta(minutes=project.lease_minutes),
    )


def assignment_next(*, project: Project, labeler: User) -> Assignment | None:
    """The labeler's open assignment in the project, or a newly claimed one; None when done.

    Calling it again before submitting returns the same assignment, so reloads do not burn pairs.
    """
    now = timezone.now()
    # Most calls come after a submit and find nothing open: a plain query answers them cheaply.
    current_id = (
        Assignment.objects.filter(
            project=project, labeler=labeler, status=AssignmentStatus.OPEN, expires_at__gte=now
        )
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )
    if current_id is not None:
        # The labeler view needs these; joined here they cost no extra round trip.
        current = Assignment.objects.select_related(
            "pair__prompt", "pair__completion_a", "pair__completion_b"
        ).get(id=current_id)
        current.project, current.labeler = project, labeler
        return current
    if time.monotonic() - _last_sweep.get(project.pk, -SWEEP_SECONDS) >= SWEEP_SECONDS:
        _sweep(project=project, now=now)
    assignment = _claim_next(project=project, labeler=labeler, now=now)
    if assignment is None and _sweep(project=project, now=now):
        # The pool looked dry, but expired leases just gave pairs back.
        assignment = _claim_next(project=project, labeler=labeler, now=now)
    return assignment


def _sweep(*, project: Project, now: datetime) -> int:
    _last_sweep[project.pk] = time.monotonic()
    if not Assignment.objects.filter(
        project=project, status=AssignmentStatus.OPEN, expires_at__lt=now
    ).exists():
        return 0
    return assignment_expire(project=project, now=now)


def _claim_next(*, project: Project, labeler: User, now: datetime) -> Assignment | None:
    for _attempt in range(3):
        try:
            with transaction.atomic():
                candidates = _candidates(project=project, labeler=labeler)
                if not candidates:
                    return None
                for pair in candidates:
                    assignment = _claim(project=project, labeler=labeler, pair=pair, now=now)
                    if assignment is not None:
                        assignment.project, assignment.labeler = project, labeler
                        return assignment
        except IntegrityError:
            # The same labeler claimed this pair from another tab at the same instant.
            continue
    return None


def assignment_skip(*, labeler: User, assignment_id: int) -> Assignment:
    """Gives the pair back to the pool; the labeler will not be offered it again."""
    with transaction.atomic():
        assignment = assignment_get_for_labeler(labeler=labeler, assignment_id=assignment_id)
        changed = Assignment.objects.filter(id=assignment.pk, status=AssignmentStatus.OPEN).update(
            status=AssignmentStatus.SKIPPED, finished_at=timezone.now()
        )
        if changed:
            _release_pair(
                project=assignment.project,
                pair_id=assignment.pair_id,
                a_shown_first=assignment.a_shown_first,
            )
        elif assignment.status != AssignmentStatus.SKIPPED:
            raise ApplicationError(f"This assignment is {assignment.status}; it cannot be skipped.")
        assignment.refresh_from_db()
    return assignment


def _previous_result(assignment: Assignment) -> RatingSubmitResult:
    ratings = dict(
        Rating.objects.filter(assignment=assignment).values_list("criterion__key", "value_shown")
    )
    return RatingSubmitResult(
        assignment_id=assignment.pk, status=assignment.status, ratings=ratings, created=False
    )


def rating_submit(
    *,
    labeler: User,
    assignment_id: int,
    values: dict[str, int | str],
    rationale: str = "",
    time_spent_ms: int | None = None,
) -> RatingSubmitResult:
    """Stores one rating per criterion for the assignment, once.

    A second submit of the same assignment answers with the first result and writes nothing. A
    submit after the lease expired is still accepted while the pair has room, so a slow labeler's
    work is not thrown away. When a human rating under the labeler's name reached the pair after
    it was handed out (a ratings import), the assignment is withdrawn, its place given back, and
    the submit refused.
    """
    with transaction.atomic():
        locked = (
            assignments_of_labeler(labeler=labeler)
            .select_for_update(of=("self",))
            .select_related("project")
            .filter(id=assignment_id)
            .first()
        )
        if locked is None:
            raise Http404("No such assignment.")
        if locked.status == AssignmentStatus.SUBMITTED:
            return _previous_result(locked)
        if locked.status == AssignmentStatus.SKIPPED:
            raise ApplicationError("This assignment was skipped; it cannot be rated.")
        criteria = list(locked.project.criteria.all())
        parsed = _parse_values(criteria=criteria, values=values)
        if locked.status == AssignmentStatus.EXPIRED:
            claims = (
                Pair.objects.select_for_update()
                .values_list("claims", flat=True)
                .get(id=locked.pair_id)
            )
            retaken = _take_place(
                project=locked.project,
                pair_id=locked.pair_id,
                claims=claims,
                a_first=locked.a_shown_first,
            )
            if retaken:
                Pair.objects.filter(id=locked.pair_id).update(
                    expired_lean=F("expired_lean") - (1 if locked.a_shown_first else -1)
                )
            else:
                raise ApplicationError(
                    "This assignment expired and its pair has been rated by others meanwhile.",
                    extra={"withdrawn": True},
                )
        stored = _store_ratings(
            labeler=labeler,
            assignment=locked,
            criteria=criteria,
            parsed=parsed,
            rationale=rationale,
            time_spent_ms=time_spent_ms,
        )
    if not stored:
        raise ApplicationError(
            "You have already rated this pair (a rating under your name was imported), so it "
            "was taken off your list. Ask for the next pair.",
            extra={"withdrawn": True},
        )
    return RatingSubmitResult(
        assignment_id=locked.pk,
        status=AssignmentStatus.SUBMITTED,
        ratings={key: value for key, (value, _pref) in parsed.items()},
        created=True,
    )


def _store_ratings(
    *,
    labeler: User,
    assignment: Assignment,
    criteria: list[Criterion],
    parsed: dict[str, tuple[str, int]],
    rationale: str,
    time_spent_ms: int | None,
) -> bool:
    """Writes the ratings and closes the assignment, under its row lock; False on a rater clash.

    On a clash with a human rating already stored under the labeler's name, the assignment is
    expired and its place released instead, so the labeler is not handed the same pair again.
    """
    now = timezone.now()
    shown_first = ShownFirst.A if assignment.a_shown_first else ShownFirst.B
    ratings = []
    for criterion in criteria:
        value_shown, shown_preference = parsed[criterion.key]
        preference = canonical_preference(shown_preference, a_shown_first=assignment.a_shown_first)
        ratings.append(
            Rating(
                pair_id=assignment.pair_id,
                criterion=criterion,
                rater_kind=RaterKind.HUMAN,
                rater=labeler.get_username(),
                user=labeler,
                assignment=assignment,
                shown_first=shown_first,
                value_shown=value_shown,
                preference=preference,
                verdict=verdict_of(preference),
                with_suggestion=assignment.judge_suggestion_shown,
                rationale=rationale.strip(),
            )
        )
    try:
        # A savepoint, so the transaction survives the unique index saying no.
        with transaction.atomic():
            Rating.objects.bulk_create(ratings)
    except IntegrityError:
        clash = Rating.objects.filter(
            pair_id=assignment.pair_id,
            rater_kind=RaterKind.HUMAN,
            rater=labeler.get_username(),
        ).exists()
        if not clash:
            raise
        Assignment.objects.filter(id=assignment.pk).update(
            status=AssignmentStatus.EXPIRED, finished_at=now
        )
        _release_pair(
            project=assignment.project,
            pair_id=assignment.pair_id,
            a_shown_first=assignment.a_shown_first,
        )
        return False
    if time_spent_ms is None:
        time_spent_ms = int((now - assignment.created_at).total_seconds() * 1000)
    Assignment.objects.filter(id=assignment.pk).update(
        status=AssignmentStatus.SUBMITTED,
        finished_at=now,
        time_spent_ms=max(0, min(time_spent_ms, 24 * 3600 * 1000)),
    )
    Pair.objects.filter(id=assignment.pair_id).update(submitted=F("submitted") + 1)
    return True


def _parse_values(
    *, criteria: list[Criterion], values: dict[str, int | str]
) -> dict[str, tuple[str, int]]:
    """criterion key -> (value as shown, shown-orientation preference); names every bad field."""
    if not isinstance(values, dict):
        raise ApplicationError("ratings must be an object of criterion: value")
    errors: dict[str, str] = {}
    parsed: dict[str, tuple[str, int]] = {}
    keys = {c.key for c in criteria}
    for unknown in sorted(set(values) - keys):
        errors[unknown] = "not a criterion of this project"
    for criterion in criteria:
        if criterion.key not in values or values[criterion.key] in (None, ""):
            errors[criterion.key] = "missing"
            continue
        scale = Scale(criterion.scale_points, criterion.tie_option)
        try:
            preference = scale.shown_preference(values[criterion.key])
        except ValueError as exc:
            errors[criterion.key] = str(exc)
            continue
        parsed[criterion.key] = (scale.shown_value(preference), preference)
    if errors:
        detail = "; ".join(f"{key}: {message}" for key, message in errors.items())
        raise ApplicationError(f"Invalid ratings ({detail}).", extra={"errors": errors})
    return parsed
