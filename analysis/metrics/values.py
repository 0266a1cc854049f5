"""Plain JSON numbers: every metric value is a Python float/int or None with a note beside it."""

import math
from typing import Any


def number(value: Any) -> float | None:
    """A finite Python float, or None for NaN/inf/None."""
    if value is None:
        return None
    result = float(value)
    return result if math.isfinite(result) else None


def put(target: dict[str, Any], key: str, value: Any, note: str | None = None) -> None:
    """Store value under key; a missing value always gets a "<key>_note" saying why."""
    if isinstance(value, list | tuple):
        cleaned = [number(v) for v in value]
        stored: Any = None if any(v is None for v in cleaned) else cleaned
    else:
        stored = number(value)
    target[key] = stored
    if stored is None:
        target[f"{key}_note"] = note or "could not be computed from these ratings"
