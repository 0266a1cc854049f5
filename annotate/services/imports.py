"""Importing completions, pairs and ratings files (DESIGN.md, "File formats (import)").

`import_file` is atomic: the whole file is read and validated against itself and the database
first, and any bad row raises one ApplicationError listing every bad row; only a clean file is
written, in one transaction. Writes are idempotent by natural key (Prompt: project + external id,
Completion: prompt + model, Pair: prompt + model_a + model_b, Rating: the model's uniqueness
rules), so importing the same file twice adds nothing the second time.

Memory: the file is read record by record (never held whole, as bytes or text) and only what the
write needs is kept: one entry per prompt and per completion. Writes are bulk inserts streamed
from generators in batches (COPY on PostgreSQL), never one query per row, so the 280,000 pair
rows of a 10,000-prompt file never exist as one list.
"""

import hashlib
import itertools
import random
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from django.conf import settings
from django.db import IntegrityError, transaction

from annotate.models import Completion, Pair, Project, Prompt, PromptSet
from annotate.services.assignment import project_open_pairs_refresh
from annotate.services.import_common import (
    MAX_LENGTH,
    ImportProgress,
    ImportResult,
    checks_per_statement,
    chunks,
    insert_rows,
    insert_rows_with_ids,
    no_progress,
    prompt_lookup,
    required_value,
)
from annotate.services.import_ratings import RATINGS_COLUMNS, RATINGS_OPTIONAL, import_ratings
from annotate.services.import_readers import (
    ReadLimits,
    Record,
    RecordReader,
    RowErrors,
    file_error,
)
from concord.api_errors import ApplicationError

__all__ = ["ImportProgress", "ImportResult", "import_file"]

COMPLETIONS_COLUMNS = ("prompt_id", "prompt", "category", "model", "completion")
PAIRS_COLUMNS = (
    "prompt_id",
    "prompt",
    "category",
    "model_a",
    "completion_a",
    "model_b",
    "completion_b",
)
# How often reading reports progress.
PROGRESS_ROWS = 10_000
PAIR_FIELDS = (
    "project",
    "prompt",
    "completion_a",
    "completion_b",
    "model_a",
    "model_b",
    "claims",
    "a_first_claims",
    "submitted",
    "priority",
)


def import_file(
    *,
    project: Project,
    kind: str,
    file: BinaryIO,
    filename: str,
    acting_user: Any = None,
    pairs_per_prompt: int | None = None,
    seed: int = 0,
    progress: ImportProgress = no_progress,
) -> ImportResult:
    """Import one file of `kind` ("completions", "pairs" or "ratings") into `project`.

    For completions, pairs are generated per prompt: all model pairs, or `pairs_per_prompt`
    of them sampled with a generator seeded by (`seed`, prompt id), so the same file and seed
    always give the same pairs whatever else the file holds. `file` is read from its current
    position; `progress` is called as the import moves on (see ImportProgress).
    """
    if kind not in ("completions", "pairs", "ratings"):
        raise ApplicationError(f"Unknown import kind {kind!r}; use completions, pairs or ratings.")
    if pairs_per_prompt is not None and pairs_per_prompt < 1:
        raise ApplicationError(f"pairs_per_prompt must be at least 1, got {pairs_per_prompt}.")
    limits = ReadLimits(
        max_rows=settings.IMPORT_MAX_ROWS,
        max_cell_chars=settings.IMPORT_MAX_CELL_CHARS,
        max_bytes=settings.IMPORT_MAX_BYTES,
    )
    with _seekable(file) as source:
        sha256 = _sha256_within_limit(source, filename, limits.max_bytes)
        errors = RowErrors()
        columns, optional = {
            "completions": (COMPLETIONS_COLUMNS, ()),
            "pairs": (PAIRS_COLUMNS, ()),
            "ratings": (RATINGS_COLUMNS, RATINGS_OPTIONAL),
        }[kind]
        reader = RecordReader(
            file=source,
            filename=filename,
            columns=columns,
            optional=optional,
            limits=limits,
            errors=errors,
        )
        records = _reporting(reader, progress)
        if kind == "ratings":
            return import_ratings(
                project=project,
                records=records,
                rows=lambda: reader.rows,
                filename=filename,
                errors=errors,
                progress=progress,
            )
        batch = _PromptBatch()
        if kind == "completions":
            _parse_completions(batch, records, errors)
        else:
            _parse_pairs(batch, records, errors)
    progress("checking", reader.rows, reader.rows)
    existing = _check_against_database(
        project, batch, errors, need_two_models=kind == "completions"
    )
    errors.raise_if_any(filename)
    try:
        with transaction.atomic():
            checks_per_statement()
            result = _write_prompt_batch(
                project=project,
                batch=batch,
                existing=existing,
                prompt_set_key=(filename, kind, sha256),
                acting_user=acting_user,
                pairs_per_prompt=pairs_per_prompt,
                seed=seed,
                progress=progress,
            )
            project_open_pairs_refresh(project=project)
            progress("committing", 0, 0)
    except IntegrityError as exc:
        # Validation ran before the transaction; another import of the same rows got in first.
        raise ApplicationError(
            f"{filename}: the project changed during the import (another import of the same "
            "rows?); nothing was imported, try again"
        ) from exc
    result.kind, result.rows = kind, reader.rows
    progress("done", reader.rows, reader.rows)
    return result


class _seekable:
    """`file` itself when it can seek (uploads, open files), else a temporary copy that can."""

    def __init__(self, file: BinaryIO) -> None:
        self.file = file
        self.copy: Any = None

    def __enter__(self) -> BinaryIO:
        if self.file.seekable():
            return self.file
        self.copy = tempfile.TemporaryFile()
        shutil.copyfileobj(self.file, self.copy)
        self.copy.seek(0)
        return self.copy  # type: ignore[no-any-return]

    def __exit__(self, *exc: object) -> None:
        if self.copy is not None:
            self.copy.close()


def _sha256_within_limit(file: BinaryIO, filename: str, max_bytes: int) -> str:
    """The file's digest, refusing it once past `max_bytes`, before anything is parsed."""
    start = file.tell()
    size = getattr(file, "size", None)  # an upload knows its size: refuse without reading it
    if isinstance(size, int) and size - start > max_bytes:
        raise file_error(filename, f"larger than {max_bytes} bytes (IMPORT_MAX_BYTES)")
    digest = hashlib.sha256()
    read = 0
    while chunk := file.read(1 << 20):
        read += len(chunk)
        if read > max_bytes:
            raise file_error(filename, f"larger than {max_bytes} bytes (IMPORT_MAX_BYTES)")
        digest.update(chunk)
    file.seek(start)
    return digest.hexdigest()


def _reporting(reader: RecordReader, progress: ImportProgress) -> Iterator[tuple[int, Record]]:
    for item in reader:
        if reader.rows % PROGRESS_ROWS == 0:
            progress("reading", reader.rows, 0)
        yield item
    progress("reading", reader.rows, reader.rows)


# --- completions and pairs ----------------------------------------------------------------------


@dataclass
class _PromptIn:
    text: str
    category: str
    row: int


@dataclass
class _PromptBatch:
    """What a completions or pairs file says, keyed by natural key, with the rows it came from."""

    prompts: dict[str, _PromptIn] = field(default_factory=dict)
    completions: dict[tuple[str, str], tuple[str, int, str]] = field(default_factory=dict)
    pairs: dict[tuple[str, str, str], int] = field(default_factory=dict)  # explicit pairs only


@dataclass
class _Existing:
    prompt_ids: dict[str, int]
    completion_keys: set[tuple[str, str]]


def _category(record: Record, row: int, errors: RowErrors) -> str | None:
    category = (record.get("category") or "").strip()
    if len(category) > MAX_LENGTH["category"]:
        errors.add(row, "category", f"longer than {MAX_LENGTH['category']} characters")
        return None
    return category


def _take_prompt(
    batch: _PromptBatch, row: int, prompt_id: str, text: str, category: str, errors: RowErrors
) -> bool:
    seen = batch.prompts.get(prompt_id)
    if seen is None:
        batch.prompts[prompt_id] = _PromptIn(text, category, row)
        return True
    ok = True
    if seen.text != text:
        errors.add(row, "prompt", f"prompt_id {prompt_id!r} has a different text on row {seen.row}")
        ok = False
    if seen.category != category:
        errors.add(
            row,
            "category",
            f"prompt_id {prompt_id!r} has category {seen.category!r} on row {seen.row}",
        )
        ok = False
    return ok


def _parse_completions(
    batch: _PromptBatch, records: Iterable[tuple[int, Record]], errors: RowErrors
) -> None:
    for row, record in records:
        prompt_id = required_value(record, "prompt_id", row, errors, strip=True)
        text = required_value(record, "prompt", row, errors, strip=False)
        category = _category(record, row, errors)
        model = required_value(record, "model", row, errors, strip=True)
        completion = required_value(record, "completion", row, errors, strip=False)
        if prompt_id is None or text is None or category is None:
            continue
        _take_prompt(batch, row, prompt_id, text, category, errors)
        if model is None or completion is None:
            continue
        seen = batch.completions.get((prompt_id, model))
        if seen is not None:
            errors.add(
                row,
                "model",
                f"duplicate: prompt_id {prompt_id!r} already has model {model!r} on row {seen[1]}",
            )
            continue
        batch.completions[(prompt_id, model)] = (completion, row, "completion")


def _parse_pairs(
    batch: _PromptBatch, records: Iterable[tuple[int, Record]], errors: RowErrors
) -> None:
    for row, record in records:
        prompt_id = required_value(record, "prompt_id", row, errors, strip=True)
        text = required_value(record, "prompt", row, errors, strip=False)
        category = _category(record, row, errors)
        model_a = required_value(record, "model_a", row, errors, strip=True)
        text_a = required_value(record, "completion_a", row, errors, strip=False)
        model_b = required_value(record, "model_b", row, errors, strip=True)
        text_b = required_value(record, "completion_b", row, errors, strip=False)
        if prompt_id is None or text is None or category is None:
            continue
        _take_prompt(batch, row, prompt_id, text, category, errors)
        if None in (model_a, text_a, model_b, text_b):
            continue
        assert model_a is not None and model_b is not None and text_a and text_b
        if model_a == model_b:
            errors.add(row, "model_b", f"model_a and model_b are both {model_a!r}")
            continue
        ok = True
        for model, completion, column in (
            (model_a, text_a, "completion_a"),
            (model_b, text_b, "completion_b"),
        ):
            seen = batch.completions.get((prompt_id, model))
            if seen is None:
                batch.completions[(prompt_id, model)] = (completion, row, column)
            elif seen[0] != completion:
                errors.add(
                    row,
                    column,
                    f"model {model!r} has a different text for prompt_id {prompt_id!r} "
                    f"on row {seen[1]}",
                )
                ok = False
        key = (prompt_id, *sorted((model_a, model_b)))
        if key in batch.pairs:
            errors.add(
                row,
                None,
                f"duplicate pair {key[1]!r} vs {key[2]!r} for prompt_id {prompt_id!r} "
                f"(row {batch.pairs[key]})",
            )
        elif ok:
            batch.pairs[key] = row  # type: ignore[index]


def _check_against_database(
    project: Project, batch: _PromptBatch, errors: RowErrors, *, need_two_models: bool
) -> _Existing:
    """Refuses rows that would change stored prompts or completions; a re-import changes nothing.

    Stored completion texts are compared chunk by chunk and not kept, so re-importing a large
    file does not hold its texts twice.
    """
    prompts = prompt_lookup(project, batch.prompts)
    for ext, stored in prompts.items():
        given = batch.prompts[ext]
        if stored.text != given.text:
            errors.add(
                given.row,
                "prompt",
                f"prompt_id {ext!r} already exists in this project with a different text",
            )
        if stored.category != given.category:
            errors.add(
                given.row,
                "category",
                f"prompt_id {ext!r} already exists in this project with category "
                f"{stored.category!r}, not {given.category!r}",
            )
    ext_of = {stored.pk: ext for ext, stored in prompts.items()}
    completion_keys: set[tuple[str, str]] = set()
    for chunk in chunks(list(ext_of)):
        for prompt_pk, model, text in Completion.objects.filter(prompt_id__in=chunk).values_list(
            "prompt_id", "model", "text"
        ):
            key = (ext_of[prompt_pk], model)
            completion_keys.add(key)
            given_completion = batch.completions.get(key)
            if given_completion is not None and given_completion[0] != text:
                errors.add(
                    given_completion[1],
                    given_completion[2],
                    f"model {model!r} already has a different completion for prompt_id {key[0]!r}",
                )
    if need_two_models:
        models_of: Counter[str] = Counter(
            ext for ext, _ in set(batch.completions) | completion_keys
        )
        for ext, prompt in batch.prompts.items():
            if models_of[ext] < 2:
                errors.add(
                    prompt.row,
                    "model",
                    f"prompt_id {ext!r} has "
                    f"{'only one model' if models_of[ext] else 'no usable completion'}; "
                    "a pair needs two",
                )
    return _Existing({ext: stored.pk for ext, stored in prompts.items()}, completion_keys)


def _write_prompt_batch(
    *,
    project: Project,
    batch: _PromptBatch,
    existing: _Existing,
    prompt_set_key: tuple[str, str, str],
    acting_user: Any,
    pairs_per_prompt: int | None,
    seed: int,
    progress: ImportProgress,
) -> ImportResult:
    name, kind, sha256 = prompt_set_key
    # The same bytes imported again reuse their prompt set, so a re-import adds no row at all.
    prompt_set = PromptSet.objects.filter(project=project, kind=kind, sha256=sha256).first()
    if prompt_set is None:
        prompt_set = PromptSet.objects.create(
            project=project, name=name[:255], kind=kind, sha256=sha256, created_by=acting_user
        )
    new_prompts = [ext for ext in batch.prompts if ext not in existing.prompt_ids]
    progress("writing prompts", 0, len(new_prompts))
    ids = insert_rows_with_ids(
        Prompt,
        ("project", "prompt_set", "external_id", "text", "category"),
        [
            (project.pk, prompt_set.pk, ext, batch.prompts[ext].text, batch.prompts[ext].category)
            for ext in new_prompts
        ],
    )
    prompt_ids = dict(existing.prompt_ids)
    if ids is None:
        stored = prompt_lookup(project, new_prompts, with_text=False)
        prompt_ids.update((ext, stored[ext].pk) for ext in new_prompts)
    else:
        prompt_ids.update(zip(new_prompts, ids, strict=True))
    new_prompt_exts = set(new_prompts)
    progress("writing prompts", len(new_prompts), len(new_prompts))

    completions_in_file = len(batch.completions)
    completion_ids = _write_completions(batch, existing, prompt_ids, progress)
    models_of: dict[str, list[str]] = defaultdict(list)
    for ext, model in completion_ids:
        models_of[ext].append(model)
    old_prompts = [ext for ext in batch.prompts if ext not in new_prompt_exts]
    existing_pairs: dict[str, set[tuple[str, str]]] = defaultdict(set)
    ext_of = {prompt_ids[ext]: ext for ext in old_prompts}
    for chunk in chunks(list(ext_of)):
        for prompt_pk, model_a, model_b in Pair.objects.filter(prompt_id__in=chunk).values_list(
            "prompt_id", "model_a", "model_b"
        ):
            existing_pairs[ext_of[prompt_pk]].add((model_a, model_b))

    explicit: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for ext, model_a, model_b in batch.pairs:
        explicit[ext].append((model_a, model_b))
    pairs_in_file: dict[str, int] = {}
    new_pairs: dict[str, list[tuple[str, str]]] = {}
    for ext in batch.prompts:
        have = existing_pairs.get(ext, set())
        if kind == "pairs":
            wanted = explicit[ext]
        else:
            wanted = _pairs_for_prompt(
                models=models_of[ext],
                existing=have,
                pairs_per_prompt=pairs_per_prompt,
                rng=random.Random(f"{seed}:{ext}"),
            )
        new_pairs[ext] = [key for key in wanted if key not in have]
        # A pairs file holds its own pairs; a completions file asks for all or N per prompt.
        pairs_in_file[ext] = len(wanted) if kind == "pairs" else len(have) + len(new_pairs[ext])
    del existing_pairs, explicit
    total = sum(len(keys) for keys in new_pairs.values())
    project_pk = project.pk
    pairs_created = insert_rows(
        Pair,
        PAIR_FIELDS,
        (
            (
                project_pk,
                prompt_ids[ext],
                completion_ids[(ext, model_a)],
                completion_ids[(ext, model_b)],
                model_a,
                model_b,
                0,
                0,
                0,
                0,
            )
            for ext, keys in new_pairs.items()
            for model_a, model_b in keys
        ),
        progress=lambda n: progress("writing pairs", n, total),
    )

    by_category: dict[str, dict[str, int]] = {}
    for ext, prompt in batch.prompts.items():
        counts = by_category.setdefault(
            prompt.category, {"prompts": 0, "prompts_created": 0, "pairs": 0, "pairs_created": 0}
        )
        counts["prompts"] += 1
        counts["prompts_created"] += ext in new_prompt_exts
        counts["pairs"] += pairs_in_file[ext]
        counts["pairs_created"] += len(new_pairs[ext])
    return ImportResult(
        kind=kind,
        rows=0,
        prompts_created=len(new_prompt_exts),
        completions_created=sum(
            1 for key in batch.completions if key not in existing.completion_keys
        ),
        pairs_created=pairs_created,
        by_category=by_category,
        prompts_in_file=len(batch.prompts),
        completions_in_file=completions_in_file,
        pairs_in_file=sum(pairs_in_file.values()),
    )


def _write_completions(
    batch: _PromptBatch,
    existing: _Existing,
    prompt_ids: dict[str, int],
    progress: ImportProgress,
) -> dict[tuple[str, str], int]:
    """Stores the file's new completions; returns the id of every completion of its prompts."""
    new_keys = [key for key in batch.completions if key not in existing.completion_keys]
    ids: dict[tuple[str, str], int] = {}
    old_prompts = {prompt_ids[ext]: ext for ext, _ in existing.completion_keys}
    for chunk in chunks(list(old_prompts)):
        for pk, prompt_pk, model in Completion.objects.filter(prompt_id__in=chunk).values_list(
            "id", "prompt_id", "model"
        ):
            ids[(old_prompts[prompt_pk], model)] = pk
    new_ids = insert_rows_with_ids(
        Completion,
        ("prompt", "model", "text"),
        [(prompt_ids[ext], model, batch.completions[(ext, model)][0]) for ext, model in new_keys],
        progress=lambda n: progress("writing completions", n, len(new_keys)),
    )
    if new_ids is not None:
        ids.update(zip(new_keys, new_ids, strict=True))
        return ids
    new_prompts = {prompt_ids[ext]: ext for ext, _ in new_keys}
    for chunk in chunks(list(new_prompts)):
        for pk, prompt_pk, model in Completion.objects.filter(prompt_id__in=chunk).values_list(
            "id", "prompt_id", "model"
        ):
            ids[(new_prompts[prompt_pk], model)] = pk
    return ids


def _pairs_for_prompt(
    *,
    models: Iterable[str],
    existing: set[tuple[str, str]],
    pairs_per_prompt: int | None,
    rng: random.Random,
) -> list[tuple[str, str]]:
    """Canonical model pairs to add for one prompt: all of them, or topped up to N by sampling."""
    candidates = list(itertools.combinations(sorted(models), 2))
    if pairs_per_prompt is None:
        return candidates
    missing = pairs_per_prompt - len(existing)
    if missing <= 0:
        return []
    # Sorted before sampling so the pick depends only on the seed, not on dict or query order.
    fresh = sorted(c for c in candidates if c not in existing)
    return sorted(rng.sample(fresh, min(missing, len(fresh))))
