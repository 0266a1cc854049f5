import pytest

from annotate.scale import Scale, canonical_preference, verdict_of


def test_an_eight_point_scale_has_four_points_a_side_and_an_explicit_tie() -> None:
    scale = Scale(8)
    assert [scale.shown_preference(v) for v in range(1, 9)] == [-4, -3, -2, -1, 1, 2, 3, 4]
    assert scale.shown_preference("tie") == 0
    assert scale.choices() == ["1", "2", "3", "4", "5", "6", "7", "8", "tie"]


def test_on_an_odd_scale_the_middle_point_is_the_tie() -> None:
    scale = Scale(5)
    assert [scale.shown_preference(v) for v in range(1, 6)] == [-2, -1, 0, 1, 2]
    assert scale.choices() == ["1", "2", "3", "4", "5"]
    assert scale.shown_value(0) == "3"


def test_shown_value_inverts_shown_preference_on_every_scale() -> None:
    for points in range(2, 12):
        scale = Scale(points)
        for value in scale.choices():
            assert scale.shown_value(scale.shown_preference(value)) == value


def test_values_off_the_scale_are_refused() -> None:
    scale = Scale(8, tie_option=False)
    for bad in (0, 9, "9", "x", "", True, "tie"):
        with pytest.raises(ValueError):
            scale.shown_preference(bad)


def test_canonical_preference_flips_when_b_was_shown_first() -> None:
    assert canonical_preference(-3, a_shown_first=True) == -3
    assert canonical_preference(-3, a_shown_first=False) == 3
    assert [verdict_of(p) for p in (-2, 0, 1)] == ["a", "tie", "b"]
