"""The units of work of a judge run: rendered requests, their hashes and token counts."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import tiktoken

from annotate.models import Criterion, Pair
from judges.models import Judge

# Chat templates wrap each message in role markers and the reply in a header; no tokenizer we know
# spends more than this on them.
FRAMING_TOKENS_PER_MESSAGE = 16
FRAMING_TOKENS = 16


@dataclass(frozen=True)
class WorkItem:
    """One request: a pair in one order, on one criterion or on several judged together."""

    pair: Pair
    criteria: tuple[Criterion, ...]
    a_first: bool
    messages: list[dict[str, str]]
    request_hash: str
    prompt_tokens: int  # the estimate: tiktoken's count, or characters / 4
    prompt_tokens_bound: int  # what the request can count at most (the budget reserves this)


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


def token_bound(messages: list[dict[str, str]], *, count: int, approximate: bool) -> int:
    """The most prompt tokens the request can count, given token_count's answer: the count itself
    when tiktoken knows the model; otherwise the UTF-8 bytes (a byte-level tokenizer never spends
    more than one token per byte, where characters / 4 may be several times too low for code or
    non-Latin text) plus framing.
    """
    if not approximate:
        return count
    return (
        sum(len(m["content"].encode("utf-8")) + FRAMING_TOKENS_PER_MESSAGE for m in messages)
        + FRAMING_TOKENS
    )


def messages_for(
    judge: Judge, pair: Pair, criteria: Sequence[Criterion], *, a_first: bool
) -> list[dict[str, str]]:
    """The request for a pair in one order: one criterion, or several judged together."""
    first, second = (
        (pair.completion_a, pair.completion_b)
        if a_first
        else (pair.completion_b, pair.completion_a)
    )
    template = judge.prompt_template
    if len(criteria) > 1:
        return template.render_joint(
            question=pair.prompt.text,
            answer_1=first.text,
            answer_2=second.text,
            criteria=[(c.key, c.question) for c in criteria],
        )
    (criterion,) = criteria
    return template.render(
        question=pair.prompt.text,
        answer_1=first.text,
        answer_2=second.text,
        criterion_key=criterion.key,
        criterion_question=criterion.question,
    )


def endpoint_of(base_url: str) -> str:
    """The endpoint as the cache sees it: scheme, host and path, case and trailing slash aside."""
    parts = urlsplit(base_url.strip())
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{parts.path.rstrip('/')}"


def request_hash(judge: Judge, messages: list[dict[str, str]], *, a_first: bool) -> str:
    """The cache key: the same key means the same request to the same endpoint, whichever run or
    judge sends it. The endpoint is part of it: a real judge with a stub's model name and template
    must not be served the stub's answers."""
    template = judge.prompt_template
    key = {
        "endpoint": endpoint_of(judge.base_url),
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
    judge: Judge,
    pairs: Iterable[Pair],
    criteria: list[Criterion],
    *,
    both_orders: bool,
    together: bool = False,
) -> tuple[list[WorkItem], bool]:
    """Every request to send, and whether token counts are approximate.

    Separately: one per (pair, criterion, order). Together: one per (pair, order) covering all
    `criteria` (with a single criterion that is the same request as separately).
    """
    groups = [tuple(criteria)] if together else [(criterion,) for criterion in criteria]
    items: list[WorkItem] = []
    approximate = False
    for index, pair in enumerate(pairs):
        # With one order, alternate which completion goes first so position bias cancels out.
        orders = (True, False) if both_orders else (index % 2 == 0,)
        for group in groups:
            for a_first in orders:
                messages = messages_for(judge, pair, group, a_first=a_first)
                tokens, approx = token_count(judge.model, messages)
                approximate = approximate or approx
                items.append(
                    WorkItem(
                        pair,
                        group,
                        a_first,
                        messages,
                        request_hash(judge, messages, a_first=a_first),
                        tokens,
                        token_bound(messages, count=tokens, approximate=approx),
                    )
                )
    return items, approximate
