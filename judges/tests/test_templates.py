"""Judge prompt templates."""

import pytest

from judges.stub import ANSWER_RE
from judges.templates import BUILTIN, JOINT_HEADER, Contract, template_for, validate_custom

ARGS = {
    "question": "What is the boiling point of water?",
    "answer_1": "100 °C at sea level.",
    "answer_2": "It boils at {100} degrees.",
    "criterion_key": "truthfulness",
    "criterion_question": "Which response is more truthful?",
}


@pytest.mark.parametrize("key", sorted(BUILTIN))
def test_each_builtin_template_names_the_criterion_and_wraps_both_answers(key: str) -> None:
    messages = template_for(key=key).render(**ARGS)
    user = messages[-1]["content"]
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "truthfulness (Which response is more truthful?)" in user
    assert ARGS["question"] in user
    assert ANSWER_RE.findall(user) == [("1", ARGS["answer_1"]), ("2", ARGS["answer_2"])]


def test_each_builtin_template_states_its_output_contract() -> None:
    assert "1 to 8" in BUILTIN["h4-score-1-8"].text
    assert '{{"reason"' in BUILTIN["json-score-1-9"].text
    assert "[[C]]" in BUILTIN["verdict-abc"].text
    assert [t.contract for t in BUILTIN.values()] == list(Contract)


def test_a_custom_template_renders_with_its_declared_contract() -> None:
    text = "Q: {question}\n1: {answer_1}\n2: {answer_2}\nOn {criterion}, answer [[A]] or [[B]]."
    template = template_for(key="", custom_text=text, contract="verdict-abc")
    user = template.render(**ARGS)[-1]["content"]
    assert template.contract is Contract.VERDICT_ABC
    assert user.startswith("Q: What is the boiling point")
    assert "2: It boils at {100} degrees." in user


def test_a_custom_template_with_an_unknown_placeholder_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"unknown placeholder\(s\) \{answer_3\}"):
        validate_custom("{question} {answer_1} {answer_2} {answer_3} {criterion}")


def test_a_custom_template_with_a_missing_placeholder_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"missing placeholder\(s\) \{criterion\}"):
        validate_custom("{question} {answer_1} {answer_2}")


def test_a_custom_template_with_a_stray_brace_is_refused() -> None:
    with pytest.raises(ValueError, match="malformed"):
        validate_custom("{question} {answer_1} {answer_2} {criterion} {")


def test_an_unknown_builtin_template_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="h4-score-1-8"):
        template_for(key="nope")


JOINT_ARGS = {
    "question": ARGS["question"],
    "answer_1": ARGS["answer_1"],
    "answer_2": ARGS["answer_2"],
    "criteria": [
        ("helpfulness", "Which response is more helpful?"),
        ("truthfulness", "Which response is more truthful?"),
    ],
}


@pytest.mark.parametrize("key", sorted(BUILTIN))
def test_each_builtin_template_judges_several_criteria_in_one_prompt_keyed_by_name(
    key: str,
) -> None:
    messages = template_for(key=key).render_joint(**JOINT_ARGS)
    system, user = messages[0]["content"], messages[1]["content"]
    assert "each criterion you are given on its own" in system
    assert user.startswith(
        f"{JOINT_HEADER}\n- helpfulness: Which response is more helpful?\n"
        "- truthfulness: Which response is more truthful?\n"
    )
    assert ANSWER_RE.findall(user) == [("1", ARGS["answer_1"]), ("2", ARGS["answer_2"])]
    example = {
        "h4-score-1-8": '"helpfulness: <score>" then "truthfulness: <score>"',
        "json-score-1-9": '{"helpfulness": {"reason": "<two or three sentences>", "score": <whole '
        'number from 1 to 9>}, "truthfulness": {"reason"',
        "verdict-abc": '"helpfulness: [[A]]" then "truthfulness: [[A]]"',
    }[key]
    assert example in user


def test_a_custom_template_has_no_joint_form() -> None:
    text = "Q: {question}\n1: {answer_1}\n2: {answer_2}\nOn {criterion}, score 1-8."
    template = template_for(key="", custom_text=text)
    assert not template.has_joint_form
    with pytest.raises(ValueError, match="only with a built-in template"):
        template.render_joint(**JOINT_ARGS)  # type: ignore[arg-type]
