"""Parse a judge's reply into a shown-orientation preference on the criterion's scale.

Strict about what counts as an answer, tolerant of noise around it (prose before or after,
markdown fences, bold, "Score: 6/8"). Anything ambiguous, out of range or missing is "unparsed":
the raw text is kept and no value is guessed.

Mapping onto a criterion with K points per side: a reply is first read as a signed strength on its
own scale (1-8: -4..-1 and 1..4; 1-9: -4..4 with 5 = tie; [[A]]/[[B]] = the strongest preference
and [[C]] = tie, since the verdict contract has no degrees). Magnitudes 1..M are then mapped
linearly onto 1..K and rounded half away from zero, so a decisive reply stays decisive on any
scale and a 1-8 score s is the point s itself on an 8-point scale.

A joint reply (criteria judged together, see judges.templates) is parsed per criterion by
parse_joint: each criterion needs exactly one entry keyed by its name (`helpfulness: 6`, a JSON
member "helpfulness": {"reason", "score"}, `helpfulness: [[A]]`); a criterion whose entry is
missing, repeated with different values or out of range is unparsed on its own, with the error
naming it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
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
    return _result(_signed_1_8(score), 4, scale, explanation)


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


def _signed_1_8(score: int) -> int:
    # 1..4: Assistant 1 (shown first) better; 5..8: Assistant 2 better.
    return score - 5 if score <= 4 else score - 4


def _key_line_re(key: str, value: str) -> re.Pattern[str]:
    """A line `key: value`, tolerating list bullets or numbers, markdown emphasis and quotes, and
    a remark after the value set off by a dash, bracket or comma (`helpfulness: 6 - clearer`)."""
    return re.compile(
        r"^[ \t>*_#`\"'\-]*(?:\d+[.)][ \t]+)?[*_`\"']*"
        + re.escape(key)
        + r"[*_`\"']*[ \t]*[:=\-][ \t]*[*_`\"']*"
        + value
        + r"[*_`\"'.]*(?:[ \t]*[-\u2013\u2014(,;:][^\n]*)?[ \t]*$",
        re.IGNORECASE | re.MULTILINE,
    )


_SCORE_VALUE = r"(-?\d+(?:\.\d+)?)(?:\s*(?:/|out\s+of)\s*(\d+))?"
_VERDICT_VALUE = r"\[\[\s*([ABC])\s*\]\]"


def _joint_lines(
    text: str, scales: Mapping[str, Scale], value: str
) -> tuple[dict[str, set[tuple[str, ...]]], str]:
    """Per criterion, the distinct values of its `key: value` lines; and the text without them."""
    body = _unfenced(text)
    found: dict[str, set[tuple[str, ...]]] = {}
    rest = body
    for key in scales:
        pattern = _key_line_re(key, value)
        found[key] = {tuple(g or "" for g in m.groups()) for m in pattern.finditer(body)}
        rest = pattern.sub("", rest)
    return found, "\n".join(line for line in rest.splitlines() if line.strip())


def _missing(key: str, values: set[tuple[str, ...]], what: str) -> Parsed | None:
    if not values:
        return Parsed(UNPARSED, error=f"no {what} line for {key} in the reply")
    if len(values) > 1:
        return Parsed(UNPARSED, error=f"several different {what}s for {key} in the reply")
    return None


def _joint_score_1_8(text: str, scales: Mapping[str, Scale]) -> dict[str, Parsed]:
    found, explanation = _joint_lines(text, scales, _SCORE_VALUE)
    results: dict[str, Parsed] = {}
    for key, scale in scales.items():
        refusal = _missing(key, found[key], "score")
        if refusal:
            results[key] = refusal
            continue
        value, denominator = next(iter(found[key]))
        score = _score(value, denominator or None, 1, 8)
        results[key] = (
            Parsed(UNPARSED, error=f"{key}: {score}")
            if isinstance(score, str)
            else _result(_signed_1_8(score), 4, scale, explanation)
        )
    return results


def _joint_verdict_abc(text: str, scales: Mapping[str, Scale]) -> dict[str, Parsed]:
    found, explanation = _joint_lines(text, scales, _VERDICT_VALUE)
    results: dict[str, Parsed] = {}
    for key, scale in scales.items():
        values: set[tuple[str, ...]] = {(v[0].upper(),) for v in found[key]}
        refusal = _missing(key, values, "verdict")
        if refusal:
            results[key] = refusal
            continue
        shown = {"A": -1, "B": 1, "C": 0}[next(iter(values))[0]] * scale.k
        results[key] = Parsed(DONE, shown, scale.shown_value(shown), explanation.strip())
    return results


def _joint_json_1_9(text: str, scales: Mapping[str, Scale]) -> dict[str, Parsed]:
    objects = [
        o
        for o in _json_objects(_unfenced(text))
        if isinstance(o, dict) and any(isinstance(o.get(key), dict) for key in scales)
    ]
    if len(objects) != 1:
        why = (
            "no JSON object keyed by criterion"
            if not objects
            else "several JSON objects keyed by criterion"
        )
        return {key: Parsed(UNPARSED, error=f"{why} in the reply") for key in scales}
    data = objects[0]
    results: dict[str, Parsed] = {}
    for key, scale in scales.items():
        entry = data.get(key)
        if not isinstance(entry, dict) or "score" not in entry:
            results[key] = Parsed(UNPARSED, error=f"no score for {key} in the JSON reply")
            continue
        single = parse_json_1_9(json.dumps(entry), scale)
        results[key] = (
            single if single.status == DONE else Parsed(UNPARSED, error=f"{key}: {single.error}")
        )
    return results


JOINT_PARSERS = {
    Contract.SCORE_1_8: _joint_score_1_8,
    Contract.JSON_1_9: _joint_json_1_9,
    Contract.VERDICT_ABC: _joint_verdict_abc,
}


def parse_joint(
    text: str | None, *, contract: Contract | str, scales: Mapping[str, Scale]
) -> dict[str, Parsed]:
    """One Parsed per criterion key of `scales`, from a reply judging them all together."""
    if not text or not text.strip():
        return {key: Parsed(UNPARSED, error="empty reply") for key in scales}
    return JOINT_PARSERS[Contract(contract)](text, scales)
