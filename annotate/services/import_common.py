"""Shared pieces of the importers: the result type, row checks, bulk lookups and inserts."""

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.db import connection
from django.db.models import Field, Model

from annotate.models import Project, Prompt
from annotate.services.import_readers import Record, RowErrors

# Called as progress(stage, done, total) while an import runs; total is 0 when not known.
# Stages: "reading", "checking", "writing prompts", "writing completions", "writing pairs",
# "writing ratings", "committing", "done". Calls made inside the write transaction report work that
# is not visible to anyone else until it commits, and is rolled back if it fails.
ImportProgress = Callable[[str, int, int], None]


def no_progress(stage: str, done: int, total: int) -> None:
    """The default progress callback: an import nobody watches."""


BATCH_SIZE = 2000
# Rows per COPY statement on PostgreSQL: progress is reported between them.
COPY_ROWS = 20_000
# Chunk for `IN (...)` lookups, well under SQLite's bound-parameter limit.
LOOKUP_CHUNK = 1000

# Field lengths of the models, checked per row so a long value is a row error, not a crash.
MAX_LENGTH = {"prompt_id": 200, "model": 200, "category": 200, "rater": 150}


@dataclass
class ImportResult:
    """What a file held and what importing it added; a re-import holds as much, creates nothing.

    `pairs_in_file` counts the explicit pairs of a pairs file and, for a completions file, the
    pairs its prompts have once it is imported (all model pairs, or the sampled number per
    prompt); for a ratings file `prompts_in_file` / `pairs_in_file` count the prompts and pairs
    it rates. `by_category` breaks the same counts down per category: for completions and pairs
    files {"prompts", "prompts_created", "pairs", "pairs_created"}, for ratings files
    {"prompts", "pairs", "ratings", "ratings_created"}.
    """

    kind: str  # "completions" | "pairs" | "ratings"
    rows: int  # data rows read
    prompts_created: int = 0
    completions_created: int = 0
    pairs_created: int = 0
    ratings_created: int = 0
    by_category: dict[str, dict[str, int]] = field(default_factory=dict)
    prompts_in_file: int = 0
    completions_in_file: int = 0
    pairs_in_file: int = 0
    ratings_in_file: int = 0


def required_value(
    record: Record, name: str, row: int, errors: RowErrors, *, strip: bool
) -> str | None:
    value = record.get(name)
    if value is None or not value.strip():
        errors.add(row, name, "missing value" if value is None else "empty value")
        return None
    value = value.strip() if strip else value
    limit = MAX_LENGTH.get(name) or MAX_LENGTH.get(name.removesuffix("_a").removesuffix("_b"))
    if limit and len(value) > limit:
        errors.add(row, name, f"longer than {limit} characters")
        return None
    return value


def chunks(items: Sequence[Any], size: int = LOOKUP_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class StoredPrompt(NamedTuple):
    pk: int
    text: str
    category: str


def prompt_lookup(
    project: Project, external_ids: Iterable[str], *, with_text: bool = True
) -> dict[str, StoredPrompt]:
    """The project's prompts among `external_ids`; without text when only the ids are needed."""
    found: dict[str, StoredPrompt] = {}
    fields = ("id", "external_id", "text", "category") if with_text else ("id", "external_id")
    for chunk in chunks(sorted(external_ids)):
        for values in Prompt.objects.filter(project=project, external_id__in=chunk).values_list(
            *fields
        ):
            pk, ext, text, category = values if with_text else (*values, "", "")
            found[ext] = StoredPrompt(pk, text, category)
    return found


def insert_rows(
    model: type[Model],
    fields: Sequence[str],
    rows: Iterable[tuple[Any, ...]],
    *,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Insert plain value tuples, skipping model instances (they cost more than the SQL).

    `rows` may be a generator: it is consumed in batches, so the rows never exist as one list.
    On PostgreSQL each batch of COPY_ROWS is one COPY; elsewhere BATCH_SIZE rows go to one
    executemany. `fields` name model fields, every column without a database default included,
    in tuple order. Returns the number of rows inserted; `progress` is told the running count
    after each batch is in the database (with `checks_per_statement`, checked too).
    """
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(column_name(model, name)) for name in fields)
    postgresql = connection.vendor == "postgresql"
    iterator = iter(rows)
    size = COPY_ROWS if postgresql else BATCH_SIZE
    batches = iter(lambda: list(itertools.islice(iterator, size)), [])
    placeholders = ", ".join(["%s"] * len(fields))
    count = 0
    with connection.cursor() as cursor:
        for batch in batches:
            if postgresql:
                with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for row in batch:
                        copy.write_row(row)
            else:
                cursor.executemany(
                    f"INSERT INTO {table} ({columns}) VALUES ({placeholders})", batch
                )
            count += len(batch)
            if progress:
                progress(count)
    return count


def checks_per_statement() -> None:
    """Check foreign keys at the end of each statement of this transaction, not at its commit.

    The work is the same (one lookup per key per row, most of a large import's time), but it is
    done batch by batch, so progress reported after each batch is true, and the commit that
    follows is quick instead of a long silent wait. Call inside transaction.atomic.
    """
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def insert_rows_with_ids(
    model: type[Model],
    fields: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    progress: Callable[[int], None] | None = None,
) -> list[int] | None:
    """Insert rows as `insert_rows` does and return their ids in order, where that is cheap.

    On PostgreSQL the ids are drawn from the table's sequence first and written with the rows,
    so no query has to find the rows again (a lookup of rows inserted moments ago is planned on
    statistics that do not know them yet, and can end in a scan of the whole table). Elsewhere
    the rows are inserted and None is returned: the caller looks the ids up by natural key.
    """
    if connection.vendor != "postgresql":
        insert_rows(model, fields, rows, progress=progress)
        return None
    pk = model._meta.pk
    assert pk is not None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [connection.ops.quote_name(model._meta.db_table), pk.column, len(rows)],
        )
        ids = [value for (value,) in cursor.fetchall()]
    insert_rows(
        model,
        (pk.name, *fields),
        ((pk_value, *row) for pk_value, row in zip(ids, rows, strict=True)),
        progress=progress,
    )
    return ids


def column_name(model: type[Model], name: str) -> str:
    field = model._meta.get_field(name)
    if not isinstance(field, Field) or not field.column:
        raise ValueError(f"{model.__name__}.{name} is not a concrete column")
    return field.column
