"""Shared pieces of the importers: the result type, row checks, bulk lookups and inserts."""

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Field, Model

from annotate.models import Project, Prompt
from annotate.services.import_readers import Record, RowErrors

BATCH_SIZE = 2000
# Chunk for `IN (...)` lookups, well under SQLite's bound-parameter limit.
LOOKUP_CHUNK = 1000

# Field lengths of the models, checked per row so a long value is a row error, not a crash.
MAX_LENGTH = {"prompt_id": 200, "model": 200, "category": 200, "rater": 150}


@dataclass
class ImportResult:
    kind: str  # "completions" | "pairs" | "ratings"
    rows: int  # data rows read
    prompts_created: int = 0
    completions_created: int = 0
    pairs_created: int = 0
    ratings_created: int = 0
    # category -> {"prompts": n, "pairs": n} for this file's prompts
    by_category: dict[str, dict[str, int]] = field(default_factory=dict)


def required_value(
    record: Record, name: str, row: int, errors: RowErrors, *, strip: bool
) -> str | None:
    value = record.get(name)
    if value is None or not value.strip():
        errors.add(row, name, "missing value" if value is None else "empty value")
        return None
    value = value.strip() if strip else value
    if "\x00" in value:  # PostgreSQL cannot store NUL in text
        errors.add(row, name, "contains a NUL character")
        return None
    limit = MAX_LENGTH.get(name) or MAX_LENGTH.get(name.removesuffix("_a").removesuffix("_b"))
    if limit and len(value) > limit:
        errors.add(row, name, f"longer than {limit} characters")
        return None
    return value


def chunks(items: Sequence[Any], size: int = LOOKUP_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def prompt_lookup(project: Project, external_ids: Iterable[str]) -> dict[str, tuple[int, str]]:
    found: dict[str, tuple[int, str]] = {}
    for chunk in chunks(sorted(external_ids)):
        for pk, ext, text in Prompt.objects.filter(
            project=project, external_id__in=chunk
        ).values_list("id", "external_id", "text"):
            found[ext] = (pk, text)
    return found


def insert_rows(model: type[Model], fields: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
    """Insert plain value tuples, skipping model instances (they cost more than the SQL).

    On PostgreSQL the rows are streamed with COPY; elsewhere executemany in batches. `fields`
    name model fields, every column without a database default included, in tuple order.
    """
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(_column(model, name)) for name in fields)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        placeholders = ", ".join(["%s"] * len(fields))
        sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"
        for chunk in chunks(rows, BATCH_SIZE):
            cursor.executemany(sql, chunk)


def _column(model: type[Model], name: str) -> str:
    field = model._meta.get_field(name)
    if not isinstance(field, Field) or not field.column:
        raise ValueError(f"{model.__name__}.{name} is not a concrete column")
    return field.column
