"""Reads of the annotate app, with access checks for user-scoped objects.

Blindness lives here: `labeler_view` builds the only shape that reaches labeler templates and JSON
(slot 1, slot 2), with no model name, pair id, completion id or other rating.
"""

from statistics import median
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.http import Http404

from annotate.models import (
    Assignment,
    AssignmentStatus,
    Criterion,
    Membership,
    Pair,
    Project,
    ProjectMode,
    Prompt,
    RaterKind,
    Rating,
    Role,
)
from annotate.scale import Scale


def project_list_for_user(*, user: User) -> QuerySet[Project]:
    return Project.objects.filter(memberships__user=user).order_by("name")


def member_role(*, user: User, project: Project) -> str | None:
    if not user.is_authenticated:
        return None
    return (
        Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
    )


def project_get_for_member(*, user: User, slug: str, roles: set[str] | None = None) -> Project:
    """The project if the user is a member with one of `roles`.

    Outsiders get 404, so they cannot learn that a project exists; members with another role 403.
    """
    membership = (
        Membership.objects.select_related("project")
        .filter(project__slug=slug, user_id=user.pk)
        .first()
        if user.is_authenticated
        else None
    )
    if membership is None:
        raise Http404("No such project.")
    if roles is not None and membership.role not in roles:
        raise PermissionDenied("Your role in this project does not allow this.")
    return membership.project


def assignments_of_labeler(*, labeler: User) -> QuerySet[Assignment]:
    """The labeler's assignments in projects where they still are a labeler: a labeler removed
    from a project can no longer rate or skip what they held there."""
    return Assignment.objects.filter(
        labeler_id=labeler.pk,
        project__memberships__user_id=labeler.pk,
        project__memberships__role=Role.LABELER,
    )


def assignment_get_for_labeler(*, labeler: User, assignment_id: int) -> Assignment:
    assignment = (
        assignments_of_labeler(labeler=labeler)
        .select_related("project")
        .filter(id=assignment_id)
        .first()
    )
    if assignment is None:
        raise Http404("No such assignment.")
    return assignment


def criterion_view(criterion: Criterion) -> dict[str, Any]:
    scale = Scale(criterion.scale_points, criterion.tie_option)
    return {
        "key": criterion.key,
        "question": criterion.question,
        "scale_points": criterion.scale_points,
        "choices": scale.choices(),
        "tie": criterion.tie_option or scale.has_middle,
        "labels": {"low": "Response 1 is much better", "high": "Response 2 is much better"},
    }


def labeler_progress(*, project: Project, labeler: User) -> dict[str, int]:
    """`rated` by this labeler, of the `total` they could rate: rated, open, or still available.

    One query on the hot path of every next pair: the project's open-pair counter (kept by the
    services) less the pairs with room that this labeler holds or had.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT
                  COUNT(*) FILTER (WHERE a.status = %s),
                  COUNT(*) FILTER (WHERE a.status = %s),
                  COUNT(*) FILTER (WHERE p.claims < %s),
                  (SELECT open_pairs FROM {Project._meta.db_table} WHERE id = %s)
                FROM {Assignment._meta.db_table} a
                JOIN {Pair._meta.db_table} p ON p.id = a.pair_id
                WHERE a.project_id = %s AND a.labeler_id = %s""",
            [
                AssignmentStatus.SUBMITTED,
                AssignmentStatus.OPEN,
                project.overlap,
                project.pk,
                project.pk,
                labeler.pk,
            ],
        )
        rated, open_now, held_with_room, open_pairs = cursor.fetchone()
    available = max(0, (open_pairs or 0) - held_with_room)
    return {"rated": rated, "total": rated + open_now + available}


def labeler_view(*, assignment: Assignment) -> dict[str, Any]:
    """The neutral labeler-facing shape of an assignment, in shown order."""
    pair = _pair_with_texts(assignment)
    first, second = (
        (pair.completion_a, pair.completion_b)
        if assignment.a_shown_first
        else (pair.completion_b, pair.completion_a)
    )
    project = assignment.project
    criteria = list(project.criteria.all())
    suggestion = None
    # Blind mode never even reads a judge's verdict, so none can reach a blind labeler.
    if project.mode == ProjectMode.VERIFY:
        suggestion = judge_suggestion(
            pair=pair, criteria=criteria, a_shown_first=assignment.a_shown_first
        )
        if suggestion and not assignment.judge_suggestion_shown:
            # rating_submit copies this flag onto the ratings (with_suggestion), so the report
            # can keep ratings made with a suggestion apart.
            Assignment.objects.filter(id=assignment.pk).update(judge_suggestion_shown=True)
            assignment.judge_suggestion_shown = True
    return {
        "assignment_id": assignment.pk,
        "prompt": pair.prompt.text,
        "responses": [{"slot": 1, "text": first.text}, {"slot": 2, "text": second.text}],
        "criteria": [criterion_view(c) for c in criteria],
        "progress": labeler_progress(project=project, labeler=assignment.labeler),
        "instructions": project.instructions,
        "suggestion": suggestion,
    }


def _pair_with_texts(assignment: Assignment) -> Pair:
    """The assignment's pair with prompt and completions; reuses them when the claim loaded them."""
    if Assignment.pair.is_cached(assignment):
        pair = assignment.pair
        if all(
            field.is_cached(pair) for field in (Pair.prompt, Pair.completion_a, Pair.completion_b)
        ):
            return pair
    return Pair.objects.select_related("prompt", "completion_a", "completion_b").get(
        id=assignment.pair_id
    )


def judge_suggestion(
    *, pair: Pair, criteria: list[Criterion], a_shown_first: bool
) -> dict[str, dict[str, Any]] | None:
    """A judge's verdict on the pair per criterion, in the order this labeler sees it.

    Neutral: `{"<criterion>": {"prefers": 1 | 2 | None (tie), "value": "<shown scale value>"}}`,
    never a judge or model name. With several judges the one whose run started last counts
    (judges with no run, e.g. imported LLM labels, after those). A judge that answered both orders
    differently is shown as a tie (as in the report); otherwise the weaker of its preferences.
    One query. None when no judge rated the pair.
    """
    from judges.models import JudgeRun  # judges depends on annotate, not the other way round

    last_run = (
        JudgeRun.objects.filter(project_id=pair.project_id, judge__name=OuterRef("rater"))
        .order_by("-created_at")
        .values("created_at")[:1]
    )
    rows = list(
        Rating.objects.filter(pair=pair, rater_kind=RaterKind.LLM)
        .annotate(last_run=Subquery(last_run))
        .order_by(F("last_run").desc(nulls_last=True), "-created_at", "-id")
        .values_list("rater", "criterion_id", "preference")
    )
    if not rows:
        return None
    rater = rows[0][0]
    preferences: dict[int, list[int]] = {}
    for row_rater, criterion_id, preference in rows:
        if row_rater == rater:
            preferences.setdefault(criterion_id, []).append(preference)
    suggestion: dict[str, dict[str, Any]] = {}
    for criterion in criteria:
        values = preferences.get(criterion.pk)
        if not values:
            continue
        signs = {(v > 0) - (v < 0) for v in values}
        canonical = min(values, key=abs) if len(signs) == 1 else 0
        shown = canonical if a_shown_first else -canonical
        scale = Scale(criterion.scale_points, criterion.tie_option)
        suggestion[criterion.key] = {
            "prefers": 1 if shown < 0 else 2 if shown > 0 else None,
            "value": scale.shown_value(shown),
        }
    return suggestion or None


def project_overview(*, project: Project) -> dict[str, Any]:
    pairs = Pair.objects.filter(project=project)
    categories = [
        {"category": row["category"], "prompts": row["n_prompts"], "pairs": row["n_pairs"]}
        for row in Prompt.objects.filter(project=project)
        .values("category")
        .annotate(n_prompts=Count("id", distinct=True), n_pairs=Count("pairs"))
        .order_by("category")
    ]
    ratings = Rating.objects.filter(pair__project=project)
    per_criterion = []
    for criterion in project.criteria.all():
        human = ratings.filter(criterion=criterion, rater_kind=RaterKind.HUMAN)
        complete = (
            human.values("pair_id").annotate(n=Count("id")).filter(n__gte=project.overlap).count()
        )
        per_criterion.append(
            {"criterion": criterion.key, "ratings": human.count(), "units_complete": complete}
        )
    per_labeler = []
    rows = (
        Assignment.objects.filter(project=project)
        .values("labeler__username")
        .annotate(
            submitted=Count("id", filter=Q(status=AssignmentStatus.SUBMITTED)),
            skipped=Count("id", filter=Q(status=AssignmentStatus.SKIPPED)),
            open=Count("id", filter=Q(status=AssignmentStatus.OPEN)),
        )
        .order_by("labeler__username")
    )
    times: dict[str, list[int]] = {}
    for username, spent in Assignment.objects.filter(
        project=project, status=AssignmentStatus.SUBMITTED, time_spent_ms__isnull=False
    ).values_list("labeler__username", "time_spent_ms"):
        times.setdefault(username, []).append(spent or 0)
    for row in rows:
        spent_ms = times.get(row["labeler__username"])
        per_labeler.append(
            {
                "username": row["labeler__username"],
                "submitted": row["submitted"],
                "skipped": row["skipped"],
                "open": row["open"],
                "median_seconds": round(median(spent_ms) / 1000, 1) if spent_ms else None,
            }
        )
    distribution = {
        str(row["submitted"]): row["n"]
        for row in pairs.values("submitted").annotate(n=Count("id")).order_by("submitted")
    }
    return {
        "pairs": pairs.count(),
        "prompts": Prompt.objects.filter(project=project).count(),
        "categories": categories,
        "human_ratings": ratings.filter(rater_kind=RaterKind.HUMAN).count(),
        "llm_ratings": ratings.filter(rater_kind=RaterKind.LLM).count(),
        "per_criterion": per_criterion,
        "per_labeler": per_labeler,
        "ratings_per_pair": distribution,
    }
