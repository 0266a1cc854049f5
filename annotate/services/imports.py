"""Importing completions, pairs and ratings files (DESIGN.md, "File formats (import)").

`import_file` is atomic: the whole file is read and validated against itself and the database
first, and any bad row raises one ApplicationError listing every bad row; only a clean file is
written, in one transaction. Writes are idempotent by natural key (Prompt: project + external id,
Completion: prompt + model, Pair: prompt + model_a + model_b, Rating: the model's uniqueness
rules), so importing the same file twice adds nothing the second time.

Writes are bulk inserts in batches with ids fetched back by natural key in bulk, never one query
per row: 1,000 prompts x 8 models (28,000 pairs) must import in about two seconds.
"""

import hashlib
import itertools
import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from django.conf import settings
from django.db import IntegrityError, transaction

from annotate.models import Completion, Pair, Project, Prompt, PromptSet
from annotate.services.assignment import project_open_pairs_refresh
from annotate.services.import_common import (
    BATCH_SIZE,
    MAX_LENGTH,
    ImportResult,
    chunks,
    insert_rows,
    prompt_lookup,
    required_value,
)
from annotate.services.import_ratings import RATINGS_COLUMNS, RATINGS_OPTIONAL, import_ratings
from annotate.services.import_readers import Record, RowErrors, file_error, read_records
from concord.api_errors import ApplicationError

__all__ = ["ImportResult", "import_file"]

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


def import_file(
    *,
    project: Project,
    kind: str,
    file: BinaryIO,
    filename: str,
    acting_user: Any = None,
    pairs_per_prompt: int | None = None,
    seed: int = 0,
) -> ImportResult:
    """Import one file of `kind` ("completions", "pairs" or "ratings") into `project`.

    For completions, pairs are generated per prompt: all model pairs, or `pairs_per_prompt`
    of them sampled with a generator seeded by (`seed`, prompt id), so the same file and seed
    always give the same pairs whatever else the file holds.
    """
    if kind not in ("completions", "pairs", "ratings"):
        raise ApplicationError(f"Unknown import kind {kind!r}; use completions, pairs or ratings.")
    if pairs_per_prompt is not None and pairs_per_prompt < 1:
        raise ApplicationError(f"pairs_per_prompt must be at least 1, got {pairs_per_prompt}.")
    max_bytes = settings.IMPORT_MAX_BYTES
    data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise file_error(filename, f"larger than {max_bytes} bytes (IMPORT_MAX_BYTES)")
    errors = RowErrors()
    columns, optional = {
        "completions": (COMPLETIONS_COLUMNS, ()),
        "pairs": (PAIRS_COLUMNS, ()),
        "ratings": (RATINGS_COLUMNS, RATINGS_OPTIONAL),
    }[kind]
    records = read_records(
        data=data,
        filename=filename,
        columns=columns,
        optional=optional,
        max_rows=settings.IMPORT_MAX_ROWS,
        errors=errors,
    )
    rows = len(records) + len(errors.rows)
    if kind == "ratings":
        return import_ratings(project, records, rows, filename, errors)
    sha256 = hashlib.sha256(data).hexdigest()
    batch = _PromptBatch()
    if kind == "completions":
        _parse_completions(batch, records, errors)
    else:
        _parse_pairs(batch, records, errors)
    existing = _check_against_database(
        project, batch, errors, need_two_models=kind == "completions"
    )
    errors.raise_if_any(filename)
    try:
        with transaction.atomic():
            result = _write_prompt_batch(
                project=project,
                batch=batch,
                existing=existing,
                prompt_set_key=(filename, kind, sha256),
                acting_user=acting_user,
                pairs_per_prompt=pairs_per_prompt,
                seed=seed,
            )
            project_open_pairs_refresh(project=project)
    except IntegrityError as exc:
        # Validation ran before the transaction; another import of the same rows got in first.
        raise ApplicationError(
            f"{filename}: the project changed during the import (another import of the same "
            "rows?); nothing was imported, try again"
        ) from exc
    result.kind, result.rows = kind, rows
    return result


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
    completion_texts: dict[tuple[str, str], str]


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


def _parse_completions(batch: _PromptBatch, records: list[tuple[int, Record]], errors: RowErrors):
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


def _parse_pairs(batch: _PromptBatch, records: list[tuple[int, Record]], errors: RowErrors):
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
    prompts = prompt_lookup(project, batch.prompts)
    for ext, (_, text) in prompts.items():
        if text != batch.prompts[ext].text:
            errors.add(
                batch.prompts[ext].row,
                "prompt",
                f"prompt_id {ext!r} already exists in this project with a different text",
            )
    ext_of = {pk: ext for ext, (pk, _) in prompts.items()}
    completion_texts: dict[tuple[str, str], str] = {}
    for chunk in chunks(list(ext_of)):
        for prompt_pk, model, text in Completion.objects.filter(prompt_id__in=chunk).values_list(
            "prompt_id", "model", "text"
        ):
            completion_texts[(ext_of[prompt_pk], model)] = text
    for key, (text, row, column) in batch.completions.items():
        if key in completion_texts and completion_texts[key] != text:
            errors.add(
                row,
                column,
                f"model {key[1]!r} already has a different completion for prompt_id {key[0]!r}",
            )
    if need_two_models:
        models_of: dict[str, set[str]] = defaultdict(set)
        for ext, model in itertools.chain(batch.completions, completion_texts):
            models_of[ext].add(model)
        for ext, prompt in batch.prompts.items():
            if len(models_of[ext]) < 2:
                errors.add(
                    prompt.row,
                    "model",
                    f"prompt_id {ext!r} has "
                    f"{'only one model' if models_of[ext] else 'no usable completion'}; "
                    "a pair needs two",
                )
    return _Existing({ext: pk for ext, (pk, _) in prompts.items()}, completion_texts)


def _write_prompt_batch(
    *,
    project: Project,
    batch: _PromptBatch,
    existing: _Existing,
    prompt_set_key: tuple[str, str, str],
    acting_user: Any,
    pairs_per_prompt: int | None,
    seed: int,
) -> ImportResult:
    name, kind, sha256 = prompt_set_key
    # The same bytes imported again reuse their prompt set, so a re-import adds no row at all.
    prompt_set = PromptSet.objects.filter(project=project, kind=kind, sha256=sha256).first()
    if prompt_set is None:
        prompt_set = PromptSet.objects.create(
            project=project, name=name[:255], kind=kind, sha256=sha256, created_by=acting_user
        )
    new_prompts = [
        Prompt(
            project=project,
            prompt_set=prompt_set,
            external_id=ext,
            text=prompt.text,
            category=prompt.category,
        )
        for ext, prompt in batch.prompts.items()
        if ext not in existing.prompt_ids
    ]
    Prompt.objects.bulk_create(new_prompts, batch_size=BATCH_SIZE)
    prompt_ids = dict(existing.prompt_ids)
    if new_prompts:
        prompt_ids.update(
            (ext, pk)
            for ext, (pk, _) in prompt_lookup(project, [p.external_id for p in new_prompts]).items()
        )
    new_completions = [
        (prompt_ids[ext], model, text)
        for (ext, model), (text, _, _) in batch.completions.items()
        if (ext, model) not in existing.completion_texts
    ]
    insert_rows(Completion, ("prompt", "model", "text"), new_completions)

    ext_of = {prompt_ids[ext]: ext for ext in batch.prompts}
    completion_ids: dict[int, dict[str, int]] = defaultdict(dict)
    existing_pairs: dict[int, set[tuple[str, str]]] = defaultdict(set)
    for chunk in chunks(list(ext_of)):
        for pk, prompt_pk, model in Completion.objects.filter(prompt_id__in=chunk).values_list(
            "id", "prompt_id", "model"
        ):
            completion_ids[prompt_pk][model] = pk
        for prompt_pk, model_a, model_b in Pair.objects.filter(prompt_id__in=chunk).values_list(
            "prompt_id", "model_a", "model_b"
        ):
            existing_pairs[prompt_pk].add((model_a, model_b))

    wanted: dict[int, list[tuple[str, str]]] = defaultdict(list)
    if batch.pairs:
        for ext, model_a, model_b in batch.pairs:
            wanted[prompt_ids[ext]].append((model_a, model_b))
    else:
        for prompt_pk, ext in ext_of.items():
            wanted[prompt_pk] = _pairs_for_prompt(
                models=completion_ids[prompt_pk],
                existing=existing_pairs[prompt_pk],
                pairs_per_prompt=pairs_per_prompt,
                rng=random.Random(f"{seed}:{ext}"),
            )
    new_pairs = [
        (
            project.pk,
            prompt_pk,
            completion_ids[prompt_pk][model_a],
            completion_ids[prompt_pk][model_b],
            model_a,
            model_b,
            0,
            0,
            0,
            0,
        )
        for prompt_pk, model_pairs in wanted.items()
        for model_a, model_b in model_pairs
        if (model_a, model_b) not in existing_pairs[prompt_pk]
    ]
    insert_rows(
        Pair,
        (
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
        ),
        new_pairs,
    )

    by_category: dict[str, dict[str, int]] = {}
    for prompt_pk, ext in ext_of.items():
        counts = by_category.setdefault(batch.prompts[ext].category, {"prompts": 0, "pairs": 0})
        counts["prompts"] += 1
        counts["pairs"] += len(existing_pairs[prompt_pk] | set(wanted[prompt_pk]))
    return ImportResult(
        kind=kind,
        rows=0,
        prompts_created=len(new_prompts),
        completions_created=len(new_completions),
        pairs_created=len(new_pairs),
        by_category=by_category,
    )


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
