"""The Likert scale shown to raters and its canonical signed preference.

A criterion with P scale points is shown as points 1..P: 1 = the response shown first is much
better, P = the response shown second is much better. K = P // 2 points lie on each side; on an odd
scale the middle point is the tie, and a criterion may also offer an explicit tie choice. The
signed preference lies in [-K, K] (negative = A better), whatever order the rater saw.
"""

from dataclasses import dataclass

TIE = "tie"


@dataclass(frozen=True)
class Scale:
    points: int
    tie_option: bool = True

    def __post_init__(self) -> None:
        if not 2 <= self.points <= 11:
            raise ValueError(f"scale points must be 2..11, got {self.points}")

    @property
    def k(self) -> int:
        return self.points // 2

    @property
    def has_middle(self) -> bool:
        return self.points % 2 == 1

    def choices(self) -> list[str]:
        """Every value a rater may submit, as strings, in display order."""
        values = [str(p) for p in range(1, self.points + 1)]
        if self.tie_option and not self.has_middle:
            values.append(TIE)
        return values

    def shown_preference(self, value: int | str) -> int:
        """Signed preference in the shown orientation (negative = first shown better).

        Raises ValueError for a value that is not on this scale.
        """
        if isinstance(value, str):
            text = value.strip().lower()
            if text == TIE:
                if not (self.tie_option or self.has_middle):
                    raise ValueError("this scale has no tie")
                return 0
            if not text.lstrip("-").isdigit():
                raise ValueError(f"{value!r} is not a scale point or 'tie'")
            value = int(text)
        if isinstance(value, bool) or not 1 <= value <= self.points:
            raise ValueError(f"{value!r} is not a point of the 1..{self.points} scale")
        if value <= self.k:
            return -(self.k - value + 1)
        if value > self.points - self.k:
            return value - (self.points - self.k)
        return 0

    def shown_value(self, shown_preference: int) -> str:
        """The scale point (or 'tie') a shown-orientation preference corresponds to."""
        if shown_preference == 0:
            return str(self.k + 1) if self.has_middle else TIE
        if shown_preference < 0:
            return str(self.k + shown_preference + 1)
        return str(self.points - self.k + shown_preference)


def canonical_preference(shown_preference: int, *, a_shown_first: bool) -> int:
    return shown_preference if a_shown_first else -shown_preference


def verdict_of(preference: int) -> str:
    if preference < 0:
        return "a"
    if preference > 0:
        return "b"
    return TIE
