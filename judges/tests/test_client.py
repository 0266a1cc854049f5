"""The judge client, over real HTTP against the stub."""

import random
from decimal import Decimal

import pytest

from judges.client import JudgeCallError, backoff_seconds, call_cost, chat
from judges.stub import OpenAIStub, StubConfig
from judges.templates import BUILTIN
from judges.tests.conftest import API_KEY, API_KEY_ENV, judge_for

MESSAGES = BUILTIN["h4-score-1-8"].render(
    question="Why is the sky blue?",
    answer_1="Rayleigh scattering.",
    answer_2="Because shorter wavelengths scatter more in the atmosphere.",
    criterion_key="helpfulness",
    criterion_question="Which response is more helpful?",
)


def test_it_returns_the_answer_with_its_token_usage(stub: OpenAIStub) -> None:
    reply = chat(judge_for(stub), MESSAGES)
    assert reply.text.splitlines()[0] == "8"
    assert reply.prompt_tokens == len("\n".join(m["content"] for m in MESSAGES)) // 4
    assert reply.attempts == 1


def test_a_wrong_key_fails_at_once_naming_the_environment_variable(
    stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(API_KEY_ENV, "sk-wrong")
    with pytest.raises(JudgeCallError) as caught:
        chat(judge_for(stub), MESSAGES)
    assert caught.value.message == (
        f"authentication failed for judge stub-judge: check the environment variable {API_KEY_ENV}"
    )
    assert not caught.value.transient
    assert stub.stats()["statuses"] == {"401": 1}


def test_a_missing_key_fails_without_calling(stub: OpenAIStub) -> None:
    with pytest.raises(JudgeCallError, match="set the environment variable NO_SUCH_VAR"):
        chat(judge_for(stub, api_key_env="NO_SUCH_VAR"), MESSAGES)
    assert stub.stats()["statuses"] == {}


@pytest.mark.parametrize("stub_config", [StubConfig(api_key=API_KEY, error_rate=1.0)])
def test_a_5xx_is_retried_after_a_backoff(stub: OpenAIStub) -> None:
    waits: list[float] = []
    reply = chat(judge_for(stub), MESSAGES, sleep=waits.append)
    assert reply.attempts == 2
    assert len(waits) == 1
    assert stub.stats()["statuses"] == {"503": 1, "200": 1}


@pytest.mark.parametrize("stub_config", [StubConfig(api_key=API_KEY, rpm=1)])
def test_a_429_waits_at_least_its_retry_after(stub: OpenAIStub) -> None:
    chat(judge_for(stub), MESSAGES)
    waits: list[float] = []
    with pytest.raises(JudgeCallError) as caught:
        chat(judge_for(stub), MESSAGES, sleep=waits.append, max_attempts=3)
    assert caught.value.transient
    assert "HTTP 429" in caught.value.message
    assert len(waits) == 2
    assert all(wait >= 55 for wait in waits)


@pytest.mark.parametrize("stub_config", [StubConfig(api_key=API_KEY, hang=True)])
def test_a_hanging_endpoint_times_out_as_a_transient_error(stub: OpenAIStub) -> None:
    with pytest.raises(JudgeCallError, match="timed out after 0.3 s") as caught:
        chat(judge_for(stub, timeout_s=0.3), MESSAGES, sleep=lambda _: None, max_attempts=2)
    assert caught.value.transient


def test_an_unreachable_endpoint_is_a_transient_error(stub: OpenAIStub) -> None:
    judge = judge_for(stub, base_url="http://127.0.0.1:9/v1")
    with pytest.raises(JudgeCallError, match="could not connect") as caught:
        chat(judge, MESSAGES, sleep=lambda _: None, max_attempts=2)
    assert caught.value.transient


def test_backoff_grows_with_jitter_and_honours_retry_after() -> None:
    rng = random.Random(1)
    assert all(0 <= backoff_seconds(1, None, rng) <= 1 for _ in range(50))
    assert all(0 <= backoff_seconds(4, None, rng) <= 8 for _ in range(50))
    assert max(backoff_seconds(4, None, rng) for _ in range(50)) > 1
    assert 30 <= backoff_seconds(1, 30.0, rng) <= 30.25


def test_cost_is_tokens_times_price_per_million(stub: OpenAIStub) -> None:
    judge = judge_for(stub)
    assert call_cost(judge, prompt_tokens=1000, completion_tokens=100) == Decimal("0.0035")
