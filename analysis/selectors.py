"""The ORM side of the report: ratings of a project as the long frame the metrics read.

A million ratings must load in well under a gigabyte, so no list of a million row tuples (or
dicts) is ever built. Completion lengths and pairs are read once, ratings stream from the
database `READ_CHUNK` rows at a time, and each chunk goes straight into per-column arrays:
numbers as numpy arrays, text as integer codes into a table of the distinct values (a few
raters, models and verdicts). Those compact columns are turned into the frame's text columns
inside Arrow, one criterion at a time when the report asks for it (`criterion_frames`).
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from django.db import connections
from django.db.models import QuerySet
from django.db.models.functions import Length
from django.db.models.sql.constants import MULTI

from analysis.metrics.frame import COLUMNS, coerce_frame, empty_frame
from annotate.models import Completion, Criterion, Pair, Project, RaterKind, Rating

READ_CHUNK = 20_000

# (name, ORM path, numpy dtype or None for text) of each field read.
Fields = tuple[tuple[str, str, Any], ...]
_COMPLETION_FIELDS: Fields = (("id", "id", np.int64), ("length", "length", np.int64))
_PAIR_FIELDS: Fields = (
    ("pair_id", "id", np.int64),
    ("prompt_id", "prompt__external_id", None),
    ("category", "prompt__category", None),
    ("model_a", "model_a", None),
    ("model_b", "model_b", None),
    ("completion_a", "completion_a_id", np.int64),
    ("completion_b", "completion_b_id", np.int64),
)
_RATING_FIELDS: Fields = (
    ("pair_id", "pair_id", np.int64),
    ("criterion_id", "criterion_id", np.int64),
    ("rater", "rater", None),
    ("rater_kind", "rater_kind", None),
    ("shown_first", "shown_first", None),
    ("value_shown", "value_shown", None),
    ("preference", "preference", np.int64),
    ("verdict", "verdict", None),
    ("with_suggestion", "with_suggestion", np.bool_),
    # NULL (no assignment, or no time recorded) becomes NaN.
    ("time_spent_ms", "assignment__time_spent_ms", np.float64),
)


@dataclass
class _Columns:
    """Rows as one array per column: numbers as they are, text as codes into `distinct`."""

    arrays: dict[str, np.ndarray]
    distinct: dict[str, list[Any]]

    def __len__(self) -> int:
        return len(next(iter(self.arrays.values())))

    def rows(self, selected: np.ndarray) -> "_Columns":
        return _Columns({k: v[selected] for k, v in self.arrays.items()}, self.distinct)

    def text(self, name: str, rows: np.ndarray | None = None) -> pd.Series:
        codes = self.arrays[name] if rows is None else self.arrays[name][rows]
        return _text_column(self.distinct[name], codes)


def _read(queryset: QuerySet[Any, Any], fields: Fields) -> _Columns:
    """Every row of a values_list queryset (in `fields` order), chunk by chunk, as _Columns."""
    parts: dict[str, list[np.ndarray]] = {name: [] for name, _, _ in fields}
    known: dict[str, dict[Any, int]] = {name: {} for name, _, dtype in fields if dtype is None}
    for rows in _row_chunks(queryset.values_list(*(path for _, path, _ in fields))):
        for (name, _, dtype), column in zip(fields, zip(*rows, strict=True), strict=True):
            if dtype is not None:
                parts[name].append(np.array(column, dtype=dtype))
                continue
            codes, values = pd.factorize(np.array(column, dtype=object), use_na_sentinel=False)
            table = known[name]
            mapping = np.array([table.setdefault(value, len(table)) for value in values])
            parts[name].append(mapping[codes].astype(np.int32))
    arrays = {
        name: np.concatenate(parts[name]) if parts[name] else np.zeros(0, dtype or np.int32)
        for name, _, dtype in fields
    }
    return _Columns(arrays, {name: list(table) for name, table in known.items()})


def _row_chunks(queryset: QuerySet[Any, Any]) -> Iterator[list[tuple[Any, ...]]]:
    """A values_list queryset's rows, READ_CHUNK at a time, as the database driver gives them.

    Django's own chunked fetch (the one QuerySet.iterator uses: a server-side cursor on
    PostgreSQL unless DISABLE_SERVER_SIDE_CURSORS is set), but a chunk at a time rather than a
    row at a time: per-row Python work was most of the time to load a million ratings. The
    fields read need no converters (text, integers, booleans; SQLite's 0/1 booleans and NULL
    times become numpy bools and NaN in `_read`).
    """
    connection = connections[queryset.db]
    chunked = connection.features.can_use_chunked_reads and not connection.settings_dict.get(
        "DISABLE_SERVER_SIDE_CURSORS"
    )
    compiler = queryset.query.get_compiler(using=queryset.db)
    chunks = compiler.execute_sql(MULTI, chunked_fetch=chunked, chunk_size=READ_CHUNK)
    return iter(chunks or ())


def _text_column(distinct: list[Any], codes: np.ndarray) -> pd.Series:
    """A str column from its distinct values and a code per row, built inside Arrow.

    Indexing an object array and letting pandas convert it took half a second per million
    rows and column, and as much memory again; Arrow's take on the small table of distinct
    values is a few milliseconds and allocates only the result.
    """
    table = pa.array([str(value) for value in distinct], type=pa.large_string())
    return pd.Series(pc.take(table, pa.array(codes, type=pa.int32())).to_pandas(), dtype="str")


@dataclass
class _Ratings:
    """A project's ratings as read: criteria (id, key, scale points) by id, pairs, ratings."""

    known: list[tuple[int, str, int]]
    pairs: _Columns
    lengths: tuple[np.ndarray, np.ndarray]  # per pair row: characters of A's and B's text
    ratings: _Columns


def _load(
    *,
    project: Project,
    criteria: list[str] | None,
    categories: list[str] | None,
    include_suggested: bool,
) -> _Ratings | None:
    criterion_rows = Criterion.objects.filter(project=project)
    if criteria:
        criterion_rows = criterion_rows.filter(key__in=criteria)
    known = list(criterion_rows.order_by("id").values_list("id", "key", "scale_points"))
    if not known:
        return None

    pairs = Pair.objects.filter(project=project)
    # Matched through the criterion (every rating's criterion belongs to its pair's project),
    # which the (criterion, rater_kind) index serves and keeps the pair table out of the scan.
    ratings = Rating.objects.filter(criterion_id__in=[row[0] for row in known])
    if categories:
        pairs = pairs.filter(prompt__category__in=categories)
        ratings = ratings.filter(pair__prompt__category__in=categories)
    if not include_suggested:
        ratings = ratings.filter(with_suggestion=False)

    pair_columns = _read(pairs.order_by("id"), _PAIR_FIELDS)
    pair_ids = pair_columns.arrays["pair_id"]
    if len(pair_ids) == 0:
        return None
    # Each completion's length once, rather than once per pair it is in.
    completions = _read(
        Completion.objects.filter(prompt__project=project)
        .annotate(length=Length("text"))
        .order_by("id"),
        _COMPLETION_FIELDS,
    )
    ids, length = completions.arrays["id"], completions.arrays["length"]
    lengths = tuple(
        length[np.searchsorted(ids, pair_columns.arrays[side])]
        for side in ("completion_a", "completion_b")
    )
    # Pairs only get higher ids, so ratings of pairs created after the read above stay out.
    ratings = ratings.filter(pair_id__lte=int(pair_ids[-1])).order_by("id")
    return _Ratings(known, pair_columns, (lengths[0], lengths[1]), _read(ratings, _RATING_FIELDS))


def ratings_frame(
    *,
    project: Project,
    criteria: list[str] | None = None,
    categories: list[str] | None = None,
    include_suggested: bool = True,
) -> pd.DataFrame:
    """One row per rating of the project (by rating id), canonical orientation, with lengths.

    A rater group is "human" for every human, and the rater's own name for an LLM judge.
    """
    loaded = _load(
        project=project,
        criteria=criteria,
        categories=categories,
        include_suggested=include_suggested,
    )
    if loaded is None or len(loaded.ratings) == 0:
        return empty_frame()
    return _frame(loaded, loaded.ratings)


def criterion_frames(
    *,
    project: Project,
    criteria: list[str] | None = None,
    categories: list[str] | None = None,
    include_suggested: bool = True,
) -> Iterator[tuple[str, pd.DataFrame]]:
    """(criterion key, the ratings_frame of that criterion alone) by key, criteria with ratings.

    The report is computed criterion by criterion, and only the criterion at hand is a frame:
    the ratings are read once, in their compact form, and one frame is built at a time.
    """
    loaded = _load(
        project=project,
        criteria=criteria,
        categories=categories,
        include_suggested=include_suggested,
    )
    if loaded is None:
        return
    for criterion_id, key, _ in sorted(loaded.known, key=lambda row: row[1]):
        selected = np.flatnonzero(loaded.ratings.arrays["criterion_id"] == criterion_id)
        if len(selected):
            yield key, _frame(loaded, loaded.ratings.rows(selected))


def _frame(loaded: _Ratings, ratings: _Columns) -> pd.DataFrame:
    pairs, known = loaded.pairs, loaded.known
    pair_ids = pairs.arrays["pair_id"]
    rating_pairs = ratings.arrays["pair_id"]
    # Pairs come by id, so each rating finds its pair's row by binary search.
    pair_row = np.searchsorted(pair_ids, rating_pairs)
    found = pair_row < len(pair_ids)
    found[found] = pair_ids[pair_row[found]] == rating_pairs[found]
    if not found.all():
        missing = int(rating_pairs[~found][0])
        raise ValueError(f"rating of pair {missing}: the pair was not among the pairs read")
    criterion_ids = np.array([row[0] for row in known], dtype=np.int64)
    criterion_row = np.searchsorted(criterion_ids, ratings.arrays["criterion_id"])
    keys = [row[1] for row in known]
    scale_k = np.array([row[2] // 2 for row in known], dtype=np.int64)

    # A unit's text ("<pair id>:<criterion>") is built once per unit, not once per rating.
    unit_codes, unit_keys = pd.factorize(pair_row * len(known) + criterion_row)
    unit_keys = np.asarray(unit_keys)
    units = [
        f"{pair}:{keys[criterion]}"
        for pair, criterion in zip(
            pair_ids[unit_keys // len(known)].tolist(),
            (unit_keys % len(known)).tolist(),
            strict=True,
        )
    ]
    # The rater's name for an LLM judge, "human" (one code past the raters') for a person.
    raters = ratings.distinct["rater"]
    llm = np.array([kind == RaterKind.LLM.value for kind in ratings.distinct["rater_kind"]])
    is_llm = llm[ratings.arrays["rater_kind"]]
    group_codes = np.where(is_llm, ratings.arrays["rater"], len(raters))
    columns: dict[str, Any] = {
        "unit": _text_column(units, unit_codes),
        "pair_id": rating_pairs,
        "prompt_id": pairs.text("prompt_id", pair_row),
        "category": pairs.text("category", pair_row),
        "model_a": pairs.text("model_a", pair_row),
        "model_b": pairs.text("model_b", pair_row),
        "criterion": _text_column(keys, criterion_row),
        "rater": ratings.text("rater"),
        "rater_kind": ratings.text("rater_kind"),
        "rater_group": _text_column([*raters, "human"], group_codes),
        "shown_first": ratings.text("shown_first"),
        "value_shown": ratings.text("value_shown"),
        "preference": ratings.arrays["preference"],
        "scale_k": scale_k[criterion_row],
        "verdict": ratings.text("verdict"),
        "len_a": loaded.lengths[0][pair_row],
        "len_b": loaded.lengths[1][pair_row],
        "with_suggestion": ratings.arrays["with_suggestion"],
        "time_spent_ms": ratings.arrays["time_spent_ms"],
    }
    # copy=False: a frame built from a dict copies every column by default.
    return coerce_frame(pd.DataFrame({name: columns[name] for name in COLUMNS}, copy=False))
