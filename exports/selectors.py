"""Reads for exports: ratings and DPO units of a project, in bounded chunks.

Every reader pages by primary key (keyset pagination: `id > last ORDER BY id LIMIT n`), so an
export of any size holds one chunk in memory, runs one query per chunk, and keeps no server-side
cursor open between chunks of a streamed response.
"""

from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from annotate.models import Criterion, Pair, Project, RaterKind, Rating, Verdict

CHUNK_SIZE = 2000

HUMAN_SOURCE = "human"

# The long format, in column order.
RATING_COLUMNS: tuple[str, ...] = (
    "rating_id",
    "pair_id",
    "prompt_id",
    "category",
    "prompt",
    "model_a",
    "completion_a",
    "model_b",
    "completion_b",
    "criterion",
    "rater",
    "rater_kind",
    "shown_first",
    "value_shown",
    "preference",
    "verdict",
    "with_suggestion",
    "rationale",
    "created_at",
)

# What a rating row reads of its own; the pair's texts are read once per pair and chunk.
_RATING_FIELDS: tuple[str, ...] = (
    "id",
    "pair_id",
    "criterion_id",
    "rater",
    "rater_kind",
    "shown_first",
    "value_shown",
    "preference",
    "verdict",
    "with_suggestion",
    "rationale",
    "created_at",
)
_PAIR_FIELDS: tuple[str, ...] = (
    "id",
    "prompt__external_id",
    "prompt__category",
    "prompt__text",
    "model_a",
    "completion_a__text",
    "model_b",
    "completion_b__text",
)

RatingRow = tuple[Any, ...]


def project_criterion_keys(*, project: Project) -> list[str]:
    return list(Criterion.objects.filter(project=project).values_list("key", flat=True))


def project_judge_names(*, project: Project) -> list[str]:
    """Names of the LLM raters (judges, imported LLM labels) that rated this project."""
    return sorted(
        Rating.objects.filter(pair__project=project, rater_kind=RaterKind.LLM)
        .values_list("rater", flat=True)
        .distinct()
    )


def rating_rows(
    *, project: Project, criterion: str | None = None, chunk_size: int = CHUNK_SIZE
) -> Iterator[list[RatingRow]]:
    """The project's ratings in the long format (`RATING_COLUMNS` order), chunk by chunk.

    Ratings come pair by pair (pair id, then rating id), so the texts of a pair, the bulk of an
    export, are read once per chunk rather than once per rating. The project is matched through
    the criterion (every rating's criterion belongs to its pair's project), which keeps the pair
    table out of the paging query. Values are Python values: `shown_first` is None when unknown,
    `created_at` an aware datetime.
    """
    keys = dict(Criterion.objects.filter(project=project).values_list("id", "key"))
    if criterion is not None:
        keys = {pk: key for pk, key in keys.items() if key == criterion}
    ratings = (
        Rating.objects.filter(criterion_id__in=list(keys))
        .order_by("pair_id", "id")
        .values_list(*_RATING_FIELDS)
    )
    last_pair, last_id = 0, 0
    while keys:
        # `pair_id >= last_pair` is the index range; the OR resumes inside the last pair.
        chunk = list(
            ratings.filter(pair_id__gte=last_pair).filter(
                Q(pair_id__gt=last_pair) | Q(id__gt=last_id)
            )[:chunk_size]
        )
        if not chunk:
            return
        pairs = {
            row[0]: row[1:]
            for row in Pair.objects.filter(id__in={row[1] for row in chunk}).values_list(
                *_PAIR_FIELDS
            )
        }
        yield [
            (
                rating_id,
                pair_id,
                *pairs[pair_id],
                keys[criterion_id],
                rater,
                rater_kind,
                shown_first or None,
                *rest,
            )
            for rating_id, pair_id, criterion_id, rater, rater_kind, shown_first, *rest in chunk
        ]
        if len(chunk) < chunk_size:
            return
        last_id, last_pair = chunk[-1][0], chunk[-1][1]


@dataclass(frozen=True)
class DpoRecord:
    prompt: str
    chosen: str
    rejected: str
    pair_id: int
    prompt_id: str
    criterion: str
    source: str
    agreement: float


def human_majority(verdicts: list[str]) -> tuple[str, float] | None:
    """The single most common verdict and its share, or None when two verdicts share the top."""
    if not verdicts:
        return None
    (top, top_count), *rest = Counter(verdicts).most_common()
    if rest and rest[0][1] == top_count:
        return None
    return top, top_count / len(verdicts)


def judge_verdict(verdicts: list[str]) -> tuple[str, float]:
    """A judge's verdict on a unit from its calls (one per order): agreeing calls or else a tie.

    The share is that of the judge's calls that say the resulting verdict (1.0 when consistent).
    """
    verdict = verdicts[0] if len(set(verdicts)) == 1 else Verdict.TIE.value
    return verdict, verdicts.count(verdict) / len(verdicts)


def dpo_records(
    *,
    project: Project,
    criterion: str | None,
    source: str,
    min_agreement: float,
    include_suggested: bool = False,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[list[DpoRecord]]:
    """Preference pairs, one per (pair, criterion) with a decisive verdict, chunk by chunk of pairs.

    `source` is "human" (the strict plurality of human verdicts, kept when its share of the unit's
    human verdicts is at least `min_agreement`) or an LLM rater's name (its verdict as
    `judge_verdict` defines). Ties and units with no single most common verdict are dropped.
    Human ratings made with a judge's suggestion shown (verify mode) count only with
    `include_suggested`: by default they are left out, as the report keeps them apart from
    blind ratings, so that a "human" preference is not the judge's own echoed back.
    """
    ratings = Rating.objects.filter(pair__project=project)
    if not include_suggested:
        ratings = ratings.filter(with_suggestion=False)
    if source == HUMAN_SOURCE:
        ratings = ratings.filter(rater_kind=RaterKind.HUMAN)
    else:
        ratings = ratings.filter(rater_kind=RaterKind.LLM, rater=source)
    if criterion is not None:
        ratings = ratings.filter(criterion__key=criterion)
    pairs = Pair.objects.filter(project=project).order_by("id")
    last_id = 0
    while True:
        chunk = list(
            pairs.filter(id__gt=last_id).values_list(
                "id",
                "prompt__external_id",
                "prompt__text",
                "completion_a__text",
                "completion_b__text",
            )[:chunk_size]
        )
        if not chunk:
            return
        verdicts: dict[tuple[int, str], list[str]] = defaultdict(list)
        for pair_id, key, verdict in (
            ratings.filter(pair_id__gte=chunk[0][0], pair_id__lte=chunk[-1][0])
            .order_by("pair_id", "criterion__position", "criterion_id", "id")
            .values_list("pair_id", "criterion__key", "verdict")
        ):
            verdicts[(pair_id, key)].append(verdict)
        texts = {row[0]: row[1:] for row in chunk}
        records = []
        for (pair_id, key), unit_verdicts in verdicts.items():
            if source == HUMAN_SOURCE:
                majority = human_majority(unit_verdicts)
                if majority is None or majority[1] < min_agreement:
                    continue
                winner, share = majority
            else:
                winner, share = judge_verdict(unit_verdicts)
                if share < min_agreement:
                    continue
            if winner == Verdict.TIE:
                continue
            prompt_id, prompt, text_a, text_b = texts[pair_id]
            chosen, rejected = (text_a, text_b) if winner == Verdict.A else (text_b, text_a)
            records.append(
                DpoRecord(
                    prompt=prompt,
                    chosen=chosen,
                    rejected=rejected,
                    pair_id=pair_id,
                    prompt_id=prompt_id,
                    criterion=key,
                    source=source,
                    agreement=round(share, 6),
                )
            )
        yield records
        if len(chunk) < chunk_size:
            return
        last_id = chunk[-1][0]
