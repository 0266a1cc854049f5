import csv
import io

import pytest

from analysis.report import build_report
from analysis.tables import Cell, Table, report_tables, table_csv
from analysis.tests.frames import frame_of


def read(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("text", ["=1+1", "+1", "-x", "@SUM(A1)", "\tx", "\rx"])
def test_a_table_cell_a_spreadsheet_would_run_gets_a_leading_quote(text):
    table = Table("t", ["name", "value"], [[Cell(text), Cell(1)]])
    (row,) = read(table_csv(table))
    assert row["name"] == "'" + text
    assert row["value"] == "1"


def test_numbers_stay_numbers_and_plain_text_stays_as_it_is():
    table = Table("t", ["name", "value", "flag"], [[Cell("a=b"), Cell(-0.25), Cell(True)]])
    (row,) = read(table_csv(table))
    assert row == {"name": "a=b", "value": "-0.25", "flag": "true", "notes": ""}


def test_user_text_in_a_report_reaches_the_csv_files_escaped():
    rows = []
    for pair_id, verdicts in enumerate((("a", "a", "b"), ("b", "b", "b"), ("a", "tie", "a"))):
        for rater, verdict in zip(("=cmd|' /C calc'!A0", "@bob", "carol"), verdicts, strict=True):
            rows.append(
                {
                    "pair_id": pair_id,
                    "category": "-2+3",
                    "model_a": "+alpha",
                    "model_b": "beta",
                    "rater": rater,
                    "verdict": verdict,
                }
            )
        rows.append(
            {
                "pair_id": pair_id,
                "category": "-2+3",
                "model_a": "+alpha",
                "model_b": "beta",
                "rater": "=judge",
                "rater_kind": "llm",
                "rater_group": "=judge",
                "verdict": "a",
            }
        )
    report = build_report(frame_of(rows), project="x", bootstrap=0, generated_at="now", counts={})
    tables = report_tables(report)

    labelers = read(table_csv(tables["labelers"]))
    assert sorted(row["rater"] for row in labelers) == ["'=cmd|' /C calc'!A0", "'@bob", "carol"]
    by_category = [r for r in read(table_csv(tables["human_vs_llm"])) if r["scope"] == "category"]
    assert [(row["judge"], row["category"]) for row in by_category] == [("'=judge", "'-2+3")]
    board = read(table_csv(tables["leaderboard"]))
    assert {row["model"] for row in board} == {"'+alpha", "beta"}
    for text in (table_csv(table) for table in tables.values()):
        for row in csv.reader(io.StringIO(text, newline="")):
            assert not any(cell.startswith(("=", "+", "@", "\t", "\r")) for cell in row), row
