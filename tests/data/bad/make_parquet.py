"""Rebuilds the small Parquet files of this folder (they are committed; see README.md).

uv run python tests/data/bad/make_parquet.py
"""

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).parent


def completions(**columns: list[object]) -> dict[str, list[object]]:
    base: dict[str, list[object]] = {
        "prompt_id": ["p1", "p1", "p1"],
        "prompt": ["Hi", "Hi", "Hi"],
        "category": ["x", "x", "x"],
        "model": ["m1", "m2", "m3"],
        "completion": ["a", "b", "c"],
    }
    return base | columns


def write(name: str, table: pa.Table) -> None:
    pq.write_table(table, HERE / name)


def main() -> None:
    (HERE / "completions_not_parquet.parquet").write_bytes(
        b"prompt_id,prompt,category,model,completion\np1,Hi,x,m1,a\np1,Hi,x,m2,b\n"
    )
    sink = io.BytesIO()
    pq.write_table(pa.table(completions()), sink)
    data = sink.getvalue()
    (HERE / "completions_truncated.parquet").write_bytes(data[: len(data) // 2])
    write("completions_missing_column.parquet", pa.table(completions()).drop_columns("category"))
    write(
        "completions_nested_column.parquet",
        pa.table(completions(completion=[["a"], ["b", "c"], []])),
    )
    write(
        "completions_empty_cells.parquet",
        pa.table(
            {
                "prompt_id": ["p1", None, "p1", "p1"],
                "prompt": ["Hi"] * 4,
                "category": ["x"] * 4,
                "model": ["m1", "m2", "m3", "m4"],
                "completion": ["a", "b", None, "d"],
            }
        ),
    )
    write(
        "completions_latin1_bytes.parquet",
        pa.table(
            {
                "prompt_id": ["p1"] * 4,
                "prompt": ["Hi"] * 4,
                "category": ["x"] * 4,
                "model": ["m1", "m2", "m3", "m4"],
                "completion": [b"caf\xe9", b"ok", b"na\xefve", b"fine"],
            },
            schema=pa.schema(
                [(name, pa.string()) for name in ("prompt_id", "prompt", "category", "model")]
                + [("completion", pa.binary())]
            ),
        ),
    )
    write(
        "pairs_nan.parquet",
        pa.table(
            {
                "prompt_id": ["q1", "q1"],
                "prompt": ["Name a number.", "Name a number."],
                "category": ["math", "math"],
                "model_a": ["m1", "m1"],
                "completion_a": [2.0, 2.0],
                "model_b": ["m2", "m3"],
                "completion_b": [3.5, float("nan")],
            }
        ),
    )
    write(
        "ratings_strength_out_of_range.parquet",
        pa.table(
            {
                "prompt_id": ["p1", "p1", "p1"],
                "model_a": ["alpha-7b"] * 3,
                "model_b": ["beta-13b"] * 3,
                "criterion": ["helpfulness"] * 3,
                "rater": ["v1", "v2", "v3"],
                "rater_kind": ["human"] * 3,
                "winner": ["a", "b", "b"],
                "strength": [2, 0, 12],
            }
        ),
    )
    write(
        "ratings_boolean_winner.parquet",
        pa.table(
            {
                "prompt_id": ["p1", "p1"],
                "model_a": ["alpha-7b"] * 2,
                "model_b": ["beta-13b"] * 2,
                "criterion": ["helpfulness"] * 2,
                "rater": ["v1", "v2"],
                "rater_kind": ["human"] * 2,
                "winner": [True, False],
            }
        ),
    )


if __name__ == "__main__":
    main()
