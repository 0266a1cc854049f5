"""Parse a judge's reply into a shown-orientation preference on the criterion's scale.

Strict about what counts as an answer, tolerant of noise around it (prose before or after,
markdown fences, bold, "Score: 6/8"). Anything ambiguous, out of range or missing is "unparsed":
the raw text is kept and no value is guessed.

Mapping onto a criterion with K points per side: a reply is first read as a signed strength on its
own scale (1-8: -4..-1 and 1..4; 1-9: -4..4 with 5 = tie; [[A]]/[[B]] = the strongest preference
and [[C]] = tie, since the verdict contract has no degrees). Magnitudes 1..M are then mapped
linearly onto 1..K and rounded half away from zero, so a decisive reply stays decisive on any
scale and a 1-8 score s is the point s itself on an 8-point scale.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

from annotate.scale import Scale
from judges.templates import Contract

DONE = "done"
UNPARSED = "unparsed"


@dataclass(frozen=True)
class Parsed:
    status: str
    shown_preference: int | None = None  # negative = the answer shown first is better
    value_shown: str = ""
    explanation: str = ""
    error: str = ""


_FENCE_RE = re.compile(r"```[a-zA-Z]*\s*\n?(.*?)```", re.DOTALL)
_SCORE_LINE_RE = re.compile(
    r"^[\s>*_#`\"']*(?:(?:final\s+)?(?:score|rating)\s*[:=\-]?\s*)?[*_`\"']*(-?\d+(?:\.\d+)?)"
    r"[*_`\"']*(?:\s*(?:/|out\s+of)\s*(\d+))?[*_`\"'.]*\s*(.*)$",
    re.IGNORECASE,
)
_LABELLED_SCORE_RE = re.compile(
    r"(?:score|rating)\s*[:=]\s*[*_`]*(-?\d+(?:\.\d+)?)[*_`]*(?:\s*(?:/|out\s+of)\s*(\d+))?",
    re.IGNORECASE,
)
_VERDICT_RE = re.compile(r"\[\[\s*([ABC])\s*\]\]", re.IGNORECASE)


def _unfenced(text: str) -> str:
    """The text with markdown code fences removed (their content kept)."""
    return _FENCE_RE.sub(lambda m: m.group(1), text).strip()


def _round_half_away(x: float) -> int:
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def map_strength(signed: int, *, source_max: int, scale: Scale) -> int:
    """A signed strength in [-source_max, source_max] mapped onto [-K, K], keeping its sign."""
    if signed == 0:
        return 0
    magnitude = abs(signed)
    target = _round_half_away(1 + (magnitude - 1) * (scale.k - 1) / (source_max - 1))
    return int(math.copysign(target, signed))


def _result(signed: int, source_max: int, scale: Scale, explanation: str) -> Parsed:
    shown = map_strength(signed, source_max=source_max, scale=scale)
    return Parsed(DONE, shown, scale.shown_value(shown), explanation.strip())


def _score(value: str, denominator: str | None, low: int, high: int) -> int | str:
    """The integer score, or an error message."""
    if denominator is not None and int(denominator) != high:
        return f"score {value}/{denominator} is not on the {low}-{high} scale"
    number = float(value)
    if not number.is_integer():
        return f"score {value} is not a whole number"
    if not low <= number <= high:
        return f"score {value} is outside {low}-{high}"
    return int(number)


def parse_score_1_8(text: str, scale: Scale) -> Parsed:
    body = _unfenced(text)
    lines = [line for line in body.splitlines() if line.strip()]
    if not lines:
        return Parsed(UNPARSED, error="empty reply")
    first = _SCORE_LINE_RE.match(lines[0])
    if first and (not first.group(3) or not re.match(r"\w", first.group(3))):
        score = _score(first.group(1), first.group(2), 1, 8)
        explanation = (
            "\n".join([first.group(3), *lines[1:]]) if first.group(3) else "\n".join(lines[1:])
        )
    else:
        found = {(m.group(1), m.group(2)) for m in _LABELLED_SCORE_RE.finditer(body)}
        if len(found) != 1:
            why = "no score line" if not found else "several different scores"
            return Parsed(UNPARSED, error=f"{why} in the reply")
        value, denominator = found.pop()
        score = _score(value, denominator, 1, 8)
        explanation = _LABELLED_SCORE_RE.sub("", body)
    if isinstance(score, str):
        return Parsed(UNPARSED, error=score)
    # 1..4: Assistant 1 (shown first) better; 5..8: Assistant 2 better.
    signed = score - 5 if score <= 4 else score - 4
    return _result(signed, 4, scale, explanation)


def _json_objects(text: str) -> list[object]:
    """Every JSON object that can be decoded starting at a '{' in the text."""
    decoder = json.JSONDecoder()
    found: list[object] = []
    index = text.find("{")
    while index != -1:
        try:
            value, end = decoder.raw_decode(text, index)
        except ValueError:
            index = text.find("{", index + 1)
            continue
        if isinstance(value, dict):
            found.append(value)
        index = text.find("{", end)
    return found


def parse_json_1_9(text: str, scale: Scale) -> Parsed:
    objects = [o for o in _json_objects(_unfenced(text)) if isinstance(o, dict) and "score" in o]
    if len(objects) != 1:
        why = "no JSON object with a score" if not objects else "several JSON objects with a score"
        return Parsed(UNPARSED, error=f"{why} in the reply")
    data = objects[0]
    raw_score = data["score"]
    if isinstance(raw_score, bool) or not isinstance(raw_score, int | float | str):
        return Parsed(UNPARSED, error=f"score {raw_score!r} is not a number")
    if isinstance(raw_score, str) and not re.fullmatch(r"\s*-?\d+(\.\d+)?\s*", raw_score):
        return Parsed(UNPARSED, error=f"score {raw_score!r} is not a number")
    score = _score(str(raw_score).strip(), None, 1, 9)
    if isinstance(score, str):
        return Parsed(UNPARSED, error=score)
    reason = data.get("reason", "")
    return _result(score - 5, 4, scale, reason if isinstance(reason, str) else json.dumps(reason))


def parse_verdict_abc(text: str, scale: Scale) -> Parsed:
    verdicts = {m.upper() for m in _VERDICT_RE.findall(text)}
    if len(verdicts) != 1:
        why = "no [[A]], [[B]] or [[C]] verdict" if not verdicts else "conflicting verdicts"
        return Parsed(UNPARSED, error=f"{why} in the reply")
    verdict = verdicts.pop()
    signed = {"A": -1, "B": 1, "C": 0}[verdict]
    explanation = _VERDICT_RE.sub("", text)
    shown = signed * scale.k
    return Parsed(DONE, shown, scale.shown_value(shown), explanation.strip())


PARSERS = {
    Contract.SCORE_1_8: parse_score_1_8,
    Contract.JSON_1_9: parse_json_1_9,
    Contract.VERDICT_ABC: parse_verdict_abc,
}


def parse_reply(text: str | None, *, contract: Contract | str, scale: Scale) -> Parsed:
    if not text or not text.strip():
        return Parsed(UNPARSED, error="empty reply")
    return PARSERS[Contract(contract)](text, scale)
