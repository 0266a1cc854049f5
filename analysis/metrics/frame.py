"""The long ratings frame every metric reads: one row per rating, canonical orientation.

`coerce_frame` checks and normalises a frame built by the ORM layer (or a test). A missing
shown order may arrive as None, NaN or ""; it is normalised to "" (the model's "unknown").
"""

import pandas as pd

STRING_COLUMNS = (
    "unit",
    "prompt_id",
    "category",
    "model_a",
    "model_b",
    "criterion",
    "rater",
    "rater_kind",
    "rater_group",
    "shown_first",
    "value_shown",
    "verdict",
)
INT_COLUMNS = ("pair_id", "preference", "scale_k", "len_a", "len_b")
COLUMNS = (
    "unit",
    "pair_id",
    "prompt_id",
    "category",
    "model_a",
    "model_b",
    "criterion",
    "rater",
    "rater_kind",
    "rater_group",
    "shown_first",
    "value_shown",
    "preference",
    "scale_k",
    "verdict",
    "len_a",
    "len_b",
    "with_suggestion",
    "time_spent_ms",
)

VERDICTS = ("a", "tie", "b")
RATER_KINDS = ("human", "llm")
SHOWN_FIRST = ("a", "b", "")
HUMAN = "human"


def empty_frame() -> pd.DataFrame:
    return coerce_frame(pd.DataFrame({column: [] for column in COLUMNS}))


def validate_columns(frame: pd.DataFrame) -> None:
    missing = [column for column in COLUMNS if column not in frame.columns]
    if missing:
        raise ValueError(f"ratings frame is missing column(s): {', '.join(missing)}")


def _first_bad_row(frame: pd.DataFrame, bad: pd.Series, column: str, expected: str) -> None:
    if bad.any():
        row = bad.to_numpy().nonzero()[0][0]
        label = frame.index[row]
        value = frame[column].iloc[row]
        value = value.item() if hasattr(value, "item") else value
        raise ValueError(
            f"ratings frame row {label}: {column}={value!r} ({bad.sum()} bad row(s)); "
            f"expected {expected}"
        )


def coerce_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Return a copy with the frame's dtypes, or raise ValueError naming a column or row."""
    validate_columns(frame)
    # No .copy(): with copy-on-write (pandas >= 3) only the columns changed below are copied,
    # so an already coerced frame (the selector's) costs no second copy of a million rows.
    out = frame.loc[:, list(COLUMNS)]
    for column in ("shown_first", "value_shown"):
        if out[column].isna().any():
            out[column] = out[column].where(out[column].notna(), "")
    for column in STRING_COLUMNS:
        if out[column].isna().any():
            _first_bad_row(out, out[column].isna(), column, "a string, not missing")
        out[column] = out[column].astype(str)
    for column in INT_COLUMNS:
        if out[column].dtype == "int64":
            continue  # already integers: nothing to check, and no copy
        numeric = pd.to_numeric(out[column], errors="coerce")
        bad = numeric.isna() | (numeric.round() != numeric)
        _first_bad_row(out, bad, column, "an integer")
        out[column] = numeric.astype("int64")
    out["with_suggestion"] = out["with_suggestion"].fillna(False).astype(bool)
    time_spent = pd.to_numeric(out["time_spent_ms"], errors="coerce")
    _first_bad_row(
        out, out["time_spent_ms"].notna() & time_spent.isna(), "time_spent_ms", "a number or NaN"
    )
    out["time_spent_ms"] = time_spent.astype("float64")

    _first_bad_row(out, ~out["verdict"].isin(VERDICTS), "verdict", "a, tie or b")
    _first_bad_row(out, ~out["rater_kind"].isin(RATER_KINDS), "rater_kind", "human or llm")
    _first_bad_row(out, ~out["shown_first"].isin(SHOWN_FIRST), "shown_first", "a, b or unknown")
    _first_bad_row(out, out["scale_k"] < 1, "scale_k", "K >= 1")
    _first_bad_row(
        out,
        out["preference"].abs() > out["scale_k"],
        "preference",
        "a signed preference within [-K, K]",
    )
    sign_verdict = pd.Series("tie", index=out.index).mask(out["preference"] < 0, "a")
    sign_verdict = sign_verdict.mask(out["preference"] > 0, "b")
    _first_bad_row(
        out,
        sign_verdict != out["verdict"],
        "verdict",
        "the verdict that the preference's sign gives",
    )
    _first_bad_row(
        out, out["model_a"] >= out["model_b"], "model_a", "model_a sorting before model_b"
    )
    return out.reset_index(drop=True)
