import math

import pandas as pd
import pytest

from analysis.metrics.frame import COLUMNS, coerce_frame
from analysis.tests.frames import rating


def test_a_missing_column_is_named_in_the_error():
    frame = pd.DataFrame([rating()]).drop(columns=["scale_k", "verdict"])
    with pytest.raises(ValueError, match="missing column\\(s\\): scale_k, verdict"):
        coerce_frame(frame)


def test_coercion_gives_the_documented_dtypes_and_normalises_an_unknown_order():
    frame = coerce_frame(
        pd.DataFrame([rating(shown_first=None, time_spent_ms=None, pair_id="7", preference=-2)])
    )
    assert list(frame.columns) == list(COLUMNS)
    assert frame.loc[0, "shown_first"] == ""
    assert frame["pair_id"].dtype == "int64" and frame.loc[0, "pair_id"] == 7
    assert math.isnan(frame.loc[0, "time_spent_ms"])
    assert frame["with_suggestion"].dtype == bool


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"verdict": "maybe"}, "row 1: verdict='maybe'"),
        ({"rater_kind": "robot"}, "row 1: rater_kind='robot'"),
        ({"preference": 9}, "row 1: preference=9"),
        ({"preference": 2, "verdict": "a"}, "row 1: verdict='a'"),
        ({"model_a": "zeta"}, "row 1: model_a='zeta'"),
        ({"len_a": "long"}, "row 1: len_a='long'"),
    ],
)
def test_a_bad_value_is_reported_with_its_row_and_column(fields, message):
    frame = pd.DataFrame([rating(), rating(**fields)])
    with pytest.raises(ValueError, match=message):
        coerce_frame(frame)
