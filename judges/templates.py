"""Judge prompt templates and their output contracts.

Each built-in template follows the output contract of a published study (worded here in our own
words): a 1-8 score on the first line (the Hugging Face H4 study), JSON with a reason and a 1-9
score (Ozdemir's replication), or an [[A]]/[[B]]/[[C]] verdict (MT-bench pairwise). The answers
are wrapped in explicit markers so neither the judge nor a parser confuses them with the question.

A custom template is a text with the placeholders {question}, {answer_1}, {answer_2} and
{criterion}; it names the contract its answers follow so they can be parsed.

Criteria judged together: the built-in templates also have a joint form that lists every
criterion and asks for one score per criterion in the same contract, keyed by criterion
(`helpfulness: 6` lines, a JSON object of {"reason", "score"} objects, `helpfulness: [[A]]`
lines). A custom template is written for one criterion and has no joint form.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Contract(StrEnum):
    SCORE_1_8 = "score-1-8"
    JSON_1_9 = "json-1-9"
    VERDICT_ABC = "verdict-abc"


PLACEHOLDERS = frozenset({"question", "answer_1", "answer_2", "criterion"})

SYSTEM = (
    "You are a careful, impartial reviewer of answers written by AI assistants. Judge only the "
    "criterion you are given. The order in which the answers appear must not sway you, nor must "
    "their length: a longer answer is better only if its extra content serves the criterion."
)

_BODY = (
    "Criterion: {criterion}\n\n"
    "[User question]\n{question}\n[End of user question]\n\n"
    "<<<ANSWER 1>>>\n{answer_1}\n<<<END OF ANSWER 1>>>\n\n"
    "<<<ANSWER 2>>>\n{answer_2}\n<<<END OF ANSWER 2>>>\n\n"
)

SYSTEM_JOINT = (
    "You are a careful, impartial reviewer of answers written by AI assistants. Judge each "
    "criterion you are given on its own: a strength on one criterion must not lift the other. The "
    "order in which the answers appear must not sway you, nor must their length: a longer answer "
    "is better only if its extra content serves the criterion."
)

# The line that opens the list of criteria of a joint prompt (the stub looks for it too).
JOINT_HEADER = "Criteria, each to be judged on its own:"

_JOINT_BODY = (
    JOINT_HEADER + "\n{criteria}\n\n"
    "[User question]\n{question}\n[End of user question]\n\n"
    "<<<ANSWER 1>>>\n{answer_1}\n<<<END OF ANSWER 1>>>\n\n"
    "<<<ANSWER 2>>>\n{answer_2}\n<<<END OF ANSWER 2>>>\n\n"
)

_INSTRUCTIONS = {
    Contract.SCORE_1_8: (
        "Compare Assistant 1 (ANSWER 1) with Assistant 2 (ANSWER 2) on the criterion above. "
        "Reply with a single whole number from 1 to 8 alone on the first line: 1 means Assistant 1 "
        "is far better, 4 slightly better; 5 means Assistant 2 is slightly better, 8 far better. "
        "On the following lines, explain your choice in two or three sentences."
    ),
    Contract.JSON_1_9: (
        "Compare Assistant 1 (ANSWER 1) with Assistant 2 (ANSWER 2) on the criterion above. "
        "Reply with one JSON object and nothing else, writing the reason before the score: "
        '{{"reason": "<two or three sentences>", "score": <whole number from 1 to 9>}}. '
        "A score of 1 means Assistant 1 is far better, 5 means both are equally good, and 9 "
        "means Assistant 2 is far better."
    ),
    Contract.VERDICT_ABC: (
        "Compare Assistant A (ANSWER 1) with Assistant B (ANSWER 2) on the criterion above. "
        "First explain your reasoning briefly. Then end your reply with your verdict in exactly "
        'this form: "[[A]]" if Assistant A is better, "[[B]]" if Assistant B is better, or '
        '"[[C]]" if they are about equally good.'
    ),
}


_JOINT_INSTRUCTIONS = {
    Contract.SCORE_1_8: (
        "Compare Assistant 1 (ANSWER 1) with Assistant 2 (ANSWER 2) on each criterion above. For "
        "each, give a whole number from 1 to 8: 1 means Assistant 1 is far better, 4 slightly "
        "better; 5 means Assistant 2 is slightly better, 8 far better. Start your reply with one "
        "line per criterion, in the order listed, in exactly this form: {example}. Then explain "
        "your scores in two or three sentences each."
    ),
    Contract.JSON_1_9: (
        "Compare Assistant 1 (ANSWER 1) with Assistant 2 (ANSWER 2) on each criterion above. "
        "Reply with one JSON object and nothing else, with one key per criterion, each holding the "
        "reason before the score: {example}. A score of 1 means Assistant 1 is far better, 5 "
        "means both are equally good, and 9 means Assistant 2 is far better."
    ),
    Contract.VERDICT_ABC: (
        "Compare Assistant A (ANSWER 1) with Assistant B (ANSWER 2) on each criterion above. "
        "First explain your reasoning briefly. Then end your reply with one line per criterion, "
        'in the order listed, in exactly this form: {example}, where "[[A]]" means Assistant A '
        'is better, "[[B]]" Assistant B is better and "[[C]]" they are about equally good.'
    ),
}


def _joint_example(contract: Contract, keys: Sequence[str]) -> str:
    if contract is Contract.SCORE_1_8:
        return " then ".join(f'"{key}: <score>"' for key in keys)
    if contract is Contract.JSON_1_9:
        entry = '{"reason": "<two or three sentences>", "score": <whole number from 1 to 9>}'
        inner = ", ".join(f'"{key}": {entry}' for key in keys)
        return "{" + inner + "}"
    return " then ".join(f'"{key}: [[A]]"' for key in keys)


@dataclass(frozen=True)
class Template:
    key: str
    contract: Contract
    text: str
    system: str = SYSTEM

    def render(
        self,
        *,
        question: str,
        answer_1: str,
        answer_2: str,
        criterion_key: str,
        criterion_question: str,
    ) -> list[dict[str, str]]:
        """The chat messages for one comparison; answer_1 is the answer shown first."""
        user = self.text.format(
            question=question,
            answer_1=answer_1,
            answer_2=answer_2,
            criterion=f"{criterion_key} ({criterion_question})",
        )
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]

    @property
    def has_joint_form(self) -> bool:
        return self.key in BUILTIN

    def render_joint(
        self,
        *,
        question: str,
        answer_1: str,
        answer_2: str,
        criteria: Sequence[tuple[str, str]],
    ) -> list[dict[str, str]]:
        """The chat messages judging every (key, question) criterion in one request.

        Raises ValueError for a custom template (written for one criterion).
        """
        if not self.has_joint_form:
            raise ValueError(
                "criteria can be judged together only with a built-in template; a custom "
                "template asks for one criterion's score"
            )
        keys = [key for key, _ in criteria]
        instructions = _JOINT_INSTRUCTIONS[self.contract].format(
            example=_joint_example(self.contract, keys)
        )
        body = _JOINT_BODY.format(
            criteria="\n".join(f"- {key}: {text}" for key, text in criteria),
            question=question,
            answer_1=answer_1,
            answer_2=answer_2,
        )
        user = body + instructions
        return [{"role": "system", "content": SYSTEM_JOINT}, {"role": "user", "content": user}]


BUILTIN: dict[str, Template] = {
    "h4-score-1-8": Template(
        "h4-score-1-8", Contract.SCORE_1_8, _BODY + _INSTRUCTIONS[Contract.SCORE_1_8]
    ),
    "json-score-1-9": Template(
        "json-score-1-9", Contract.JSON_1_9, _BODY + _INSTRUCTIONS[Contract.JSON_1_9]
    ),
    "verdict-abc": Template(
        "verdict-abc", Contract.VERDICT_ABC, _BODY + _INSTRUCTIONS[Contract.VERDICT_ABC]
    ),
}


def validate_custom(text: str) -> None:
    """Raise ValueError naming any unknown or missing placeholder (or a malformed brace)."""
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as error:
        raise ValueError(
            f"the template is malformed: {error} (write a literal brace as {{{{ or }}}})"
        ) from error
    unknown = sorted(fields - PLACEHOLDERS)
    missing = sorted(PLACEHOLDERS - fields)
    problems = []
    if unknown:
        problems.append("unknown placeholder(s) " + ", ".join("{" + f + "}" for f in unknown))
    if missing:
        problems.append("missing placeholder(s) " + ", ".join("{" + f + "}" for f in missing))
    if problems:
        allowed = ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS))
        raise ValueError(f"the template has {' and '.join(problems)}; use exactly {allowed}")


def template_for(
    *, key: str, custom_text: str = "", contract: str = Contract.SCORE_1_8
) -> Template:
    """The built-in template `key`, or the custom text with its declared contract."""
    if custom_text:
        validate_custom(custom_text)
        return Template("custom", Contract(contract), custom_text)
    try:
        return BUILTIN[key]
    except KeyError:
        raise ValueError(f"unknown template {key!r}; choose one of {', '.join(BUILTIN)}") from None
