"""Export files: ratings in the long format (CSV, JSONL, Parquet) and DPO preference pairs (JSONL).

Every format is produced chunk by chunk from the selectors, so memory stays flat whatever the
project's size: every format is a stream of encoded chunks (an HTTP response or a file), Parquet
with one row group per chunk. Only fixed columns are written, none of which can hold a secret.
"""

import functools
import io
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, BinaryIO

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from annotate.models import Project
from concord.api_errors import ApplicationError
from exports.csv_cells import csv_text
from exports.selectors import (
    CHUNK_SIZE,
    HUMAN_SOURCE,
    RATING_COLUMNS,
    RatingRow,
    dpo_records,
    project_criterion_keys,
    project_judge_names,
    rating_rows,
)


class ExportFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"
    PARQUET = "parquet"
    DPO = "dpo"


CONTENT_TYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.JSONL: "application/x-ndjson; charset=utf-8",
    ExportFormat.DPO: "application/x-ndjson; charset=utf-8",
    ExportFormat.PARQUET: "application/vnd.apache.parquet",
}

DEFAULT_MIN_AGREEMENT = 0.5

_PARQUET_TYPES = {
    "rating_id": pa.int64(),
    "pair_id": pa.int64(),
    "preference": pa.int16(),
    "with_suggestion": pa.bool_(),
    "created_at": pa.timestamp("us", tz="UTC"),
}
PARQUET_SCHEMA = pa.schema(
    [(name, _PARQUET_TYPES.get(name, pa.string())) for name in RATING_COLUMNS]
)

_STRING_COLUMNS = tuple(i for i, name in enumerate(RATING_COLUMNS) if name not in _PARQUET_TYPES)


@dataclass(frozen=True)
class ExportSpec:
    """What to export. `criterion` limits every format to one criterion; the rest is DPO only."""

    format: ExportFormat
    criterion: str | None = None
    source: str = HUMAN_SOURCE
    min_agreement: float = DEFAULT_MIN_AGREEMENT
    include_suggested: bool = False

    def filename(self, *, project: Project) -> str:
        suffix = f"-{self.criterion}" if self.criterion else ""
        if self.format == ExportFormat.DPO:
            suggested = "-with-suggested" if self.include_suggested else ""
            return f"{project.slug}-dpo{suffix}-{self.source}{suggested}.jsonl"
        return f"{project.slug}-ratings{suffix}.{self.format.value}"

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.format]


def export_spec_check(
    *,
    project: Project,
    format: str,
    criterion: str | None = None,
    source: str | None = None,
    min_agreement: str | float | None = None,
    include_suggested: str | bool | None = None,
) -> ExportSpec:
    """A checked ExportSpec, or ApplicationError naming the bad field."""
    try:
        export_format = ExportFormat(format)
    except ValueError:
        choices = ", ".join(f.value for f in ExportFormat)
        raise ApplicationError(
            f"format: {format!r} is not one of {choices}.", extra={"field": "format"}
        ) from None
    criterion = criterion or None
    if criterion is not None and criterion not in project_criterion_keys(project=project):
        raise ApplicationError(
            f"criterion: {criterion!r} is not a criterion of this project.",
            extra={"field": "criterion"},
        )
    source = source or HUMAN_SOURCE
    if source != HUMAN_SOURCE and source not in project_judge_names(project=project):
        raise ApplicationError(
            f"source: {source!r} is neither 'human' nor an LLM rater of this project.",
            extra={"field": "source"},
        )
    agreement = DEFAULT_MIN_AGREEMENT
    if min_agreement not in (None, ""):
        try:
            agreement = float(min_agreement)  # type: ignore[arg-type]
        except ValueError:
            agreement = math.nan
        if not 0.0 <= agreement <= 1.0:
            raise ApplicationError(
                f"min_agreement: {min_agreement!r} is not a number from 0 to 1.",
                extra={"field": "min_agreement"},
            )
    return ExportSpec(
        format=export_format,
        criterion=criterion,
        source=source,
        min_agreement=agreement,
        include_suggested=_flag(include_suggested, "include_suggested"),
    )


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")


def _flag(value: str | bool | None, field: str) -> bool:
    """A yes/no option given as a bool or as text ("true"/"false", "1"/"0", ...); absent = no."""
    if value is None or isinstance(value, bool):
        return bool(value)
    text = value.strip().lower()
    if text in _TRUE + _FALSE:
        return text in _TRUE
    raise ApplicationError(f"{field}: {value!r} is not true or false.", extra={"field": field})


def _csv_other(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


# shown_first may be None (unknown order); its values "a"/"b" never need quoting or escaping.
_CSV_CELLS = [
    csv_text if i in _STRING_COLUMNS and name != "shown_first" else _csv_other
    for i, name in enumerate(RATING_COLUMNS)
]
# Columns 2..8 (prompt_id .. completion_b) belong to the pair, the rest to the rating.
_PAIR_COLUMNS = slice(2, RATING_COLUMNS.index("completion_b") + 1)
_OWN_COLUMNS = slice(_PAIR_COLUMNS.stop, None)
_PAIR_NAMES = RATING_COLUMNS[_PAIR_COLUMNS]
_OWN_NAMES = RATING_COLUMNS[_OWN_COLUMNS]
_CSV_PAIR_CELLS = _CSV_CELLS[_PAIR_COLUMNS]
# A rating's own cells but its rationale and time take few distinct values (criterion, rater,
# kind, order, scale value, preference, verdict, flag): each is converted once per export.
_CSV_OWN_CELLS = [
    convert if name in ("rationale", "created_at") else functools.lru_cache(maxsize=4096)(convert)
    for convert, name in zip(_CSV_CELLS[_OWN_COLUMNS], _OWN_NAMES, strict=True)
]


def _csv_cells(converters: list[Any], values: RatingRow) -> str:
    return ",".join([convert(value) for convert, value in zip(converters, values, strict=True)])


def _one_line_per_rating[T: (str, bytes)](
    chunk: list[RatingRow], pair_part: Callable[[RatingRow], T], line: Callable[[RatingRow, T], T]
) -> list[T]:
    """The lines of a chunk. A pair's part (its texts: most of each line, repeated for each of its
    ratings, which come pair by pair) is encoded once per pair and spliced into each line."""
    parts: dict[int, T] = {}
    lines = []
    for row in chunk:
        part = parts.get(row[1])
        if part is None:
            part = parts[row[1]] = pair_part(row)
        lines.append(line(row, part))
    return lines


def _csv_pair_part(row: RatingRow) -> str:
    return _csv_cells(_CSV_PAIR_CELLS, row[_PAIR_COLUMNS])


def _csv_line(row: RatingRow, pair_part: str) -> str:
    return f"{row[0]},{row[1]},{pair_part},{_csv_cells(_CSV_OWN_CELLS, row[_OWN_COLUMNS])}\r\n"


def _csv_chunks(
    *, project: Project, spec: ExportSpec, chunk_size: int = CHUNK_SIZE
) -> Iterator[tuple[bytes, int]]:
    yield (",".join(RATING_COLUMNS) + "\r\n").encode(), 0
    for chunk in rating_rows(project=project, criterion=spec.criterion, chunk_size=chunk_size):
        lines = _one_line_per_rating(chunk, _csv_pair_part, _csv_line)
        yield "".join(lines).encode(), len(chunk)


def _json_members(record: dict[str, object]) -> bytes:
    """The members of a JSON object without its braces, to splice into a larger object."""
    return orjson.dumps(record)[1:-1]


def _json_pair_part(row: RatingRow) -> bytes:
    return _json_members(dict(zip(_PAIR_NAMES, row[_PAIR_COLUMNS], strict=True)))


def _json_line(row: RatingRow, pair_part: bytes) -> bytes:
    own = _json_members(dict(zip(_OWN_NAMES, row[_OWN_COLUMNS], strict=True)))
    return b'{"rating_id":%d,"pair_id":%d,%b,%b}\n' % (row[0], row[1], pair_part, own)


def _jsonl_chunks(
    *, project: Project, spec: ExportSpec, chunk_size: int = CHUNK_SIZE
) -> Iterator[tuple[bytes, int]]:
    # orjson writes what json.dumps(..., ensure_ascii=False, separators=(",", ":")) would, with
    # datetimes in ISO 8601.
    for chunk in rating_rows(project=project, criterion=spec.criterion, chunk_size=chunk_size):
        yield b"".join(_one_line_per_rating(chunk, _json_pair_part, _json_line)), len(chunk)


def _dpo_chunks(
    *, project: Project, spec: ExportSpec, chunk_size: int = CHUNK_SIZE
) -> Iterator[tuple[bytes, int]]:
    for chunk in dpo_records(
        project=project,
        criterion=spec.criterion,
        source=spec.source,
        min_agreement=spec.min_agreement,
        include_suggested=spec.include_suggested,
        chunk_size=chunk_size,
    ):
        if chunk:
            yield b"".join([orjson.dumps(asdict(r)) + b"\n" for r in chunk]), len(chunk)


class _Drain(io.RawIOBase):
    """A write-only file that keeps what is written until taken: the Parquet writer's sink."""

    def __init__(self) -> None:
        super().__init__()
        self._pending = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._pending += data
        return len(data)

    def take(self) -> bytes:
        data = bytes(self._pending)
        self._pending.clear()
        return data


def _parquet_batch(chunk: list[RatingRow]) -> pa.RecordBatch:
    columns = list(zip(*chunk, strict=True))
    return pa.record_batch(
        [
            pa.array(values, type=field.type)
            for values, field in zip(columns, PARQUET_SCHEMA, strict=True)
        ],
        schema=PARQUET_SCHEMA,
    )


def _parquet_chunks(
    *, project: Project, spec: ExportSpec, chunk_size: int = CHUNK_SIZE
) -> Iterator[tuple[bytes, int]]:
    """The Parquet file in pieces: one row group per chunk, then the footer.

    A Parquet file is written front to back (magic, row groups, then the footer that indexes
    them), so it streams like the text formats: each row group's bytes are sent as soon as
    the writer has written them, and only the footer's few bytes per row group wait for the end.
    """
    sink = _Drain()
    written = 0
    with pq.ParquetWriter(sink, PARQUET_SCHEMA) as writer:
        for chunk in rating_rows(project=project, criterion=spec.criterion, chunk_size=chunk_size):
            writer.write_batch(_parquet_batch(chunk))
            written += len(chunk)
            yield sink.take(), len(chunk)
        if written == 0:
            # A file with the schema and no rows, rather than one without a schema.
            writer.write_table(PARQUET_SCHEMA.empty_table())
    yield sink.take(), 0


def export_chunks(
    *, project: Project, spec: ExportSpec, chunk_size: int = CHUNK_SIZE
) -> Iterator[tuple[bytes, int]]:
    """Encoded pieces of an export with the number of records in each."""
    if spec.format == ExportFormat.CSV:
        return _csv_chunks(project=project, spec=spec, chunk_size=chunk_size)
    if spec.format == ExportFormat.JSONL:
        return _jsonl_chunks(project=project, spec=spec, chunk_size=chunk_size)
    if spec.format == ExportFormat.DPO:
        return _dpo_chunks(project=project, spec=spec, chunk_size=chunk_size)
    return _parquet_chunks(project=project, spec=spec, chunk_size=chunk_size)


def export_stream(
    *, project: Project, spec: ExportSpec, chunk_size: int = CHUNK_SIZE
) -> Iterator[bytes]:
    for data, _ in export_chunks(project=project, spec=spec, chunk_size=chunk_size):
        if data:
            yield data


def export_write(
    *, project: Project, spec: ExportSpec, out: BinaryIO, chunk_size: int = CHUNK_SIZE
) -> int:
    """Write the export to a binary file object; returns the number of records written."""
    written = 0
    for data, rows in export_chunks(project=project, spec=spec, chunk_size=chunk_size):
        out.write(data)
        written += rows
    return written
