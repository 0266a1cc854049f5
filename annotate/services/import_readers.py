"""Reading import files (CSV, JSONL, Parquet) into plain records, one at a time, with row errors.

A `RecordReader` yields `(row, record)` tuples where `row` is the 1-based data-record number (a
CSV header and blank lines are not counted) and `record` maps each wanted column to its text, or
None when the value is absent or null. Records are produced lazily from the open file, so a large
file is never held in memory twice (as bytes and as text) nor as one dict per row: the caller
keeps only what it needs. Problems with one record are collected as row errors, and the record is
not yielded, so that the caller can report every bad row at once; problems with the whole file
(unreadable, wrong encoding, missing column, over a limit) raise ApplicationError at once.
"""

import csv
import difflib
import io
import json
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from concord.api_errors import ApplicationError

BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
MAX_LISTED_ERRORS = 1000
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
# Rows per Parquet batch: bounds what one batch can expand to in memory.
PARQUET_BATCH_ROWS = 5000
# Invalid UTF-8 bytes decode (surrogateescape) to U+DC80..U+DCFF; JSON can spell any lone
# surrogate as an escape. Neither can be stored as UTF-8 text.
_SURROGATE = re.compile("[\ud800-\udfff]")

Record = dict[str, str | None]


@dataclass(frozen=True)
class ReadLimits:
    max_rows: int  # IMPORT_MAX_ROWS
    max_cell_chars: int  # IMPORT_MAX_CELL_CHARS
    max_bytes: int  # IMPORT_MAX_BYTES; also bounds the data a Parquet file expands to


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
        rows = f"{len(self.rows)} bad row{'' if len(self.rows) == 1 else 's'}"
        raise ApplicationError(f"{rows} in {filename}; nothing was imported", extra=extra)


def file_error(
    filename: str, message: str, *, row: int | None = None, field_name: str | None = None
) -> ApplicationError:
    return ApplicationError(
        f"{filename}: {message}; nothing was imported",
        extra={"errors": [{"row": row, "field": field_name, "message": message}]},
    )


def file_format(filename: str) -> str:
    suffix = PurePath(filename).suffix.lower()
    if suffix not in FORMATS:
        raise file_error(
            filename, f"unknown file type {suffix or '(none)'!r}; use .csv, .jsonl or .parquet"
        )
    return FORMATS[suffix]


class RecordReader:
    """The records of one open, seekable file; `rows` counts the data rows read so far."""

    def __init__(
        self,
        *,
        file: BinaryIO,
        filename: str,
        columns: Sequence[str],
        optional: Sequence[str],
        limits: ReadLimits,
        errors: RowErrors,
    ) -> None:
        self.file = file
        self.filename = filename
        self.columns = list(columns)
        self.optional = list(optional)
        self.wanted = self.columns + self.optional
        self.limits = limits
        self.errors = errors
        self.rows = 0
        self.format = file_format(filename)

    def __iter__(self) -> Iterator[tuple[int, Record]]:
        read = {"csv": self._csv, "jsonl": self._jsonl, "parquet": self._parquet}[self.format]
        yield from read()
        if self.rows == 0:
            raise file_error(self.filename, "the file has no data rows")

    # --- shared checks --------------------------------------------------------------------------

    def _count_row(self) -> int:
        self.rows += 1
        if self.rows > self.limits.max_rows:
            raise file_error(
                self.filename, f"more than {self.limits.max_rows} data rows (IMPORT_MAX_ROWS)"
            )
        return self.rows

    def _column_problems(self, present: Sequence[str]) -> tuple[list[str], list[tuple[str, str]]]:
        """The required columns missing, and (column, problem) for each wanted one misspelt.

        A misspelt optional column ("strenght") would otherwise be ignored without a word and
        every row read as if it had no strength; other extra columns are ignored.
        """
        names = set(present)
        unknown = [name for name in present if name not in self.wanted]
        missing, misspelt = [], []
        for name in self.wanted:
            if name in names:
                continue
            close = difflib.get_close_matches(name, unknown, n=1, cutoff=0.8)
            if close:
                misspelt.append((name, f"unknown column {close[0]!r}; did you mean {name!r}?"))
            elif name in self.columns:
                missing.append(name)
        return missing, misspelt

    def _check_columns(self, present: Sequence[str]) -> None:
        missing, misspelt = self._column_problems(present)
        if not missing and not misspelt:
            return
        parts = [f"missing column(s) {', '.join(missing)}"] if missing else []
        parts += [message for _, message in misspelt]
        items = [(name, "missing column") for name in missing] + misspelt
        raise ApplicationError(
            f"{self.filename}: {'; '.join(parts)}; nothing was imported",
            extra={"errors": [{"row": None, "field": n, "message": m} for n, m in items]},
        )

    def _cell(self, row: int, name: str, value: str | None) -> bool:
        """Whether one cell's text can be stored; a reason is recorded when it cannot."""
        if value is None or value.isascii() and "\x00" not in value:
            return self._short_enough(row, name, value)
        if "\x00" in value:  # PostgreSQL cannot store NUL in text
            self.errors.add(row, name, "contains a NUL character")
            return False
        bad = _SURROGATE.search(value)
        if bad is not None:
            code = ord(bad.group())
            self.errors.add(
                row,
                name,
                f"invalid UTF-8 (byte 0x{code - 0xDC00:02X}); save the file as UTF-8"
                if 0xDC80 <= code <= 0xDCFF and self.format == "csv"
                else f"contains an unpaired surrogate \\u{code:04x}, which is not text",
            )
            return False
        return self._short_enough(row, name, value)

    def _record(
        self, row: int, names: Sequence[str], value_of: Callable[[str], object]
    ) -> Record | None:
        """One row's record from its raw values (columns not in `names` None), or None when a
        cell is bad, each bad cell noted."""
        record: Record = dict.fromkeys(self.wanted)
        ok = True
        for name in names:
            try:
                value = scalar_text(value_of(name))
            except ValueError as exc:
                self.errors.add(row, name, str(exc))
                ok = False
                continue
            ok = self._cell(row, name, value) and ok
            record[name] = value
        return record if ok else None

    def _short_enough(self, row: int, name: str, value: str | None) -> bool:
        limit = self.limits.max_cell_chars
        if value is not None and len(value) > limit:
            self.errors.add(row, name, f"longer than {limit} characters (IMPORT_MAX_CELL_CHARS)")
            return False
        return True

    # --- CSV ------------------------------------------------------------------------------------

    def _csv(self) -> Iterator[tuple[int, Record]]:
        start = self.file.tell()
        head = self.file.read(4096)
        self.file.seek(start)
        if head.startswith(UTF16_BOMS):
            raise file_error(self.filename, "the file is UTF-16 encoded; save it as UTF-8")
        if not head.strip(BOM + b" \t\r\n"):
            raise file_error(self.filename, "the file is empty")
        # Any field fits under the file-size limit; the csv module's own cap (128 KiB) would stop
        # a long completion with an error that names no row. Cells are checked against
        # IMPORT_MAX_CELL_CHARS one by one instead.
        csv.field_size_limit(max(csv.field_size_limit(), self.limits.max_bytes + 1))
        # surrogateescape keeps a bad byte in its cell, so every bad row can be named, not just
        # the first; utf-8-sig drops a UTF-8 BOM.
        text = io.TextIOWrapper(
            self.file, encoding="utf-8-sig", errors="surrogateescape", newline=""
        )
        try:
            yield from self._csv_records(csv.reader(text, strict=True))
        finally:
            text.detach()  # leave the caller's file open

    def _csv_records(self, reader: Any) -> Iterator[tuple[int, Record]]:
        try:
            first = next(reader, None)
        except csv.Error as exc:
            raise file_error(self.filename, f"unreadable header: {exc}") from exc
        if first is None:
            raise file_error(self.filename, "the file is empty")
        header = [name.strip() for name in first]
        if any("\x00" in name for name in header):
            raise file_error(
                self.filename,
                "the header holds NUL bytes: the file looks UTF-16 encoded; save it as UTF-8",
            )
        if any(_SURROGATE.search(name) for name in header):
            raise file_error(self.filename, "the header is not valid UTF-8; save it as UTF-8")
        for name in {n for n in header if header.count(n) > 1 and n in self.wanted}:
            raise file_error(
                self.filename, f"column {name!r} appears twice in the header", field_name=name
            )
        self._check_columns(header)
        index = {name: header.index(name) for name in self.wanted if name in header}
        width = len(header)
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise file_error(
                    self.filename,
                    f"unreadable CSV after data row {self.rows} (line {reader.line_num}): {exc}",
                    row=self.rows + 1,
                ) from exc
            if not cells:  # a blank line is no record
                continue
            row = self._count_row()
            if len(cells) != width:
                self.errors.add(row, None, f"{len(cells)} fields but the header has {width}")
                continue
            record: Record = dict.fromkeys(self.wanted)
            ok = True
            for name, i in index.items():
                value = cells[i]
                ok = self._cell(row, name, value) and ok
                record[name] = value
            if ok:
                yield row, record

    # --- JSONL ----------------------------------------------------------------------------------

    def _jsonl(self) -> Iterator[tuple[int, Record]]:
        first = True
        checked_keys: frozenset[str] | None = None
        for raw in self.file:
            if first:
                first = False
                if raw.startswith(UTF16_BOMS) or b"\x00" in raw:
                    raise file_error(
                        self.filename, "the file looks UTF-16 encoded; save it as UTF-8"
                    )
                raw = raw.removeprefix(BOM)
            if not raw.strip():
                continue
            row = self._count_row()
            try:
                obj = json.loads(raw.rstrip(b"\r\n").decode("utf-8"))
            except UnicodeDecodeError as exc:
                self.errors.add(
                    row, None, f"invalid UTF-8 (byte 0x{raw[exc.start]:02X}) at byte {exc.start}"
                    " of the line; save the file as UTF-8"
                )  # fmt: skip
                continue
            except json.JSONDecodeError as exc:
                reason = exc.msg.removesuffix(" at").removesuffix(":")
                self.errors.add(row, None, f"invalid JSON: {reason} at column {exc.colno}")
                continue
            except RecursionError:
                self.errors.add(row, None, "invalid JSON: values nested too deeply")
                continue
            except ValueError as exc:  # a number of thousands of digits
                reason = str(exc).split(";")[0]
                self.errors.add(row, None, f"unreadable JSON value: {reason}")
                continue
            if not isinstance(obj, dict):
                self.errors.add(row, None, "each line must be a JSON object")
                continue
            keys = frozenset(obj)
            if keys != checked_keys:
                # A key left out is a null value; only a misspelt one is a problem.
                _, misspelt = self._column_problems([str(k) for k in obj])
                for name, message in misspelt:
                    self.errors.add(row, name, message)
                if misspelt:
                    continue
                checked_keys = keys
            record = self._record(row, self.wanted, obj.get)
            if record is not None:
                yield row, record

    # --- Parquet --------------------------------------------------------------------------------

    def _parquet(self) -> Iterator[tuple[int, Record]]:
        try:
            parquet = pq.ParquetFile(self.file)
            schema = parquet.schema_arrow
        except (pa.ArrowException, OSError) as exc:
            raise file_error(self.filename, f"not a readable Parquet file ({exc})") from exc
        self._check_columns(schema.names)
        wanted = [c for c in self.wanted if c in schema.names]
        for name in wanted:
            kind = schema.field(name).type
            if not _parquet_type_ok(kind):
                raise file_error(
                    self.filename,
                    f"column {name!r} holds {kind}; expected text or numbers",
                    field_name=name,
                )
        self._check_parquet_metadata(parquet, wanted)
        # Text columns are read dictionary-encoded, so a value repeated a million times is held
        # once until its cells are checked: a small file cannot expand into gigabytes here.
        text_columns = [name for name in wanted if _is_text(schema.field(name).type)]
        try:
            parquet = pq.ParquetFile(self.file, read_dictionary=text_columns)
            batches = parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=wanted)
            expanded = 0
            for batch in batches:
                expanded += self._parquet_batch_bytes(batch)
                if expanded > self.limits.max_bytes:
                    raise file_error(
                        self.filename,
                        f"its data expands to more than {self.limits.max_bytes} bytes "
                        "(IMPORT_MAX_BYTES)",
                    )
                yield from self._parquet_records(batch, wanted)
        except (pa.ArrowException, OSError) as exc:
            raise file_error(self.filename, f"not a readable Parquet file ({exc})") from exc

    def _check_parquet_metadata(self, parquet: pq.ParquetFile, wanted: list[str]) -> None:
        """Refuses a file by its footer, before any page is decompressed."""
        meta = parquet.metadata
        if meta.num_rows > self.limits.max_rows:
            raise file_error(
                self.filename,
                f"{meta.num_rows} data rows, more than {self.limits.max_rows} (IMPORT_MAX_ROWS)",
            )
        # Wanted columns are flat (checked above), so a leaf's path is the column name.
        positions = [i for i in range(meta.num_columns) if meta.schema.column(i).path in wanted]
        size = sum(
            meta.row_group(g).column(i).total_uncompressed_size
            for g in range(meta.num_row_groups)
            for i in positions
        )
        if size > self.limits.max_bytes:
            raise file_error(
                self.filename,
                f"its columns hold {size} bytes uncompressed, more than {self.limits.max_bytes} "
                "(IMPORT_MAX_BYTES)",
            )

    def _parquet_batch_bytes(self, batch: pa.RecordBatch) -> int:
        """The bytes of text a batch's cells stand for once every dictionary value is expanded."""
        total = 0
        for column in batch.columns:
            if pa.types.is_dictionary(column.type):
                lengths = pc.binary_length(column.dictionary)
                total += pc.sum(pc.take(lengths, column.indices)).as_py() or 0
            elif _is_text(column.type):
                total += pc.sum(pc.binary_length(column)).as_py() or 0
            else:
                total += column.nbytes
        return int(total)

    def _parquet_records(
        self, batch: pa.RecordBatch, wanted: list[str]
    ) -> Iterator[tuple[int, Record]]:
        values = {name: _column_values(batch.column(name)) for name in wanted}
        for i in range(batch.num_rows):
            row = self._count_row()

            def cell(name: str, i: int = i) -> object:
                return values[name][i]

            record = self._record(row, wanted, cell)
            if record is not None:
                yield row, record


def _is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        return _is_text(kind.value_type)
    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
    )


def _parquet_type_ok(kind: pa.DataType) -> bool:
    return bool(
        _is_text(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_null(kind)
    )


class _Undecodable:
    """A binary Parquet cell that is not UTF-8; scalar_text names the bad byte."""

    def __init__(self, error: UnicodeDecodeError) -> None:
        self.error = error


def _column_values(column: pa.Array) -> list[Any]:
    if pa.types.is_dictionary(column.type):
        dictionary = _column_values(column.dictionary)
        return [None if i is None else dictionary[i] for i in column.indices.to_pylist()]
    values = column.to_pylist()
    if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
        # Some writers store text as plain bytes: read it as UTF-8 and name the rows that are not.
        return [_decode(v) for v in values]
    return values


def _decode(value: bytes | None) -> str | _Undecodable | None:
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _Undecodable(exc)


def scalar_text(value: Any) -> str | None:
    """The text of one cell; numbers become their decimal text, anything else is refused."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        raise ValueError("expected text or a number, got a boolean")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"expected text or a number, got {value!r}")
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, _Undecodable):
        bad = value.error.object[value.error.start]
        raise ValueError(f"invalid UTF-8 (byte 0x{bad:02X}); store text as UTF-8")
    raise ValueError(f"expected text or a number, got {type(value).__name__}")


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
