"""The bad-input corpus (tests/data/bad, see its README): every malformed file is refused with its
rows and fields named, writes nothing, and the next good request still works."""

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from annotate import models
from annotate.services import import_readers
from annotate.services.imports import import_file
from concord.api_errors import ApplicationError
from conftest import PASSWORD
from exports.services import export_spec_check, export_write

BAD = Path(__file__).parent / "data" / "bad"
GOOD_COMPLETIONS = (
    Path(__file__).parent.parent / "annotate" / "tests" / "data" / "completions_good.csv"
)
GOOD_RATINGS = Path(__file__).parent.parent / "annotate" / "tests" / "data" / "ratings_good.csv"

# Each refused file with the (row, field) of every error it must give: row None for a problem
# with the whole file, field None for a problem with the whole row.
REFUSED: dict[str, set[tuple[int | None, str | None]]] = {
    "completions_latin1.csv": {(2, "completion"), (4, "prompt"), (5, "prompt")},
    "completions_utf16.csv": {(None, None)},
    "completions_utf16_no_bom.csv": {(None, None)},
    "completions_missing_column.csv": {(None, "category")},
    "completions_extra_field.csv": {(2, None)},
    "completions_short_row.csv": {(2, None)},
    "completions_empty_cells.csv": {
        (2, "prompt_id"),
        (3, "completion"),
        (4, "model"),
        (5, "prompt"),
    },
    "completions_duplicate_rows.csv": {(3, "model")},
    "completions_one_model.csv": {(3, "model")},
    "completions_conflicting_prompt.csv": {(2, "prompt"), (3, "category")},
    "completions_unclosed_quote.csv": {(2, None)},
    "completions_header_only.csv": {(None, None)},
    "completions_empty.csv": {(None, None)},
    "completions_nul_byte.csv": {(1, "completion")},
    "completions_long_model_name.csv": {(2, "model")},
    "completions_duplicate_header.csv": {(None, "model")},
    "completions_semicolons.csv": {
        (None, name) for name in ("prompt_id", "prompt", "category", "model", "completion")
    },
    "completions_deep_nesting.jsonl": {(2, None)},
    "completions_huge_number.jsonl": {(2, None)},
    "completions_not_parquet.parquet": {(None, None)},
    "completions_truncated.parquet": {(None, None)},
    "completions_missing_column.parquet": {(None, "category")},
    "completions_nested_column.parquet": {(None, "completion")},
    "completions_empty_cells.parquet": {(2, "prompt_id"), (3, "completion")},
    "completions_latin1_bytes.parquet": {(1, "completion"), (3, "completion")},
    "pairs_broken_line.jsonl": {(2, None)},
    "pairs_not_object.jsonl": {(2, None), (3, None)},
    "pairs_latin1.jsonl": {(2, None)},
    "pairs_lone_surrogate.jsonl": {(2, "completion_b")},
    "pairs_nan.jsonl": {(2, "completion_b"), (3, "completion_b")},
    "pairs_nan.parquet": {(2, "completion_b")},
    "pairs_same_model.jsonl": {(2, "model_b")},
    "pairs_duplicate_pair.jsonl": {(2, None)},
    "pairs_wrong_types.jsonl": {(2, "completion_b"), (3, "completion_b")},
    "pairs_misspelt_key.jsonl": {(2, "completion_b")},
    "pairs_utf16.jsonl": {(None, None)},
    "pairs_conflicting_completion.jsonl": {(2, "completion_a")},
    "ratings_unknown_pair.csv": {(2, None), (3, None)},
    "ratings_winner_invalid.csv": {(2, "winner"), (3, "winner"), (4, "winner")},
    "ratings_strength_out_of_range.csv": {(row, "strength") for row in (2, 3, 4, 5, 6)},
    "ratings_strength_out_of_range.parquet": {(2, "strength"), (3, "strength")},
    "ratings_nan.csv": {(1, "strength")},
    "ratings_nan.jsonl": {(1, "strength")},
    "ratings_misspelt_optional_column.csv": {(None, "strength")},
    "ratings_duplicate.csv": {(2, "rater")},
    "ratings_rater_kind.csv": {(1, "rater_kind")},
    "ratings_unknown_criterion.csv": {(1, "criterion")},
    "ratings_shown_first.csv": {(1, "shown_first")},
    "ratings_boolean_winner.parquet": {(1, "winner"), (2, "winner")},
}
ACCEPTED = {
    "good_completions_bom.csv",
    "good_completions_mixed_line_endings.csv",
    "good_completions_formula_cells.csv",
    "good_completions_extra_column.csv",
}
# The handful also sent through the upload API: one per format and kind, plus encodings.
THROUGH_THE_API = [
    "completions_latin1.csv",
    "completions_utf16.csv",
    "completions_latin1_bytes.parquet",
    "pairs_broken_line.jsonl",
    "ratings_strength_out_of_range.csv",
]


def kind_of(name: str) -> str:
    return name.removeprefix("good_").split("_")[0]


def counts(project: models.Project) -> dict[str, int]:
    return {
        "prompt_sets": models.PromptSet.objects.filter(project=project).count(),
        "prompts": models.Prompt.objects.filter(project=project).count(),
        "completions": models.Completion.objects.filter(prompt__project=project).count(),
        "pairs": models.Pair.objects.filter(project=project).count(),
        "ratings": models.Rating.objects.filter(pair__project=project).count(),
    }


def run(project: models.Project, kind: str, name: str, data: bytes) -> Any:
    return import_file(project=project, kind=kind, file=io.BytesIO(data), filename=name)


def refusal(project: models.Project, kind: str, name: str, data: bytes) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        run(project, kind, name, data)
    return info.value


def ready_for(project: models.Project, kind: str) -> None:
    """Ratings need pairs to join; completions and pairs files go into an empty project."""
    if kind == "ratings":
        run(project, "completions", "completions_good.csv", GOOD_COMPLETIONS.read_bytes())


def a_good_import_still_works(project: models.Project, kind: str) -> None:
    good = GOOD_RATINGS if kind == "ratings" else GOOD_COMPLETIONS
    result = run(
        project, "ratings" if kind == "ratings" else "completions", good.name, good.read_bytes()
    )
    assert (result.ratings_created if kind == "ratings" else result.pairs_created) > 0


def assert_named(error: ApplicationError, name: str) -> None:
    """The refusal names the file, and each error names its row or field, or is about the file."""
    assert name in error.message and "nothing was imported" in error.message
    for item in error.extra["errors"]:
        assert item["message"]
        if item["row"] is None and item["field"] is None:
            assert item["message"] in error.message


def test_every_file_of_the_corpus_is_checked_and_described() -> None:
    on_disk = {p.name for p in BAD.iterdir() if p.suffix in (".csv", ".jsonl", ".parquet")}
    readme = (BAD / "README.md").read_text(encoding="utf-8")

    assert on_disk == set(REFUSED) | ACCEPTED
    assert len(REFUSED) >= 30
    assert {kind_of(name) for name in REFUSED} == {"completions", "pairs", "ratings"}
    assert {Path(name).suffix for name in REFUSED} == {".csv", ".jsonl", ".parquet"}
    assert set(re.findall(r"`([\w.]+\.(?:csv|jsonl|parquet))`", readme)) == on_disk


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_a_malformed_file_is_refused_naming_rows_and_fields_and_writes_nothing(
    project: models.Project, name: str
) -> None:
    kind = kind_of(name)
    ready_for(project, kind)
    before = counts(project)
    claims = list(models.Pair.objects.order_by("id").values_list("claims", "submitted"))

    error = refusal(project, kind, name, (BAD / name).read_bytes())

    assert {(e["row"], e["field"]) for e in error.extra["errors"]} == REFUSED[name]
    assert_named(error, name)
    assert counts(project) == before
    assert list(models.Pair.objects.order_by("id").values_list("claims", "submitted")) == claims
    a_good_import_still_works(project, kind)


@pytest.mark.parametrize("name", THROUGH_THE_API)
def test_the_upload_api_answers_400_with_the_row_errors_and_keeps_serving(
    client: Client, project: models.Project, lena: Any, name: str
) -> None:
    kind = kind_of(name)
    ready_for(project, kind)
    before = counts(project)
    client.force_login(lena)
    url = f"/api/projects/{project.slug}/imports/"

    response = client.post(
        url, {"file": SimpleUploadedFile(name, (BAD / name).read_bytes()), "kind": kind}
    )

    assert response.status_code == 400
    body = response.json()
    assert name in body["detail"] and "nothing was imported" in body["detail"]
    assert {(e["row"], e["field"]) for e in body["errors"]} == REFUSED[name]
    assert counts(project) == before
    good, good_kind = (
        (GOOD_RATINGS, kind) if kind == "ratings" else (GOOD_COMPLETIONS, "completions")
    )
    again = client.post(
        url, {"file": SimpleUploadedFile(good.name, good.read_bytes()), "kind": good_kind}
    )
    assert again.status_code == 201
    created = "ratings_created" if good_kind == "ratings" else "pairs_created"
    key = "ratings" if good_kind == "ratings" else "pairs"
    assert again.json()[created] > 0
    assert counts(project)[key] == before[key] + again.json()[created]


def test_the_upload_page_lists_every_bad_row_of_a_latin1_file(
    client: Client, project: models.Project, lena: Any
) -> None:
    client.force_login(lena)
    name = "completions_latin1.csv"

    response = client.post(
        reverse("import_upload", args=[project.slug]),
        {
            "file": SimpleUploadedFile(name, (BAD / name).read_bytes()),
            "kind": "completions",
            "pairs": "all",
            "seed": "0",
        },
    )

    assert response.status_code == 400
    html = response.content.decode()
    rows = re.findall(r'<tr><td class="num">(\d+)</td><td>(\w+)</td><td>([^<]*)</td></tr>', html)
    assert rows == [
        ("2", "completion", "invalid UTF-8 (byte 0xC7); save the file as UTF-8"),
        ("4", "prompt", "invalid UTF-8 (byte 0xE9); save the file as UTF-8"),
        ("5", "prompt", "invalid UTF-8 (byte 0xE9); save the file as UTF-8"),
    ]
    assert counts(project)["prompts"] == 0


# --- accepted on purpose -------------------------------------------------------------------------


def test_a_utf8_bom_is_stripped_and_the_file_imports(project: models.Project) -> None:
    name = "good_completions_bom.csv"

    result = run(project, "completions", name, (BAD / name).read_bytes())

    assert (result.prompts_created, result.completions_created, result.pairs_created) == (1, 2, 1)
    assert models.Prompt.objects.get(project=project).external_id == "p1"


def test_mixed_line_endings_read_as_rows_and_a_quoted_crlf_stays_in_its_cell(
    project: models.Project,
) -> None:
    name = "good_completions_mixed_line_endings.csv"

    result = run(project, "completions", name, (BAD / name).read_bytes())

    assert (result.rows, result.prompts_created, result.pairs_created) == (5, 2, 3 + 1)
    texts = dict(
        models.Completion.objects.filter(prompt__external_id="p1").values_list("model", "text")
    )
    assert texts == {"m1": "a", "m2": "two\r\nlines", "m3": "c"}


def test_an_unknown_extra_column_is_ignored(project: models.Project) -> None:
    name = "good_completions_extra_column.csv"

    assert run(project, "completions", name, (BAD / name).read_bytes()).pairs_created == 1


def test_formula_looking_text_is_stored_verbatim_and_escaped_in_the_csv_export(
    project: models.Project,
) -> None:
    name = "good_completions_formula_cells.csv"
    run(project, "completions", name, (BAD / name).read_bytes())
    ratings = (
        "prompt_id,model_a,model_b,criterion,rater,rater_kind,winner\n"
        "p1,m1,m2,helpfulness,v1,human,a\n"
    )
    run(project, "ratings", "r.csv", ratings.encode())

    stored = dict(models.Completion.objects.values_list("model", "text"))
    assert stored == {
        "m1": '=HYPERLINK("http://example.com","click")',
        "m2": "+1 is positive",
        "m3": "-1 is negative",
        "m4": "@SUM(A1:A2)",
    }
    assert models.Prompt.objects.get().text == "=1+1"
    out = io.BytesIO()
    export_write(project=project, spec=export_spec_check(project=project, format="csv"), out=out)
    exported = next(csv.DictReader(io.StringIO(out.getvalue().decode())))
    assert exported["prompt"] == "'=1+1"
    assert exported["completion_a"] == '\'=HYPERLINK("http://example.com","click")'
    assert exported["completion_b"] == "'+1 is positive"


# --- generated: too large for the repository ---------------------------------------------------


def write_big_csv(path: Path, size: int) -> None:
    row = b"p%d,A prompt that is long enough,cat,model-%d," + b"x" * 200 + b"\n"
    with path.open("wb") as out:
        out.write(b"prompt_id,prompt,category,model,completion\n")
        written, n = 0, 0
        while written < size:
            line = row % (n // 8, n % 8)
            out.write(line)
            written += len(line)
            n += 1


def refuse(*args: object, **kwargs: object) -> Iterator[Any]:
    raise AssertionError("the file was parsed")


@pytest.fixture
def no_row_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails the test if the file reaches the record reader."""
    monkeypatch.setattr(import_readers.RecordReader, "__iter__", refuse)


@pytest.fixture
def no_page_reading(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fails the test if any Parquet page is read: only the footer may be."""
    for method in ("iter_batches", "read", "read_row_group", "read_row_groups"):
        monkeypatch.setattr(pq.ParquetFile, method, refuse)


def test_a_100_mb_file_is_refused_by_its_size_before_any_row_is_parsed(
    project: models.Project, tmp_path: Path, settings: Any, no_row_reading: None
) -> None:
    path = tmp_path / "big.csv"
    write_big_csv(path, 100 * 1000 * 1000)

    with path.open("rb") as file, pytest.raises(ApplicationError) as info:
        import_file(project=project, kind="completions", file=file, filename="big.csv")

    limit = settings.IMPORT_MAX_BYTES
    assert limit < 100 * 1000 * 1000
    assert info.value.message == (
        f"big.csv: larger than {limit} bytes (IMPORT_MAX_BYTES); nothing was imported"
    )
    assert counts(project)["prompt_sets"] == 0


@pytest.mark.django_db(transaction=True)
def test_a_100_mb_upload_is_refused_by_a_live_server_which_then_serves_the_next_upload(
    live_server: Any, project: models.Project, lena: Any, tmp_path: Path, settings: Any
) -> None:
    path = tmp_path / "big.csv"
    write_big_csv(path, 100 * 1000 * 1000)
    with httpx.Client(base_url=live_server.url, timeout=120) as http:
        token = http.post("/api/auth/token/", json={"username": "lena", "password": PASSWORD})
        headers = {"Authorization": f"Token {token.json()['token']}"}
        url = f"/api/projects/{project.slug}/imports/"

        with path.open("rb") as file:
            big = http.post(
                url,
                headers=headers,
                data={"kind": "completions"},
                files={"file": ("big.csv", file, "text/csv")},
            )

        assert big.status_code in (400, 413)
        assert big.json()["detail"] == (
            f"big.csv: larger than {settings.IMPORT_MAX_BYTES} bytes (IMPORT_MAX_BYTES); "
            "nothing was imported"
        )
        assert counts(project)["prompt_sets"] == 0
        good = http.post(
            url,
            headers=headers,
            data={"kind": "completions"},
            files={"file": ("good.csv", GOOD_COMPLETIONS.read_bytes(), "text/csv")},
        )
        assert good.status_code == 201
        assert good.json()["pairs_created"] == 10


def test_a_cell_over_the_cell_limit_is_refused_naming_row_and_field(
    project: models.Project, settings: Any
) -> None:
    limit = settings.IMPORT_MAX_CELL_CHARS
    data = (
        "prompt_id,prompt,category,model,completion\n"
        f"p1,Hi,x,m1,a\np1,Hi,x,m2,{'y' * (limit + 1)}\np1,Hi,x,m3,{'z' * limit}\n"
    ).encode()

    error = refusal(project, "completions", "huge_cell.csv", data)

    assert error.extra["errors"] == [
        {
            "row": 2,
            "field": "completion",
            "message": f"longer than {limit} characters (IMPORT_MAX_CELL_CHARS)",
        }
    ]
    assert counts(project)["prompts"] == 0
    a_good_import_still_works(project, "completions")


def parquet_bytes(table: pa.Table, **options: Any) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, **options)
    return sink.getvalue()


def completions_table(rows: int, completion: pa.Array | None = None) -> pa.Table:
    def repeat(value: str) -> pa.Array:
        return pa.array([value] * rows) if rows < 10_000 else pa.repeat(value, rows)

    return pa.table(
        {
            "prompt_id": repeat("p1"),
            "prompt": repeat("Hi"),
            "category": repeat("x"),
            "model": repeat("m1"),
            "completion": completion if completion is not None else repeat("a"),
        }
    )


def test_a_parquet_bomb_of_millions_of_rows_is_refused_from_its_footer(
    project: models.Project, settings: Any, no_page_reading: None
) -> None:
    rows = settings.IMPORT_MAX_ROWS + 1_000_000
    data = parquet_bytes(completions_table(rows), compression="zstd")
    assert len(data) < 100_000  # a few KB on disk

    error = refusal(project, "completions", "bomb.parquet", data)

    assert error.message == (
        f"bomb.parquet: {rows} data rows, more than {settings.IMPORT_MAX_ROWS} (IMPORT_MAX_ROWS); "
        "nothing was imported"
    )
    assert counts(project)["prompts"] == 0


def test_a_parquet_bomb_of_huge_compressible_cells_is_refused_from_its_footer(
    project: models.Project, settings: Any, no_page_reading: None
) -> None:
    cell = "a" * 1_000_000
    table = completions_table(80, pa.array([cell] * 80))
    data = parquet_bytes(table, compression="zstd", use_dictionary=False)
    assert len(data) < 1_000_000  # 80 MB of text in well under a megabyte

    error = refusal(project, "completions", "bomb.parquet", data)

    assert re.fullmatch(
        rf"bomb\.parquet: its columns hold \d+ bytes uncompressed, more than "
        rf"{settings.IMPORT_MAX_BYTES} \(IMPORT_MAX_BYTES\); nothing was imported",
        error.message,
    )


def test_a_parquet_dictionary_bomb_is_refused_before_its_texts_are_built(
    project: models.Project, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    cell = "b" * 150_000  # under the cell limit, but 1,000 of them are 150 MB
    rows = 1000
    table = completions_table(
        rows, pa.DictionaryArray.from_arrays(pa.array([0] * rows, pa.int32()), pa.array([cell]))
    )
    data = parquet_bytes(table, compression="zstd")
    assert len(data) < 1_000_000
    built: list[int] = []
    real = import_readers._column_values
    monkeypatch.setattr(
        import_readers, "_column_values", lambda column: built.append(1) or real(column)
    )

    error = refusal(project, "completions", "bomb.parquet", data)

    assert error.message == (
        f"bomb.parquet: its data expands to more than {settings.IMPORT_MAX_BYTES} bytes "
        "(IMPORT_MAX_BYTES); nothing was imported"
    )
    assert built == []  # refused before one cell became a Python string
    assert counts(project)["prompts"] == 0
