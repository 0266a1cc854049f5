import csv
import io
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.db.models import NOT_PROVIDED

from annotate import models
from annotate.services.imports import PAIR_FIELDS, ImportResult, import_file
from annotate.services.projects import project_create
from concord.api_errors import ApplicationError

DATA = Path(__file__).parent / "data"


def load_rows(name: str) -> list[dict[str, Any]]:
    text = (DATA / name).read_text(encoding="utf-8")
    if name.endswith(".csv"):
        return list(csv.DictReader(io.StringIO(text, newline="")))
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def encode(rows: list[dict[str, Any]], fmt: str) -> bytes:
    if fmt == "csv":
        out = io.StringIO(newline="")
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue().encode("utf-8")
    if fmt == "jsonl":
        return "".join(json.dumps(row) + "\n" for row in rows).encode("utf-8")
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), sink)
    return sink.getvalue()


def run(
    project: models.Project, kind: str, name: str, data: bytes | None = None, **options: Any
) -> ImportResult:
    if data is None:
        data = (DATA / name).read_bytes()
    return import_file(project=project, kind=kind, file=io.BytesIO(data), filename=name, **options)


def refused(
    project: models.Project, kind: str, name: str, data: bytes | None = None, **options: Any
) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        run(project, kind, name, data, **options)
    return info.value


def row_errors(error: ApplicationError) -> set[tuple[int | None, str | None]]:
    return {(e["row"], e["field"]) for e in error.extra["errors"]}


def db_counts(project: models.Project) -> dict[str, int]:
    return {
        "prompt_sets": models.PromptSet.objects.filter(project=project).count(),
        "prompts": models.Prompt.objects.filter(project=project).count(),
        "completions": models.Completion.objects.filter(prompt__project=project).count(),
        "pairs": models.Pair.objects.filter(project=project).count(),
        "ratings": models.Rating.objects.filter(pair__project=project).count(),
    }


def pair_keys(project: models.Project) -> set[tuple[str, str, str]]:
    return set(
        models.Pair.objects.filter(project=project).values_list(
            "prompt__external_id", "model_a", "model_b"
        )
    )


EMPTY = {"prompt_sets": 0, "prompts": 0, "completions": 0, "pairs": 0, "ratings": 0}


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_a_completions_file_creates_every_prompt_completion_and_model_pair(
    project: models.Project, fmt: str
) -> None:
    data = encode(load_rows("completions_good.csv"), fmt)
    result = run(project, "completions", f"completions.{fmt}", data)

    assert result == ImportResult(
        kind="completions",
        rows=9,
        prompts_created=3,
        completions_created=9,
        pairs_created=3 + 1 + 6,
        ratings_created=0,
        by_category={
            "writing": {"prompts": 1, "prompts_created": 1, "pairs": 3, "pairs_created": 3},
            "math": {"prompts": 1, "prompts_created": 1, "pairs": 1, "pairs_created": 1},
            "coding": {"prompts": 1, "prompts_created": 1, "pairs": 6, "pairs_created": 6},
        },
        prompts_in_file=3,
        completions_in_file=9,
        pairs_in_file=10,
    )
    assert db_counts(project) == {
        **EMPTY,
        "prompt_sets": 1,
        "prompts": 3,
        "completions": 9,
        "pairs": 10,
    }
    haiku = models.Completion.objects.get(prompt__external_id="p1", model="alpha-7b")
    assert haiku.text.splitlines()[1] == "the gutters hum a low song,"
    pair = models.Pair.objects.get(prompt__external_id="p2")
    assert (pair.model_a, pair.completion_a.text) == ("alpha-7b", "4")
    assert pair.completion_b.model == "beta-13b"
    prompt_set = models.PromptSet.objects.get(project=project)
    assert (prompt_set.name, prompt_set.kind, len(prompt_set.sha256)) == (
        f"completions.{fmt}",
        "completions",
        64,
    )


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_a_pairs_file_stores_the_explicit_pairs_in_canonical_order(
    project: models.Project, fmt: str
) -> None:
    data = encode(load_rows("pairs_good.jsonl"), fmt)
    result = run(project, "pairs", f"pairs.{fmt}", data)

    assert (
        result.rows,
        result.prompts_created,
        result.completions_created,
        result.pairs_created,
    ) == (3, 2, 5, 3)
    assert result.by_category == {
        "math": {"prompts": 1, "prompts_created": 1, "pairs": 2, "pairs_created": 2},
        "language": {"prompts": 1, "prompts_created": 1, "pairs": 1, "pairs_created": 1},
    }
    assert (result.prompts_in_file, result.completions_in_file, result.pairs_in_file) == (2, 5, 3)
    assert pair_keys(project) == {
        ("q1", "alpha-7b", "beta-13b"),
        ("q1", "alpha-7b", "gamma-70b"),
        ("q2", "alpha-7b", "beta-13b"),
    }
    swapped = models.Pair.objects.get(prompt__external_id="q1", model_b="beta-13b")
    assert swapped.completion_a.text == "2 is the smallest prime."
    assert swapped.completion_b.text == "7"


def test_reimporting_the_same_files_adds_no_rows(project: models.Project) -> None:
    run(project, "completions", "completions_good.csv")
    run(project, "pairs", "pairs_good.jsonl")
    run(project, "ratings", "ratings_good.csv")
    before = db_counts(project)
    claims = list(models.Pair.objects.order_by("id").values_list("claims", "submitted"))

    again = [
        run(project, "completions", "completions_good.csv"),
        run(project, "pairs", "pairs_good.jsonl"),
        run(project, "ratings", "ratings_good.csv"),
    ]

    assert db_counts(project) == before
    assert list(models.Pair.objects.order_by("id").values_list("claims", "submitted")) == claims
    assert [
        (r.prompts_created, r.completions_created, r.pairs_created, r.ratings_created)
        for r in again
    ] == [(0, 0, 0, 0)] * 3


def test_a_completions_file_can_add_a_model_to_existing_prompts(project: models.Project) -> None:
    run(project, "completions", "completions_good.csv")
    extra = b"prompt_id,prompt,category,model,completion\np2,What is 2 + 2?,math,omega-1b,four\n"

    result = run(project, "completions", "more.csv", extra)

    assert (result.prompts_created, result.completions_created, result.pairs_created) == (0, 1, 2)
    assert {k for k in pair_keys(project) if k[0] == "p2"} == {
        ("p2", "alpha-7b", "beta-13b"),
        ("p2", "alpha-7b", "omega-1b"),
        ("p2", "beta-13b", "omega-1b"),
    }


def test_every_bad_completions_row_is_reported_and_nothing_is_written(
    project: models.Project,
) -> None:
    error = refused(project, "completions", "completions_bad.csv")

    assert error.message == "6 bad rows in completions_bad.csv; nothing was imported"
    assert row_errors(error) == {
        (2, "model"),  # duplicate (p1, alpha-7b)
        (3, "prompt"),  # p1 with another text
        (4, "prompt_id"),  # empty prompt_id
        (5, "completion"),  # empty completion
        (5, "model"),  # p2 is left without a usable completion
        (6, "model"),  # p3 has one model only
        (8, "category"),  # p4 with another category
    }
    messages = {(e["row"], e["field"]): e["message"] for e in error.extra["errors"]}
    assert messages[(2, "model")] == (
        "duplicate: prompt_id 'p1' already has model 'alpha-7b' on row 1"
    )
    assert "different text on row 1" in messages[(3, "prompt")]
    assert messages[(4, "prompt_id")] == "empty value"
    assert messages[(5, "model")] == "prompt_id 'p2' has no usable completion; a pair needs two"
    assert messages[(6, "model")] == "prompt_id 'p3' has only one model; a pair needs two"
    assert db_counts(project) == EMPTY


def test_every_bad_pairs_row_is_reported_and_nothing_is_written(project: models.Project) -> None:
    error = refused(project, "pairs", "pairs_bad.jsonl")

    assert error.message == "5 bad rows in pairs_bad.jsonl; nothing was imported"
    assert row_errors(error) == {
        (1, "model_b"),  # the same model on both sides
        (3, "completion_a"),  # alpha-7b with another text than on row 2
        (4, None),  # the pair of row 2 again, models swapped
        (5, None),  # not JSON
        (6, "completion_a"),  # empty completion
    }
    assert db_counts(project) == EMPTY


def test_a_prompt_or_completion_already_stored_with_another_text_is_refused(
    project: models.Project,
) -> None:
    run(project, "completions", "completions_good.csv")
    before = db_counts(project)
    changed = (
        b"prompt_id,prompt,category,model,completion\n"
        b"p2,What is 3 + 3?,math,alpha-7b,4\n"
        b"p2,What is 3 + 3?,math,beta-13b,2 + 2 = 4\n"
        b'p3,"Sort [3, 1, 2] in Python.",coding,alpha-7b,changed answer\n'
        b'p3,"Sort [3, 1, 2] in Python.",coding,zeta-1b,new model\n'
    )

    error = refused(project, "completions", "changed.csv", changed)

    assert row_errors(error) == {(1, "prompt"), (2, "completion"), (3, "completion")}
    assert (
        "already exists in this project with a different text"
        in error.extra["errors"][0]["message"]
    )
    assert db_counts(project) == before


def test_a_missing_column_is_refused_by_name(project: models.Project) -> None:
    data = b"prompt_id,prompt,model,completion\np1,Hi,m1,x\n"

    error = refused(project, "completions", "no_category.csv", data)

    assert error.message == "no_category.csv: missing column(s) category; nothing was imported"
    assert error.extra["errors"] == [
        {"row": None, "field": "category", "message": "missing column"}
    ]


def test_a_utf8_bom_is_stripped(project: models.Project) -> None:
    data = b"\xef\xbb\xbf" + (DATA / "completions_good.csv").read_bytes()

    assert run(project, "completions", "bom.csv", data).prompts_created == 3


def test_every_csv_row_with_invalid_utf8_is_named_with_its_field_and_byte(
    project: models.Project,
) -> None:
    data = (
        b"prompt_id,prompt,category,model,completion\n"
        b"p1,Hi,x,m1,a\n"
        b"p1,Hi,x,m2,caf\xe9\n"
        b"p1,Hi,x,m3,b\n"
        b"p2,Hello,na\xefve,m1,c\n"
        b'p2,Hello,x,m2,"multi\nline \xff"\n'
        b"p2,Hello,x,m3,d\n"
        b"p2,Hello,x,m4,e\n"
    )

    error = refused(project, "completions", "latin1.csv", data)

    assert error.message == "3 bad rows in latin1.csv; nothing was imported"
    bad_bytes = {
        (e["row"], e["field"], e["message"])
        for e in error.extra["errors"]
        if "UTF-8" in e["message"]
    }
    assert bad_bytes == {
        (2, "completion", "invalid UTF-8 (byte 0xE9); save the file as UTF-8"),
        (4, "category", "invalid UTF-8 (byte 0xEF); save the file as UTF-8"),
        (5, "completion", "invalid UTF-8 (byte 0xFF); save the file as UTF-8"),
    }
    assert len(error.extra["errors"]) == 3
    assert db_counts(project) == EMPTY


def test_invalid_utf8_in_jsonl_is_a_row_error(project: models.Project) -> None:
    good = json.dumps(
        {"prompt_id": "p", "prompt": "Hi", "category": "", "model": "m1", "completion": "a"}
    )
    bad_line = good.replace("m1", "m2").encode().replace(b'a"}', b'\xff"}')
    data = good.encode() + b"\n" + bad_line

    error = refused(project, "completions", "bad.jsonl", data)

    errors = {e["row"]: e["message"] for e in error.extra["errors"]}
    assert errors[2] == (
        f"invalid UTF-8 (byte 0xFF) at byte {bad_line.index(b'\xff')} of the line; "
        "save the file as UTF-8"
    )


def test_file_size_and_row_limits_are_checked_before_any_row_is_imported(
    project: models.Project, settings: Any
) -> None:
    settings.IMPORT_MAX_ROWS = 8
    assert (
        "more than 8 data rows" in refused(project, "completions", "completions_good.csv").message
    )
    settings.IMPORT_MAX_ROWS = 100
    settings.IMPORT_MAX_BYTES = 100
    assert (
        "larger than 100 bytes" in refused(project, "completions", "completions_good.csv").message
    )
    assert db_counts(project) == EMPTY


def test_an_unknown_file_type_is_refused(project: models.Project) -> None:
    assert "unknown file type '.xlsx'" in refused(project, "completions", "data.xlsx", b"x").message


def test_the_error_list_stops_at_a_thousand_rows_and_counts_the_rest(
    project: models.Project,
) -> None:
    data = b"prompt_id,prompt,category,model,completion\n" + b",,,,\n" * 1005

    error = refused(project, "completions", "empty.csv", data)

    assert error.message == "1005 bad rows in empty.csv; nothing was imported"
    assert len(error.extra["errors"]) == 1000
    # each row lacks four values: 1005 * 4 errors in all
    assert error.extra["errors_not_listed"] == 1005 * 4 - 1000


def test_pairs_per_prompt_are_sampled_deterministically_from_the_seed(db: None) -> None:
    lines = ["prompt_id,prompt,category,model,completion"]
    for p in range(20):
        lines += [f"p{p},Prompt {p},c,model-{m},answer {p}.{m}" for m in range(5)]
    data = ("\n".join(lines) + "\n").encode()
    first, second, other = (project_create(name=name) for name in ("First", "Second", "Other"))

    result = run(first, "completions", "c.csv", data, pairs_per_prompt=3, seed=7)
    run(second, "completions", "c.csv", data, pairs_per_prompt=3, seed=7)
    run(other, "completions", "c.csv", data, pairs_per_prompt=3, seed=8)

    assert result.pairs_created == 20 * 3
    assert pair_keys(first) == pair_keys(second)
    assert pair_keys(first) != pair_keys(other)
    assert run(first, "completions", "c.csv", data, pairs_per_prompt=3, seed=7).pairs_created == 0


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_ratings_are_canonicalised_and_mapped_to_the_shown_scale(
    project: models.Project, fmt: str
) -> None:
    run(project, "completions", "completions_good.csv")
    data = encode(load_rows("ratings_good.csv"), fmt)

    result = run(project, "ratings", f"ratings.{fmt}", data)

    assert (result.rows, result.ratings_created) == (6, 6)
    assert result.by_category == {
        "writing": {"prompts": 1, "pairs": 1, "ratings": 5, "ratings_created": 5},
        "math": {"prompts": 1, "pairs": 1, "ratings": 1, "ratings_created": 1},
    }
    assert (result.prompts_in_file, result.pairs_in_file, result.ratings_in_file) == (2, 2, 6)
    stored = set(
        models.Rating.objects.values_list(
            "pair__prompt__external_id",
            "criterion__key",
            "rater",
            "rater_kind",
            "shown_first",
            "value_shown",
            "preference",
            "verdict",
            "source",
        )
    )
    assert stored == {
        ("p1", "helpfulness", "vendor-1", "human", "a", "2", -3, "a", "import"),
        # given as beta-13b vs alpha-7b with winner a, shown first a: B won, shown second
        ("p1", "helpfulness", "vendor-2", "human", "a", "5", 1, "b", "import"),
        ("p1", "truthfulness", "vendor-1", "human", "", "", 0, "tie", "import"),
        ("p1", "helpfulness", "gpt-4", "llm", "a", "6", 2, "b", "import"),
        ("p1", "helpfulness", "gpt-4", "llm", "b", "5", -1, "a", "import"),
        ("p2", "helpfulness", "vendor-1", "human", "", "", 4, "b", "import"),
    }


def test_imported_human_ratings_fill_overlap_places_and_llm_ratings_do_not(
    project: models.Project,
) -> None:
    run(project, "completions", "completions_good.csv")

    run(project, "ratings", "ratings_good.csv")

    counters = {
        (p.prompt.external_id, p.model_a, p.model_b): (p.claims, p.submitted, p.a_first_claims)
        for p in models.Pair.objects.select_related("prompt")
    }
    # p1: vendor-1 (two criteria, one place) and vendor-2, both shown A first; gpt-4 none.
    assert counters[("p1", "alpha-7b", "beta-13b")] == (2, 2, 2)
    assert counters[("p2", "alpha-7b", "beta-13b")] == (1, 1, 0)
    assert counters[("p1", "alpha-7b", "gamma-70b")] == (0, 0, 0)


def test_a_second_criterion_from_a_known_human_rater_takes_no_new_place(
    project: models.Project,
) -> None:
    run(project, "completions", "completions_good.csv")
    header = "prompt_id,model_a,model_b,criterion,rater,rater_kind,winner\n"
    run(
        project,
        "ratings",
        "one.csv",
        (header + "p2,alpha-7b,beta-13b,helpfulness,v,human,a\n").encode(),
    )
    run(
        project,
        "ratings",
        "two.csv",
        (header + "p2,alpha-7b,beta-13b,truthfulness,v,human,b\n").encode(),
    )

    pair = models.Pair.objects.get(prompt__external_id="p2")
    assert (pair.claims, pair.submitted, pair.ratings.count()) == (1, 1, 2)


def test_every_bad_ratings_row_is_reported_and_nothing_is_written(
    project: models.Project,
) -> None:
    run(project, "completions", "completions_good.csv")
    before = db_counts(project)

    error = refused(project, "ratings", "ratings_bad.csv")

    assert error.message == "10 bad rows in ratings_bad.csv; nothing was imported"
    assert row_errors(error) == {
        (2, "rater"),  # vendor-1 again on the same unit, models swapped
        (3, "criterion"),
        (4, None),  # no such pair
        (5, None),  # no such prompt
        (6, "rater_kind"),
        (7, "winner"),
        (8, "strength"),  # 5 > K = 4
        (9, "strength"),  # a tie with a strength
        (10, "shown_first"),
        (11, "model_b"),
    }
    assert db_counts(project) == before
    assert not models.Pair.objects.filter(claims__gt=0).exists()


def test_a_rating_that_contradicts_a_stored_one_is_refused(project: models.Project) -> None:
    run(project, "completions", "completions_good.csv")
    run(project, "ratings", "ratings_good.csv")
    before = db_counts(project)
    data = (
        b"prompt_id,model_a,model_b,criterion,rater,rater_kind,winner,strength,shown_first\n"
        b"p1,alpha-7b,beta-13b,helpfulness,vendor-1,human,a,3,a\n"
        b"p1,alpha-7b,beta-13b,helpfulness,vendor-2,human,a,,a\n"
    )

    error = refused(project, "ratings", "changed.csv", data)

    assert row_errors(error) == {(2, "rater")}
    assert error.message == "1 bad row in changed.csv; nothing was imported"
    assert "already has a different rating" in error.extra["errors"][0]["message"]
    assert db_counts(project) == before


def test_numbers_are_read_as_text_but_booleans_and_nul_characters_are_refused(
    project: models.Project,
) -> None:
    rows = [
        {"prompt_id": 17, "prompt": "Hi", "category": "", "model": "m1", "completion": 2.0},
        {"prompt_id": 17, "prompt": "Hi", "category": "", "model": "m2", "completion": True},
        {"prompt_id": 17, "prompt": "Hi", "category": "", "model": "m3", "completion": "a\x00b"},
    ]

    error = refused(project, "completions", "mixed.jsonl", encode(rows, "jsonl"))

    assert {(e["row"], e["field"], e["message"]) for e in error.extra["errors"]} == {
        (2, "completion", "expected text or a number, got a boolean"),
        (3, "completion", "contains a NUL character"),
        (1, "model", "prompt_id '17' has only one model; a pair needs two"),
    }
    rows[1]["completion"], rows[2]["completion"] = "yes", "ab"
    run(project, "completions", "mixed.jsonl", encode(rows, "jsonl"))
    assert models.Completion.objects.get(model="m1").text == "2"
    assert models.Prompt.objects.get().external_id == "17"


def test_imports_keep_the_projects_open_pair_count(project) -> None:
    from io import BytesIO

    from annotate.services.imports import import_file

    completions = (
        "prompt_id,prompt,category,model,completion\n"
        "p1,Q1?,math,m1,a\np1,Q1?,math,m2,b\np1,Q1?,math,m3,c\n"
    )
    import_file(
        project=project, kind="completions", file=BytesIO(completions.encode()), filename="c.csv"
    )
    project.refresh_from_db()
    assert project.open_pairs == 3
    ratings = "prompt_id,model_a,model_b,criterion,rater,rater_kind,winner\n" + "".join(
        f"p1,m1,m2,helpfulness,h{i},human,a\n" for i in range(3)
    )
    import_file(project=project, kind="ratings", file=BytesIO(ratings.encode()), filename="r.csv")
    project.refresh_from_db()
    assert project.open_pairs == 2


def test_a_reimport_giving_a_stored_prompt_another_category_is_a_row_error(
    project: models.Project,
) -> None:
    run(project, "completions", "completions_good.csv")
    before = db_counts(project)
    moved = (
        b"prompt_id,prompt,category,model,completion\n"
        b"p2,What is 2 + 2?,arithmetic,alpha-7b,4\n"
        b"p2,What is 2 + 2?,arithmetic,omega-1b,four\n"
    )

    error = refused(project, "completions", "moved.csv", moved)

    assert error.extra["errors"] == [
        {
            "row": 1,
            "field": "category",
            "message": "prompt_id 'p2' already exists in this project with category 'math', "
            "not 'arithmetic'",
        }
    ]
    assert db_counts(project) == before


def test_a_pairs_file_giving_a_stored_prompt_another_text_is_a_row_error(
    project: models.Project,
) -> None:
    run(project, "pairs", "pairs_good.jsonl")
    rows = load_rows("pairs_good.jsonl")
    rows[2]["prompt"] = "Say hello in German."

    error = refused(project, "pairs", "pairs.jsonl", encode(rows, "jsonl"))

    assert row_errors(error) == {(3, "prompt")}
    assert "already exists in this project with a different text" in error.message + str(
        error.extra["errors"]
    )


def test_a_reimport_counts_what_the_file_holds_and_creates_nothing(
    project: models.Project,
) -> None:
    first = run(project, "completions", "completions_good.csv")

    again = run(project, "completions", "completions_good.csv")

    assert (again.prompts_in_file, again.completions_in_file, again.pairs_in_file) == (3, 9, 10)
    assert (again.prompts_created, again.completions_created, again.pairs_created) == (0, 0, 0)
    assert again.by_category == {
        category: {**counts, "prompts_created": 0, "pairs_created": 0}
        for category, counts in first.by_category.items()
    }


def test_progress_is_reported_from_reading_to_committing(project: models.Project) -> None:
    calls: list[tuple[str, int, int]] = []

    run(
        project,
        "completions",
        "completions_good.csv",
        progress=lambda stage, done, total: calls.append((stage, done, total)),
    )

    stages = list(dict.fromkeys(stage for stage, _, _ in calls))
    assert stages == [
        "reading",
        "checking",
        "writing prompts",
        "writing completions",
        "writing pairs",
        "committing",
        "done",
    ]
    last = {stage: (done, total) for stage, done, total in calls}
    assert last["reading"] == (9, 9)
    assert last["writing completions"] == (9, 9)
    assert last["writing pairs"] == (10, 10)


def test_a_file_that_cannot_seek_is_read_through_a_temporary_copy(
    project: models.Project,
) -> None:
    class Stream(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self.source = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            chunk = self.source.read(len(buffer))
            buffer[: len(chunk)] = chunk
            return len(chunk)

    stream = Stream((DATA / "completions_good.csv").read_bytes())

    result = import_file(project=project, kind="completions", file=stream, filename="c.csv")

    assert (result.prompts_created, result.pairs_created) == (3, 10)


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (models.Prompt, ("project", "prompt_set", "external_id", "text", "category")),
        (models.Completion, ("prompt", "model", "text")),
        (models.Pair, PAIR_FIELDS),
    ],
)
def test_the_raw_inserts_name_every_column_without_a_database_default(
    model: type[Any], fields: tuple[str, ...]
) -> None:
    # The importer writes these rows with COPY / INSERT, not the ORM: a new field must be added
    # to its column list (or given a db_default), or imports would fail.
    needed = {
        f.name
        for f in model._meta.concrete_fields
        if not f.primary_key and f.db_default is NOT_PROVIDED
    }
    assert needed == set(fields)
