"""Parsing judge replies: strict about the answer, tolerant of the noise around it."""

import pytest

from annotate.scale import Scale
from judges.parsing import DONE, UNPARSED, map_strength, parse_joint, parse_reply
from judges.templates import Contract

EIGHT = Scale(8)
FIVE = Scale(5)


def _score(text: str, scale: Scale = EIGHT) -> tuple[str, str]:
    parsed = parse_reply(text, contract=Contract.SCORE_1_8, scale=scale)
    return parsed.status, parsed.value_shown


@pytest.mark.parametrize(
    ("reply", "value"),
    [
        ("6\nAssistant 2 explains the cause as well.", "6"),
        ("  **7**\n\nAssistant 2 is more complete.", "7"),
        ("Score: 3/8\nAssistant 1 is a bit clearer.", "3"),
        ("```\n2\n```\nAssistant 1 is correct, Assistant 2 is not.", "2"),
        ("8 - Assistant 2 answers the question; Assistant 1 does not.", "8"),
        ("Final score: 5\nThey are close; Assistant 2 edges it.", "5"),
        ("Here is my assessment.\n\nScore: 1\n\nAssistant 1 is far better.", "1"),
        ("I compared both carefully.\nRating = 4 out of 8\nSlight edge to the first.", "4"),
        ("4.0\nA slight preference for Assistant 1.", "4"),
    ],
)
def test_a_1_to_8_score_is_read_from_noisy_replies(reply: str, value: str) -> None:
    assert _score(reply) == (DONE, value)


@pytest.mark.parametrize(
    "reply",
    [
        "I'm sorry, but I can't compare these answers.",
        "9\nAssistant 2 is overwhelmingly better.",
        "0\nNeither.",
        "Score: 7/10\nAssistant 2 is better.",
        "Score: 2. Actually, on reflection, Score: 7.",
        "Both answers are good; Assistant 2 has 3 more examples.",
        "6.5\nBetween slightly and clearly better.",
        "",
        "1. First, note that both answers mention the facts.",
    ],
)
def test_a_1_to_8_reply_without_exactly_one_valid_score_is_unparsed(reply: str) -> None:
    parsed = parse_reply(reply, contract=Contract.SCORE_1_8, scale=EIGHT)
    assert parsed.status == UNPARSED
    assert parsed.shown_preference is None
    assert parsed.error


def test_a_1_to_8_score_keeps_its_explanation() -> None:
    parsed = parse_reply("6\nAssistant 2 cites a source.", contract="score-1-8", scale=EIGHT)
    assert (parsed.shown_preference, parsed.explanation) == (2, "Assistant 2 cites a source.")


def test_a_1_to_8_score_maps_onto_a_five_point_scale_keeping_its_side() -> None:
    assert [_score(str(s), FIVE)[1] for s in range(1, 9)] == [
        "1",
        "1",
        "2",
        "2",
        "4",
        "4",
        "5",
        "5",
    ]


@pytest.mark.parametrize(
    ("reply", "preference"),
    [
        ('{"reason": "Answer 2 is more precise.", "score": 7}', 2),
        ('```json\n{"reason": "Equal.", "score": 5}\n```', 0),
        (
            "Sure! Here is my evaluation:\n```json\n"
            '{\n  "reason": "1 is right",\n  "score": 2\n}\n```\nHope this helps.',
            -3,
        ),
        ('{"reason": "Far better first answer", "score": "1"}', -4),
        ('{"score": 9, "reason": "B nails it"} trailing words', 4),
    ],
)
def test_a_json_1_to_9_score_is_read_from_noisy_replies(reply: str, preference: int) -> None:
    parsed = parse_reply(reply, contract=Contract.JSON_1_9, scale=EIGHT)
    assert (parsed.status, parsed.shown_preference) == (DONE, preference)


def test_a_json_tie_is_stored_as_a_tie_on_an_even_scale() -> None:
    parsed = parse_reply('{"reason": "same", "score": 5}', contract="json-1-9", scale=EIGHT)
    assert (parsed.value_shown, parsed.explanation) == ("tie", "same")


@pytest.mark.parametrize(
    "reply",
    [
        '{"reason": "too good", "score": 10}',
        '{"reason": "no score here"}',
        '{"reason": "x", "score": "high"}',
        '{"reason": "x", "score": true}',
        '{"reason": "x", "score": 7',
        '{"reason": "a", "score": 2} {"reason": "b", "score": 8}',
        "I cannot provide a rating for this content.",
    ],
)
def test_a_json_reply_without_exactly_one_valid_score_is_unparsed(reply: str) -> None:
    assert parse_reply(reply, contract=Contract.JSON_1_9, scale=EIGHT).status == UNPARSED


@pytest.mark.parametrize(
    ("reply", "value"),
    [
        ("Assistant A is accurate and B is not.\n\n[[A]]", "1"),
        ("Final verdict: [[B]]", "8"),
        ("Both are fine. [[C]]", "tie"),
        ("**Verdict:** [[ b ]]\n", "8"),
        ("[[A]] because A is right. Again: [[A]]", "1"),
    ],
)
def test_a_verdict_is_read_at_full_strength(reply: str, value: str) -> None:
    parsed = parse_reply(reply, contract=Contract.VERDICT_ABC, scale=EIGHT)
    assert (parsed.status, parsed.value_shown) == (DONE, value)


@pytest.mark.parametrize(
    "reply",
    ["I lean to [[A]] but on reflection [[B]].", "Assistant A is better.", "[A]", "[[D]]"],
)
def test_a_missing_or_conflicting_verdict_is_unparsed(reply: str) -> None:
    assert parse_reply(reply, contract=Contract.VERDICT_ABC, scale=EIGHT).status == UNPARSED


def test_an_empty_reply_is_unparsed() -> None:
    assert parse_reply(None, contract=Contract.VERDICT_ABC, scale=EIGHT).error == "empty reply"


@pytest.mark.parametrize(
    ("signed", "points", "expected"),
    [(1, 3, 1), (-4, 3, -1), (4, 11, 5), (2, 11, 2), (3, 11, 4), (-2, 6, -2)],
)
def test_strengths_map_linearly_rounding_half_away_from_zero(
    signed: int, points: int, expected: int
) -> None:
    assert map_strength(signed, source_max=4, scale=Scale(points)) == expected


JOINT = {"helpfulness": EIGHT, "truthfulness": FIVE}


def _joint(text: str, contract: Contract) -> dict[str, tuple[str, str]]:
    parsed = parse_joint(text, contract=contract, scales=JOINT)
    return {key: (p.status, p.value_shown) for key, p in parsed.items()}


@pytest.mark.parametrize(
    "reply",
    [
        "helpfulness: 6\ntruthfulness: 3\nAssistant 2 is more useful; Assistant 1 is more careful.",
        "**Helpfulness**: 6\n**Truthfulness**: 3/8\n\nReasons follow.",
        "My scores.\n\n1. helpfulness: 6 - fuller answer\n2. truthfulness: 3 (fewer errors)",
        "```\nhelpfulness = 6\ntruthfulness = 3\n```\nThat is all.",
        "- truthfulness: 3\n- helpfulness: 6\n",  # out of order
        "helpfulness: 6\ntruthfulness: 3\n...\nTo sum up, helpfulness: 6",  # repeated, same value
    ],
)
def test_joint_1_to_8_scores_are_read_per_criterion_from_noisy_replies(reply: str) -> None:
    # Each on its own scale: 3 of 8 (first answer better, strength 2 of 4) is point 2 of 5.
    assert _joint(reply, Contract.SCORE_1_8) == {
        "helpfulness": (DONE, "6"),
        "truthfulness": (DONE, "2"),
    }


def test_a_joint_reply_missing_or_contradicting_a_criterion_leaves_just_that_one_unparsed() -> None:
    parsed = parse_joint(
        "helpfulness: 6\nhelpfulness: 2\ntruthfulness: 9\n",
        contract=Contract.SCORE_1_8,
        scales={**JOINT, "harmlessness": EIGHT},
    )
    assert {key: p.error for key, p in parsed.items()} == {
        "helpfulness": "several different scores for helpfulness in the reply",
        "truthfulness": "truthfulness: score 9 is outside 1-8",
        "harmlessness": "no score line for harmlessness in the reply",
    }
    assert all(p.status == UNPARSED and p.shown_preference is None for p in parsed.values())


def test_a_joint_refusal_is_unparsed_for_every_criterion() -> None:
    for contract in Contract:
        parsed = parse_joint("I can't rate these answers.", contract=contract, scales=JOINT)
        assert {p.status for p in parsed.values()} == {UNPARSED}


@pytest.mark.parametrize(
    "reply",
    [
        '{"helpfulness": {"reason": "more detail", "score": 7},'
        ' "truthfulness": {"reason": "both right", "score": 5}}',
        'Sure:\n```json\n{"truthfulness": {"score": "5", "reason": "both right"},\n'
        ' "helpfulness": {"reason": "more detail", "score": 7}}\n```\nDone.',
    ],
)
def test_joint_json_scores_are_read_per_criterion(reply: str) -> None:
    parsed = parse_joint(reply, contract=Contract.JSON_1_9, scales=JOINT)
    assert {k: (p.status, p.shown_preference, p.value_shown) for k, p in parsed.items()} == {
        "helpfulness": (DONE, 2, "6"),
        "truthfulness": (DONE, 0, "3"),  # the middle point of 5 is the tie
    }
    assert parsed["helpfulness"].explanation == "more detail"


@pytest.mark.parametrize(
    ("reply", "errors"),
    [
        (
            '{"helpfulness": {"reason": "x", "score": 12}, "truthfulness": {"reason": "y"}}',
            {
                "helpfulness": "helpfulness: score 12 is outside 1-9",
                "truthfulness": "no score for truthfulness in the JSON reply",
            },
        ),
        (
            '{"reason": "overall", "score": 6}',
            {
                "helpfulness": "no JSON object keyed by criterion in the reply",
                "truthfulness": "no JSON object keyed by criterion in the reply",
            },
        ),
        (
            '{"helpfulness": {"score": 2}} {"helpfulness": {"score": 8}}',
            {
                "helpfulness": "several JSON objects keyed by criterion in the reply",
                "truthfulness": "several JSON objects keyed by criterion in the reply",
            },
        ),
    ],
)
def test_joint_json_without_a_valid_score_per_criterion_is_unparsed_by_criterion(
    reply: str, errors: dict[str, str]
) -> None:
    parsed = parse_joint(reply, contract=Contract.JSON_1_9, scales=JOINT)
    assert {key: p.error for key, p in parsed.items()} == errors


def test_joint_verdicts_are_read_per_criterion_at_full_strength() -> None:
    reply = (
        "Assistant B explains more; both are accurate.\n\n"
        "helpfulness: [[B]]\n**truthfulness**: [[c]]"
    )
    assert _joint(reply, Contract.VERDICT_ABC) == {
        "helpfulness": (DONE, "8"),
        "truthfulness": (DONE, "3"),
    }
    conflicting = "helpfulness: [[A]]\nhelpfulness: [[B]]\ntruthfulness: [[A]]"
    assert _joint(conflicting, Contract.VERDICT_ABC)["helpfulness"] == (UNPARSED, "")
