"""Reading import files (CSV, JSONL, Parquet) into plain records, with row-numbered errors.

Every reader returns `(row, record)` tuples where `row` is the 1-based data-record number (a CSV
header is not counted) and `record` maps each wanted column to its text, or None when the value
is absent or null. Problems with one record are collected as row errors so that the caller can
report every bad row at once; problems with the whole file raise ApplicationError at once.
"""

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from concord.api_errors import ApplicationError

BOM = b"\xef\xbb\xbf"
MAX_LISTED_ERRORS = 1000
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}

Record = dict[str, str | None]


@dataclass
class RowErrors:
    """Every problem found in a file, listed by row so the whole file can be fixed in one go."""

    items: list[dict[str, Any]] = field(default_factory=list)
    rows: set[int] = field(default_factory=set)
    not_listed: int = 0

    def add(self, row: int, field_name: str | None, message: str) -> None:
        self.rows.add(row)
        if len(self.items) < MAX_LISTED_ERRORS:
            self.items.append({"row": row, "field": field_name, "message": message})
        else:
            self.not_listed += 1

    def raise_if_any(self, filename: str) -> None:
        if not self.rows:
            return
        extra: dict[str, Any] = {"errors": sorted(self.items, key=lambda e: e["row"])}
        if self.not_listed:
            extra["errors_not_listed"] = self.not_listed
        raise ApplicationError(
            f"{len(self.rows)} bad rows in {filename}; nothing was imported", extra=extra
        )


def file_error(filename: str, message: str, *, row: int | None = None) -> ApplicationError:
    return ApplicationError(
        f"{filename}: {message}; nothing was imported",
        extra={"errors": [{"row": row, "field": None, "message": message}]},
    )


def file_format(filename: str) -> str:
    suffix = PurePath(filename).suffix.lower()
    if suffix not in FORMATS:
        raise file_error(
            filename, f"unknown file type {suffix or '(none)'!r}; use .csv, .jsonl or .parquet"
        )
    return FORMATS[suffix]


def read_records(
    *,
    data: bytes,
    filename: str,
    columns: Sequence[str],
    optional: Sequence[str],
    max_rows: int,
    errors: RowErrors,
) -> list[tuple[int, Record]]:
    reader = {"csv": _read_csv, "jsonl": _read_jsonl, "parquet": _read_parquet}[
        file_format(filename)
    ]
    return reader(data, filename, list(columns), list(optional), max_rows, errors)


def scalar_text(value: Any) -> str | None:
    """The text of one cell; numbers become their decimal text, anything else is refused."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise ValueError("expected text or a number, got a boolean")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    raise ValueError(f"expected text or a number, got {type(value).__name__}")


def _too_many_rows(filename: str, max_rows: int) -> ApplicationError:
    return file_error(filename, f"more than {max_rows} data rows (IMPORT_MAX_ROWS)")


def _missing_columns(filename: str, missing: list[str]) -> ApplicationError:
    return ApplicationError(
        f"{filename}: missing column(s) {', '.join(missing)}; nothing was imported",
        extra={"errors": [{"row": None, "field": c, "message": "missing column"} for c in missing]},
    )


def _read_csv(
    data: bytes,
    filename: str,
    columns: list[str],
    optional: list[str],
    max_rows: int,
    errors: RowErrors,
) -> list[tuple[int, Record]]:
    data = data.removeprefix(BOM)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        row = _csv_row_at(data, exc.start)
        raise file_error(
            filename, f"invalid UTF-8 at byte {exc.start} (data row {row})", row=row
        ) from exc
    # Completions can be long; the csv module's default cap (128 KiB a field) is arbitrary here,
    # the file-size limit already bounds every field.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise file_error(filename, "the file is empty") from None
    except csv.Error as exc:
        raise file_error(filename, f"unreadable header: {exc}") from exc
    missing = [c for c in columns if c not in header]
    if missing:
        raise _missing_columns(filename, missing)
    index = {name: i for i, name in reversed(list(enumerate(header)))}
    wanted = [c for c in columns + optional if c in index]
    records: list[tuple[int, Record]] = []
    row = 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise file_error(filename, f"unreadable CSV after data row {row}: {exc}") from exc
        if not cells:  # a blank line is no record
            continue
        row += 1
        if row > max_rows:
            raise _too_many_rows(filename, max_rows)
        if len(cells) > len(header):
            errors.add(row, None, f"{len(cells)} fields but the header has {len(header)}")
            continue
        record: Record = {c: None for c in columns + optional}
        for name in wanted:
            i = index[name]
            record[name] = cells[i] if i < len(cells) else None
        records.append((row, record))
    return records


def _csv_row_at(data: bytes, offset: int) -> int:
    """The data-row number of the record holding byte `offset` (header not counted)."""
    prefix = data[:offset].decode("utf-8")
    complete = len(list(csv.reader(io.StringIO(prefix, newline=""))))
    starts_new = prefix == "" or prefix.endswith("\n")
    return max(complete + (1 if starts_new else 0) - 1, 1)


def _read_jsonl(
    data: bytes,
    filename: str,
    columns: list[str],
    optional: list[str],
    max_rows: int,
    errors: RowErrors,
) -> list[tuple[int, Record]]:
    lines = [line for line in data.removeprefix(BOM).split(b"\n") if line.strip()]
    if len(lines) > max_rows:
        raise _too_many_rows(filename, max_rows)
    if not lines:
        raise file_error(filename, "the file is empty")
    records: list[tuple[int, Record]] = []
    for row, raw in enumerate(lines, start=1):
        try:
            obj = json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            errors.add(row, None, f"invalid UTF-8 at byte {exc.start} of the line")
            continue
        except json.JSONDecodeError as exc:
            errors.add(row, None, f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(obj, dict):
            errors.add(row, None, "each line must be a JSON object")
            continue
        record: Record = {}
        ok = True
        for name in columns + optional:
            try:
                record[name] = scalar_text(obj.get(name))
            except ValueError as exc:
                errors.add(row, name, str(exc))
                ok = False
        if ok:
            records.append((row, record))
    return records


def _read_parquet(
    data: bytes,
    filename: str,
    columns: list[str],
    optional: list[str],
    max_rows: int,
    errors: RowErrors,
) -> list[tuple[int, Record]]:
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
        names = parquet.schema_arrow.names
        if parquet.metadata.num_rows > max_rows:
            raise _too_many_rows(filename, max_rows)
        missing = [c for c in columns if c not in names]
        if missing:
            raise _missing_columns(filename, missing)
        wanted = [c for c in columns + optional if c in names]
        rows = parquet.read(columns=wanted).to_pylist()
    except (pa.ArrowException, OSError) as exc:
        raise file_error(filename, f"not a readable Parquet file ({exc})") from exc
    records: list[tuple[int, Record]] = []
    for row, obj in enumerate(rows, start=1):
        record: Record = {c: None for c in columns + optional}
        ok = True
        for name in wanted:
            try:
                record[name] = scalar_text(obj[name])
            except ValueError as exc:
                errors.add(row, name, str(exc))
                ok = False
        if ok:
            records.append((row, record))
    return records


def error_lines(error: ApplicationError) -> list[str]:
    """One line per row error of an import refusal, for a terminal."""
    lines = []
    for item in error.extra.get("errors", []):
        where = "file" if item["row"] is None else f"row {item['row']}"
        if item["field"]:
            where += f", {item['field']}"
        lines.append(f"{where}: {item['message']}")
    if error.extra.get("errors_not_listed"):
        lines.append(f"... and {error.extra['errors_not_listed']} more errors not listed")
    return lines
