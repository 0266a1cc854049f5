"""Requests of a run: the cache key and the token counts the budget relies on."""

import pytest

from judges.models import Judge
from judges.work import endpoint_of, request_hash, token_bound, token_count

MESSAGES = [{"role": "user", "content": "Compare these answers."}]


@pytest.mark.parametrize(
    "url",
    ["https://API.example.com/v1", "https://api.example.com/v1/", " https://api.example.com/v1//"],
)
def test_an_endpoint_is_the_same_whatever_its_case_or_trailing_slash(url: str) -> None:
    assert endpoint_of(url) == "https://api.example.com/v1"


def test_the_same_request_to_another_endpoint_has_another_cache_key() -> None:
    stub = Judge(name="stub", model="gpt-4o", base_url="http://127.0.0.1:8099/v1")
    real = Judge(name="real", model="gpt-4o", base_url="https://api.openai.com/v1")
    same = Judge(name="same", model="gpt-4o", base_url="http://127.0.0.1:8099/v1/")
    keys = [request_hash(judge, MESSAGES, a_first=True) for judge in (stub, real, same)]
    assert keys[0] != keys[1] and keys[0] == keys[2]


def test_an_unknown_models_tokens_are_bounded_by_the_bytes_not_the_quarter_characters() -> None:
    messages = [{"role": "user", "content": "比较这两个回答的质量。" * 20}]
    count, approximate = token_count("some-local-model", messages)
    bound = token_bound(messages, count=count, approximate=approximate)
    assert approximate and count == len(messages[0]["content"]) // 4
    # Each CJK character is three UTF-8 bytes and often one token or more.
    assert bound >= len(messages[0]["content"].encode()) > 4 * count


def test_a_known_models_count_is_its_own_bound() -> None:
    count, approximate = token_count("gpt-4o", MESSAGES)
    if approximate:
        pytest.skip("tiktoken's encoding file is not available offline here")
    assert token_bound(MESSAGES, count=count, approximate=False) == count
