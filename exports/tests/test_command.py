import csv
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command

from annotate.models import Project
from exports.tests.conftest import rate


def _run(*args: str) -> str:
    out = StringIO()
    call_command("export", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_export_command_writes_the_ratings_and_says_how_many(
    project: Project, rated: dict[str, Any], tmp_path: Path, fmt: str
) -> None:
    path = tmp_path / f"ratings.{fmt}"

    output = _run(project.slug, "--format", fmt, "--out", str(path))

    assert output == f"Wrote 2 ratings to {path}\n"
    if fmt == "csv":
        rows = list(csv.DictReader(path.open(newline="")))
    elif fmt == "jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
    else:
        rows = pq.read_table(path).to_pylist()
    assert [row["rater"] for row in rows] == ["alice", "gpt-judge"]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_export_command_writes_dpo_pairs_with_its_options(
    project: Project, rated: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "dpo.jsonl"

    output = _run(
        project.slug,
        *("--format", "dpo", "--out", str(path), "--criterion", "helpfulness"),
        *("--source", "human", "--min-agreement", "0.9"),
    )

    assert output == f"Wrote 1 preference pairs to {path}\n"
    record = json.loads(path.read_text())
    assert (record["chosen"], record["rejected"]) == ("Four.", "=SUM(A1:A9)")


def test_export_command_refuses_an_unknown_project(db: None, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="No project with slug 'nope'"):
        _run("nope", "--format", "csv", "--out", str(tmp_path / "x.csv"))


def test_export_command_names_a_bad_option_and_writes_nothing(
    project: Project, tmp_path: Path
) -> None:
    with pytest.raises(CommandError, match="^criterion: 'beauty'"):
        _run(project.slug, "--format", "csv", "--criterion", "beauty", "--out", str(tmp_path / "x"))
    with pytest.raises(CommandError, match="^source: 'nobody'"):
        _run(project.slug, "--format", "dpo", "--source", "nobody", "--out", str(tmp_path / "x"))

    assert list(tmp_path.iterdir()) == []


def test_export_command_counts_suggested_ratings_in_dpo_only_when_asked(
    project: Project, rated: dict[str, Any], tmp_path: Path
) -> None:
    pair, helpfulness = rated["pair"], rated["human"].criterion
    for rater in ("verifier1", "verifier2"):
        rate(pair, helpfulness, rater, "b", with_suggestion=True)
    blind, suggested = tmp_path / "blind.jsonl", tmp_path / "suggested.jsonl"
    options = ("--format", "dpo", "--criterion", "helpfulness")

    _run(project.slug, *options, "--out", str(blind))
    _run(project.slug, *options, "--include-suggested", "--out", str(suggested))

    assert json.loads(blind.read_text())["chosen"] == "Four."  # alice alone
    record = json.loads(suggested.read_text())  # 2 of 3 for B once the verifiers count
    assert (record["chosen"], record["agreement"]) == ("=SUM(A1:A9)", 0.666667)
