"""Importing existing human or LLM ratings onto a project's pairs (the ratings format)."""

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from annotate.models import Criterion, Pair, Project, RaterKind, Rating, ShownFirst
from annotate.scale import Scale, verdict_of
from annotate.services.assignment import project_open_pairs_refresh
from annotate.services.import_common import (
    BATCH_SIZE,
    ImportProgress,
    ImportResult,
    checks_per_statement,
    chunks,
    no_progress,
    prompt_lookup,
    required_value,
)
from annotate.services.import_readers import Record, RowErrors
from concord.api_errors import ApplicationError

RATINGS_COLUMNS = (
    "prompt_id",
    "model_a",
    "model_b",
    "criterion",
    "rater",
    "rater_kind",
    "winner",
)
RATINGS_OPTIONAL = ("strength", "shown_first")


@dataclass(slots=True)
class _RatingRow:
    """One ratings row checked on its own, in canonical orientation, not yet joined to a pair."""

    row: int
    prompt_id: str
    model_a: str
    model_b: str
    criterion: Criterion
    rater: str
    rater_kind: str
    shown_first: str
    preference: int


@dataclass(slots=True)
class _RatingIn:
    row: int
    pair_id: int
    category: str
    prompt_id: str
    criterion: Criterion
    rater: str
    rater_kind: str
    shown_first: str
    preference: int

    @property
    def key(self) -> tuple[Any, ...]:
        """The model's uniqueness key: humans once per unit, LLMs once per unit and order."""
        if self.rater_kind == RaterKind.HUMAN:
            return (self.pair_id, self.criterion.pk, self.rater, RaterKind.HUMAN)
        return (self.pair_id, self.criterion.pk, self.rater, RaterKind.LLM, self.shown_first)


FLIP = {"a": "b", "b": "a", "tie": "tie", "": ""}


def import_ratings(
    *,
    project: Project,
    records: Iterable[tuple[int, Record]],
    rows: Callable[[], int],
    filename: str,
    errors: RowErrors,
    progress: ImportProgress = no_progress,
) -> ImportResult:
    """Import ratings rows read by `records`; `rows()` is the number of data rows read."""
    criteria = {c.key: c for c in Criterion.objects.filter(project=project)}
    checked = [
        one
        for row, record in records
        if (one := _parse_rating(row, record, criteria, errors)) is not None
    ]
    progress("checking", rows(), rows())
    prompts = prompt_lookup(project, {r.prompt_id for r in checked}, with_text=False)
    pairs: dict[tuple[str, str, str], tuple[int, str]] = {}
    ext_of = {stored.pk: ext for ext, stored in prompts.items()}
    for chunk in chunks(list(ext_of)):
        for pk, prompt_pk, model_a, model_b, category in Pair.objects.filter(
            prompt_id__in=chunk
        ).values_list("id", "prompt_id", "model_a", "model_b", "prompt__category"):
            pairs[(ext_of[prompt_pk], model_a, model_b)] = (pk, category)
    parsed: list[_RatingIn] = []
    for given in checked:
        pair = pairs.get((given.prompt_id, given.model_a, given.model_b))
        if pair is None:
            errors.add(
                given.row,
                None,
                f"no pair {given.model_a!r} vs {given.model_b!r} for prompt_id "
                f"{given.prompt_id!r} in this project",
            )
            continue
        parsed.append(
            _RatingIn(
                row=given.row,
                pair_id=pair[0],
                category=pair[1],
                prompt_id=given.prompt_id,
                criterion=given.criterion,
                rater=given.rater,
                rater_kind=given.rater_kind,
                shown_first=given.shown_first,
                preference=given.preference,
            )
        )
    del checked, pairs

    existing: dict[tuple[Any, ...], tuple[int, str]] = {}
    rated_by_human: set[tuple[int, str]] = set()
    pair_ids = sorted({r.pair_id for r in parsed})
    for chunk in chunks(pair_ids):
        for pair_pk, criterion_pk, rater, kind, shown_first, preference in Rating.objects.filter(
            pair_id__in=chunk
        ).values_list(
            "pair_id", "criterion_id", "rater", "rater_kind", "shown_first", "preference"
        ):
            if kind == RaterKind.HUMAN:
                existing[(pair_pk, criterion_pk, rater, kind)] = (preference, shown_first)
                rated_by_human.add((pair_pk, rater))
            else:
                existing[(pair_pk, criterion_pk, rater, kind, shown_first)] = (
                    preference,
                    shown_first,
                )

    seen: dict[tuple[Any, ...], int] = {}
    new: list[_RatingIn] = []
    for rating in parsed:
        key = rating.key
        if key in seen:
            errors.add(
                rating.row,
                "rater",
                f"duplicate: {rating.rater!r} already rates this pair on "
                f"{rating.criterion.key!r} on row {seen[key]}",
            )
            continue
        seen[key] = rating.row
        if key in existing:
            if existing[key] != (rating.preference, rating.shown_first):
                errors.add(
                    rating.row,
                    "rater",
                    f"{rating.rater!r} already has a different rating of this pair on "
                    f"{rating.criterion.key!r} in the project",
                )
            continue  # the same rating again: re-importing adds nothing
        new.append(rating)
    errors.raise_if_any(filename)

    try:
        with transaction.atomic():
            checks_per_statement()
            progress("writing ratings", 0, len(new))
            Rating.objects.bulk_create((_rating_row(r) for r in new), batch_size=BATCH_SIZE)
            progress("writing ratings", len(new), len(new))
            _count_human_places(new, rated_by_human)
            project_open_pairs_refresh(project=project)
            progress("committing", 0, 0)
    except IntegrityError as exc:
        # Validation ran before the transaction; a rating of the same unit got in first.
        raise ApplicationError(
            f"{filename}: the ratings changed during the import (another import of the same "
            "rows?); nothing was imported, try again"
        ) from exc
    progress("done", rows(), rows())

    by_category: dict[str, dict[str, int]] = {}
    prompts_by_cat: dict[str, set[str]] = defaultdict(set)
    pairs_by_cat: dict[str, set[int]] = defaultdict(set)
    ratings_by_cat: Counter[str] = Counter(r.category for r in parsed)
    created_by_cat: Counter[str] = Counter(r.category for r in new)
    for rating in parsed:
        prompts_by_cat[rating.category].add(rating.prompt_id)
        pairs_by_cat[rating.category].add(rating.pair_id)
    for category in prompts_by_cat:
        by_category[category] = {
            "prompts": len(prompts_by_cat[category]),
            "pairs": len(pairs_by_cat[category]),
            "ratings": ratings_by_cat[category],
            "ratings_created": created_by_cat[category],
        }
    return ImportResult(
        kind="ratings",
        rows=rows(),
        ratings_created=len(new),
        by_category=by_category,
        prompts_in_file=len({r.prompt_id for r in parsed}),
        pairs_in_file=len(pair_ids),
        ratings_in_file=len(parsed),
    )


def _parse_rating(
    row: int,
    record: Record,
    criteria: dict[str, Criterion],
    errors: RowErrors,
) -> _RatingRow | None:
    values: dict[str, str] = {}
    for name in RATINGS_COLUMNS:
        value = required_value(record, name, row, errors, strip=True)
        if value is not None:
            values[name] = value
    bad = len(values) < len(RATINGS_COLUMNS)
    rater_kind = values.get("rater_kind", "").lower()
    if "rater_kind" in values and rater_kind not in RaterKind.values:
        errors.add(row, "rater_kind", f"{values['rater_kind']!r} is not human or llm")
        bad = True
    winner = values.get("winner", "").lower()
    if "winner" in values and winner not in ("a", "b", "tie"):
        errors.add(row, "winner", f"{values['winner']!r} is not a, b or tie")
        bad = True
    shown_first = (record.get("shown_first") or "").strip().lower()
    if shown_first not in ("a", "b", ""):
        errors.add(row, "shown_first", f"{record['shown_first']!r} is not a, b or empty")
        bad = True
    criterion = criteria.get(values.get("criterion", ""))
    if "criterion" in values and criterion is None:
        known = ", ".join(sorted(criteria)) or "none"
        errors.add(
            row, "criterion", f"unknown criterion {values['criterion']!r} (project has {known})"
        )
        bad = True
    strength_text = (record.get("strength") or "").strip()
    strength = 1
    if strength_text:
        k = criterion.strength_max if criterion else None
        # ASCII digits only: "²" passes str.isdigit() but is no number int() can read.
        whole = strength_text.isascii() and strength_text.isdigit()
        if not whole or int(strength_text) < 1 or (k and int(strength_text) > k):
            errors.add(row, "strength", f"{strength_text!r} is not a whole number in 1..{k or 'K'}")
            bad = True
        else:
            strength = int(strength_text)
    if winner == "tie" and strength != 1:
        errors.add(row, "strength", "a tie has no strength (leave it empty or 1)")
        bad = True
    if winner == "tie" and criterion and not (criterion.tie_option or criterion.has_middle):
        errors.add(row, "winner", f"criterion {criterion.key!r} offers no tie")
        bad = True
    model_a, model_b = values.get("model_a"), values.get("model_b")
    if model_a is not None and model_a == model_b:
        errors.add(row, "model_b", f"model_a and model_b are both {model_a!r}")
        return None
    if bad or criterion is None or model_a is None or model_b is None:
        return None
    if model_a > model_b:
        model_a, model_b = model_b, model_a
        winner, shown_first = FLIP[winner], FLIP[shown_first]
    return _RatingRow(
        row=row,
        prompt_id=values["prompt_id"],
        model_a=model_a,
        model_b=model_b,
        criterion=criterion,
        rater=values["rater"],
        rater_kind=rater_kind,
        shown_first=shown_first,
        preference={"a": -strength, "b": strength, "tie": 0}[winner],
    )


def _rating_row(rating: _RatingIn) -> Rating:
    value_shown = ""
    if rating.shown_first:
        # The canonical preference is in A's orientation; flipping it gives the shown one.
        shown = rating.preference if rating.shown_first == ShownFirst.A else -rating.preference
        scale = Scale(rating.criterion.scale_points, rating.criterion.tie_option)
        value_shown = scale.shown_value(shown)
    return Rating(
        pair_id=rating.pair_id,
        criterion=rating.criterion,
        rater_kind=rating.rater_kind,
        rater=rating.rater,
        shown_first=rating.shown_first,
        value_shown=value_shown,
        preference=rating.preference,
        verdict=verdict_of(rating.preference),
        source="import",
    )


def _count_human_places(new: list[_RatingIn], rated_by_human: set[tuple[int, str]]) -> None:
    """Count each newly seen (pair, human rater) as a used overlap place of the pair.

    Labelers are then not sent pairs that already have `overlap` human raters. The counters
    are bumped with UPDATE ... SET claims = claims + n, so a labeler claiming the same pair at
    the same time cannot be lost. LLM ratings use no places.
    """
    deltas: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for rating in new:
        place = (rating.pair_id, rating.rater)
        if rating.rater_kind != RaterKind.HUMAN or place in rated_by_human:
            continue
        rated_by_human.add(place)
        deltas[rating.pair_id][0] += 1
        deltas[rating.pair_id][1] += rating.shown_first == ShownFirst.A
        deltas[rating.pair_id][2] += rating.shown_first == ShownFirst.B
    groups: dict[tuple[int, int, int], list[int]] = defaultdict(list)
    for pair_id, (claims, a_first, b_first) in deltas.items():
        groups[(claims, a_first, b_first)].append(pair_id)
    for (claims, a_first, b_first), pair_ids in sorted(groups.items()):
        for chunk in chunks(sorted(pair_ids)):
            Pair.objects.filter(id__in=chunk).update(
                claims=F("claims") + claims,
                submitted=F("submitted") + claims,
                a_first_claims=F("a_first_claims") + a_first,
                b_first_claims=F("b_first_claims") + b_first,
            )
