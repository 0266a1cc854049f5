import csv
import io
import json
import re
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.conf import settings

from annotate.models import Criterion, Project, RaterKind
from annotate.tests.factories import make_pair
from concord.api_errors import ApplicationError
from exports.selectors import RATING_COLUMNS
from exports.services import (
    ExportFormat,
    ExportSpec,
    export_chunks,
    export_spec_check,
    export_write,
)
from exports.tests.conftest import CREATED, rate


def _export(project: Project, fmt: str, **options: Any) -> tuple[bytes, int]:
    out = io.BytesIO()
    written = export_write(
        project=project, spec=export_spec_check(project=project, format=fmt, **options), out=out
    )
    return out.getvalue(), written


def _expected_records(rated: dict[str, Any]) -> list[dict[str, Any]]:
    pair = rated["pair"]
    common = {
        "pair_id": pair.id,
        "prompt_id": "q1",
        "category": "math",
        "prompt": pair.prompt.text,
        "model_a": "alpha-7b",
        "completion_a": "Four.",
        "model_b": "beta-13b",
        "completion_b": "=SUM(A1:A9)",
    }
    return [
        {
            "rating_id": rated["human"].id,
            **common,
            "criterion": "helpfulness",
            "rater": "alice",
            "rater_kind": "human",
            "shown_first": "b",
            "value_shown": "7",
            "preference": -3,
            "verdict": "a",
            "with_suggestion": False,
            "rationale": "-clearly better",
            "created_at": CREATED,
        },
        {
            "rating_id": rated["judge"].id,
            **common,
            "criterion": "truthfulness",
            "rater": "gpt-judge",
            "rater_kind": "llm",
            "shown_first": "a",
            "value_shown": "tie",
            "preference": 0,
            "verdict": "tie",
            "with_suggestion": False,
            "rationale": "",
            "created_at": CREATED,
        },
    ]


def test_csv_export_has_one_row_per_rating_with_formula_cells_escaped(
    project: Project, rated: dict[str, Any]
) -> None:
    data, written = _export(project, "csv")

    rows = list(csv.reader(io.StringIO(data.decode())))
    assert written == 2
    assert rows[0] == list(RATING_COLUMNS)
    expected = []
    for record in _expected_records(rated):
        record |= {
            "completion_b": "'=SUM(A1:A9)",
            "created_at": "2026-01-02T03:04:05+00:00",
            "with_suggestion": "false",
        }
        if record["rationale"]:
            record["rationale"] = "'-clearly better"
        expected.append([str(record[c]) for c in RATING_COLUMNS])
    assert rows[1:] == expected


def test_csv_numbers_are_written_as_numbers_not_escaped(
    project: Project, rated: dict[str, Any]
) -> None:
    data, _ = _export(project, "csv")

    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert rows[0]["preference"] == "-3"


def test_jsonl_export_has_one_object_per_line_with_unescaped_values(
    project: Project, rated: dict[str, Any]
) -> None:
    data, written = _export(project, "jsonl")

    lines = data.decode().splitlines()
    assert written == 2
    expected = [
        record | {"created_at": "2026-01-02T03:04:05+00:00"} for record in _expected_records(rated)
    ]
    assert [json.loads(line) for line in lines] == expected
    assert list(json.loads(lines[0])) == list(RATING_COLUMNS)
    compact = {"ensure_ascii": False, "separators": (",", ":")}
    assert lines == [json.dumps(record, **compact) for record in expected]


def test_an_unknown_shown_order_is_null_in_jsonl_and_parquet_and_empty_in_csv(
    project: Project, helpfulness: Criterion
) -> None:
    rate(make_pair(project), helpfulness, "vendor-7", "b")

    assert json.loads(_export(project, "jsonl")[0])["shown_first"] is None
    table = pq.read_table(io.BytesIO(_export(project, "parquet")[0]))
    assert table.column("shown_first").to_pylist() == [None]
    row = next(csv.DictReader(io.StringIO(_export(project, "csv")[0].decode())))
    assert row["shown_first"] == ""


def test_parquet_export_reads_back_with_typed_columns(
    project: Project, rated: dict[str, Any]
) -> None:
    data, written = _export(project, "parquet")

    table = pq.read_table(io.BytesIO(data))
    assert written == 2
    assert table.column_names == list(RATING_COLUMNS)
    assert str(table.schema.field("created_at").type) == "timestamp[us, tz=UTC]"
    assert str(table.schema.field("preference").type) == "int16"
    assert table.to_pylist() == _expected_records(rated)


def test_parquet_writes_one_row_group_per_chunk(project: Project, helpfulness: Criterion) -> None:
    pair = make_pair(project)
    for i in range(5):
        rate(pair, helpfulness, f"rater{i}", "a")
    out = io.BytesIO()

    written = export_write(
        project=project, spec=ExportSpec(format=ExportFormat.PARQUET), out=out, chunk_size=2
    )

    data = out.getvalue()
    metadata = pq.ParquetFile(io.BytesIO(data)).metadata
    assert written == 5
    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [2, 2, 1]


def test_parquet_streams_each_row_group_as_it_is_written_and_the_footer_last(
    project: Project, helpfulness: Criterion
) -> None:
    pair = make_pair(project)
    for i in range(5):
        rate(pair, helpfulness, f"rater{i}", "a")
    spec = ExportSpec(format=ExportFormat.PARQUET)

    pieces = iter(export_chunks(project=project, spec=spec, chunk_size=2))
    first, rows = next(pieces)  # sent before the other ratings are read
    assert first.startswith(b"PAR1") and rows == 2
    rest = list(pieces)

    assert [rows for _, rows in rest] == [2, 1, 0]  # two more row groups, then the footer
    assert all(data for data, _ in rest) and rest[-1][0].endswith(b"PAR1")
    table = pq.read_table(io.BytesIO(first + b"".join(data for data, _ in rest)))
    assert table.column("rater").to_pylist() == [f"rater{i}" for i in range(5)]


def test_an_empty_project_exports_headers_only(project: Project) -> None:
    assert _export(project, "csv") == (",".join(RATING_COLUMNS).encode() + b"\r\n", 0)
    assert _export(project, "jsonl") == (b"", 0)
    assert _export(project, "dpo") == (b"", 0)
    table = pq.read_table(io.BytesIO(_export(project, "parquet")[0]))
    assert table.num_rows == 0
    assert table.column_names == list(RATING_COLUMNS)


def test_the_criterion_option_limits_a_ratings_export_to_that_criterion(
    project: Project, rated: dict[str, Any]
) -> None:
    data, written = _export(project, "jsonl", criterion="truthfulness")

    assert written == 1
    assert json.loads(data)["rater"] == "gpt-judge"


def test_ratings_of_other_projects_are_not_exported(
    project: Project, rated: dict[str, Any], helpfulness: Criterion
) -> None:
    other = Project.objects.create(name="Other", slug="other")
    other_criterion = Criterion.objects.create(project=other, key="helpfulness", question="?")
    rate(make_pair(other), other_criterion, "zed", "b")

    assert _export(project, "csv")[1] == 2
    assert _export(other, "csv")[1] == 1


SECRETISH = re.compile(r"key|secret|token|password|credential", re.IGNORECASE)


def test_no_export_has_a_field_named_like_a_secret(
    project: Project, rated: dict[str, Any], truthfulness: Criterion
) -> None:
    rate(rated["pair"], truthfulness, "gpt-judge", "tie", kind=RaterKind.LLM, shown_first="b")
    rate(rated["pair"], truthfulness, "bob", "b")
    csv_header = _export(project, "csv")[0].decode().splitlines()[0].split(",")
    jsonl_keys = json.loads(_export(project, "jsonl")[0].decode().splitlines()[0]).keys()
    parquet_names = pq.read_table(io.BytesIO(_export(project, "parquet")[0])).column_names
    dpo = _export(project, "dpo", criterion="truthfulness")[0].decode()
    dpo_keys = json.loads(dpo.splitlines()[0]).keys()

    for names in (csv_header, jsonl_keys, parquet_names, dpo_keys):
        assert not [name for name in names if SECRETISH.search(name)]
    for fmt in ExportFormat:
        assert settings.SECRET_KEY.encode() not in _export(project, fmt)[0]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"format": "xlsx"}, "format"),
        ({"format": "csv", "criterion": "beauty"}, "criterion"),
        ({"format": "dpo", "source": "nobody"}, "source"),
        ({"format": "dpo", "min_agreement": "1.5"}, "min_agreement"),
        ({"format": "dpo", "min_agreement": "half"}, "min_agreement"),
        ({"format": "dpo", "min_agreement": "nan"}, "min_agreement"),
    ],
)
def test_a_bad_option_is_refused_with_an_error_naming_the_field(
    project: Project, options: dict[str, str], field: str
) -> None:
    with pytest.raises(ApplicationError) as excinfo:
        export_spec_check(project=project, **options)

    assert excinfo.value.message.startswith(f"{field}: ")
    assert excinfo.value.extra == {"field": field}


def test_the_spec_defaults_to_human_source_and_half_agreement(project: Project) -> None:
    assert export_spec_check(project=project, format="dpo") == ExportSpec(
        format=ExportFormat.DPO, criterion=None, source="human", min_agreement=0.5
    )


def test_dpo_export_writes_one_json_line_per_preference_pair(
    project: Project, rated: dict[str, Any], helpfulness: Criterion
) -> None:
    pair = rated["pair"]

    data, written = _export(project, "dpo", criterion="helpfulness")

    assert written == 1
    assert data.decode().splitlines() == [
        json.dumps(
            {
                "prompt": pair.prompt.text,
                "chosen": "Four.",
                "rejected": "=SUM(A1:A9)",
                "pair_id": pair.id,
                "prompt_id": "q1",
                "criterion": "helpfulness",
                "source": "human",
                "agreement": 1.0,
            },
            separators=(",", ":"),
        )
    ]
