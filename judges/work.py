"""The units of work of a judge run: rendered requests, their hashes and token estimates."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass

import tiktoken

from annotate.models import Criterion, Pair
from judges.models import Judge


@dataclass(frozen=True)
class WorkItem:
    pair: Pair
    criterion: Criterion
    a_first: bool
    messages: list[dict[str, str]]
    request_hash: str
    prompt_tokens: int


@functools.lru_cache(maxsize=64)
def _encoding(model: str) -> tiktoken.Encoding | None:
    """The model's tokenizer, or None when tiktoken does not know it or cannot load it."""
    try:
        return tiktoken.encoding_for_model(model)
    except Exception:  # noqa: BLE001 - unknown model or encoding file not downloadable
        return None


def token_count(model: str, messages: list[dict[str, str]]) -> tuple[int, bool]:
    """(prompt tokens, whether the count is the len/4 approximation)."""
    encoding = _encoding(model)
    if encoding is None:
        return sum(len(m["content"]) for m in messages) // 4, True
    # A few tokens of framing per message, as OpenAI's chat format adds.
    return sum(len(encoding.encode(m["content"])) + 4 for m in messages) + 3, False


def messages_for(
    judge: Judge, pair: Pair, criterion: Criterion, *, a_first: bool
) -> list[dict[str, str]]:
    first, second = (
        (pair.completion_a, pair.completion_b)
        if a_first
        else (pair.completion_b, pair.completion_a)
    )
    return judge.prompt_template.render(
        question=pair.prompt.text,
        answer_1=first.text,
        answer_2=second.text,
        criterion_key=criterion.key,
        criterion_question=criterion.question,
    )


def request_hash(judge: Judge, messages: list[dict[str, str]], *, a_first: bool) -> str:
    """The cache key: the same key means the same request, whichever run or judge sends it."""
    template = judge.prompt_template
    key = {
        "model": judge.model,
        "template": template.key if template.key != "custom" else template.text,
        "contract": template.contract.value,
        "messages": messages,
        "temperature": judge.temperature,
        "max_tokens": judge.max_tokens,
        "a_first": a_first,
    }
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def work_items(
    judge: Judge, pairs: Iterable[Pair], criteria: list[Criterion], *, both_orders: bool
) -> tuple[list[WorkItem], bool]:
    """Every (pair, criterion, order) to judge, and whether token counts are approximate."""
    items: list[WorkItem] = []
    approximate = False
    for index, pair in enumerate(pairs):
        # With one order, alternate which completion goes first so position bias cancels out.
        orders = (True, False) if both_orders else (index % 2 == 0,)
        for criterion in criteria:
            for a_first in orders:
                messages = messages_for(judge, pair, criterion, a_first=a_first)
                tokens, approx = token_count(judge.model, messages)
                approximate = approximate or approx
                items.append(
                    WorkItem(
                        pair,
                        criterion,
                        a_first,
                        messages,
                        request_hash(judge, messages, a_first=a_first),
                        tokens,
                    )
                )
    return items, approximate
