"""The local OpenAI-compatible stub, over real HTTP."""

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from judges.stub import OpenAIStub, StubConfig


def _prompt(answer_1: str, answer_2: str, contract: str = "Reply with a score from 1 to 8.") -> str:
    return (
        f"Question?\n<<<ANSWER 1>>>\n{answer_1}\n<<<END OF ANSWER 1>>>\n"
        f"<<<ANSWER 2>>>\n{answer_2}\n<<<END OF ANSWER 2>>>\n{contract}"
    )


def _post(
    stub: OpenAIStub, content: str, key: str | None = None
) -> tuple[int, dict[str, Any], Any]:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": content}]}).encode()
    request = urllib.request.Request(f"{stub.url}/chat/completions", data=body, method="POST")
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers


def _text(payload: dict[str, Any]) -> str:
    return payload["choices"][0]["message"]["content"]


def test_it_prefers_the_longer_answer_in_each_output_contract() -> None:
    with OpenAIStub(StubConfig()) as stub:
        _, score, _ = _post(stub, _prompt("short", "a much longer and fuller answer"))
        _, as_json, _ = _post(
            stub, _prompt("a much longer and fuller answer", "short", 'JSON "score"')
        )
        _, verdict, _ = _post(stub, _prompt("short", "a much longer answer", "[[A]] [[B]] [[C]]"))
    assert _text(score).splitlines()[0] == "8"
    assert json.loads(_text(as_json))["score"] == 1
    assert _text(verdict).endswith("[[B]]")


def test_it_reports_token_usage_as_a_quarter_of_the_characters() -> None:
    content = _prompt("one", "two")
    with OpenAIStub(StubConfig()) as stub:
        _, payload, _ = _post(stub, content)
    assert payload["usage"]["prompt_tokens"] == len(content) // 4
    assert payload["usage"]["completion_tokens"] == len(_text(payload)) // 4


def test_it_favours_the_first_shown_answer_on_equal_lengths_in_the_configured_share() -> None:
    firsts = 0
    with OpenAIStub(StubConfig(position_bias=0.7, seed=3)) as stub:
        for n in range(200):
            _, payload, _ = _post(stub, _prompt(f"same {n:03d}", f"also {n:03d}"))
            firsts += int(_text(payload).splitlines()[0]) <= 4
    assert 0.6 < firsts / 200 < 0.8


def test_it_answers_the_same_request_the_same_way_given_a_seed() -> None:
    content = _prompt("equal", "equal")
    with OpenAIStub(StubConfig(seed=1)) as one, OpenAIStub(StubConfig(seed=1)) as two:
        assert _text(_post(one, content)[1]) == _text(_post(two, content)[1])


def test_it_refuses_a_wrong_api_key_with_401() -> None:
    with OpenAIStub(StubConfig(api_key="right")) as stub:
        assert _post(stub, _prompt("a", "b"), key="wrong")[0] == 401
        assert _post(stub, _prompt("a", "b"), key="right")[0] == 200


def test_it_answers_429_with_retry_after_past_the_request_limit() -> None:
    with OpenAIStub(StubConfig(rpm=2)) as stub:
        statuses = [_post(stub, _prompt("a", f"b{n}"))[0] for n in range(2)]
        status, _, headers = _post(stub, _prompt("a", "c"))
    assert statuses == [200, 200]
    assert status == 429
    assert 1 <= int(headers["Retry-After"]) <= 60


def test_it_answers_429_past_the_token_limit() -> None:
    with OpenAIStub(StubConfig(tpm=100)) as stub:
        first = _post(stub, _prompt("a" * 200, "b"))[0]
        second = _post(stub, _prompt("a", "b" * 200))[0]
    assert (first, second) == (200, 429)


def test_it_fails_first_attempts_in_the_error_share_and_lets_retries_through() -> None:
    with OpenAIStub(StubConfig(error_rate=1.0)) as stub:
        first = _post(stub, _prompt("a", "b"))[0]
        retry = _post(stub, _prompt("a", "b"))[0]
    assert (first, retry) == (503, 200)


def test_it_answers_garbage_in_the_garbage_share() -> None:
    with OpenAIStub(StubConfig(garbage_rate=1.0)) as stub:
        _, payload, _ = _post(stub, _prompt("a", "bb"))
    assert not _text(payload)[0].isdigit()


def test_it_counts_calls_per_request_hash_at_stats() -> None:
    with OpenAIStub(StubConfig()) as stub:
        _post(stub, _prompt("a", "b"))
        _post(stub, _prompt("a", "b"))
        _post(stub, _prompt("a", "c"))
        with urllib.request.urlopen(f"{stub.url.removesuffix('/v1')}/stats", timeout=5) as response:
            stats = json.loads(response.read())
    assert stats["total"] == 3
    assert sorted(stats["by_hash"].values()) == [1, 2]


def test_it_never_answers_in_hang_mode() -> None:
    with OpenAIStub(StubConfig(hang=True)) as stub:
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x"}]}).encode()
        request = urllib.request.Request(f"{stub.url}/chat/completions", data=body, method="POST")
        with pytest.raises((TimeoutError, urllib.error.URLError)):
            urllib.request.urlopen(request, timeout=0.5)


def _joint_prompt(answer_1: str, answer_2: str, contract: str) -> str:
    return (
        "Criteria, each to be judged on its own:\n- helpfulness: More helpful?\n"
        f"- truthfulness: More truthful?\n\n{_prompt(answer_1, answer_2, contract)}"
    )


def test_it_answers_a_joint_prompt_with_one_verdict_per_criterion_in_its_contract() -> None:
    with OpenAIStub(StubConfig()) as stub:
        _, score, _ = _post(stub, _joint_prompt("short", "a much longer and fuller answer", "1-8"))
        _, as_json, _ = _post(stub, _joint_prompt("a much longer answer", "short", '"score"'))
        _, verdict, _ = _post(stub, _joint_prompt("short", "a much longer answer", "[[C]]"))
    assert _text(score).splitlines()[:2] == ["helpfulness: 8", "truthfulness: 8"]
    assert {key: value["score"] for key, value in json.loads(_text(as_json)).items()} == {
        "helpfulness": 1,
        "truthfulness": 1,
    }
    assert _text(verdict).splitlines()[-2:] == ["helpfulness: [[B]]", "truthfulness: [[B]]"]


def test_its_rate_window_and_token_density_are_configurable() -> None:
    content = _prompt("one", "two")
    with OpenAIStub(StubConfig(rpm=1, window_s=2, chars_per_token=1)) as stub:
        _, payload, _ = _post(stub, content)
        status, _, headers = _post(stub, _prompt("three", "four"))
    assert payload["usage"]["prompt_tokens"] == len(content)
    assert status == 429 and 1 <= int(headers["Retry-After"]) <= 2


def test_it_counts_retries_that_came_before_their_retry_after() -> None:
    with OpenAIStub(StubConfig(rpm=1, window_s=30)) as stub:
        _post(stub, _prompt("a", "b"))
        assert _post(stub, _prompt("a", "c"))[0] == 429
        assert _post(stub, _prompt("a", "c"))[0] == 429  # at once: too early
        assert stub.stats()["early_retries"] == 1
