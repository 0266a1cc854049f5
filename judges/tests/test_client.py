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
    assert not caught.value.transient and caught.value.stops_run
    assert stub.stats()["statuses"] == {"401": 1}


def test_an_unknown_endpoint_stops_the_run_and_a_bad_request_does_not(stub: OpenAIStub) -> None:
    with pytest.raises(JudgeCallError, match=r"HTTP 404") as caught:
        chat(judge_for(stub, base_url=stub.url.removesuffix("/v1")), MESSAGES)
    assert caught.value.stops_run and not caught.value.transient
    # A body the server cannot read is this request's problem only.
    with pytest.raises(JudgeCallError, match=r"HTTP 400") as caught:
        chat(judge_for(stub), "not a list of messages")  # type: ignore[arg-type]
    assert not caught.value.stops_run and not caught.value.transient


@pytest.mark.parametrize("stub_config", [StubConfig()])
def test_a_judge_without_a_key_variable_calls_a_server_that_wants_none(stub: OpenAIStub) -> None:
    assert chat(judge_for(stub, api_key_env=""), MESSAGES).text.splitlines()[0] == "8"


def test_a_judge_without_a_key_variable_is_told_when_the_server_wants_one(
    stub: OpenAIStub,
) -> None:
    with pytest.raises(JudgeCallError, match="the endpoint wants a key") as caught:
        chat(judge_for(stub, api_key_env=""), MESSAGES)
    assert caught.value.stops_run


def test_a_missing_key_fails_without_calling(stub: OpenAIStub) -> None:
    with pytest.raises(JudgeCallError, match="set the environment variable NO_SUCH_VAR") as caught:
        chat(judge_for(stub, api_key_env="NO_SUCH_VAR"), MESSAGES)
    assert caught.value.stops_run
    assert stub.stats()["statuses"] == {}


@pytest.mark.parametrize("stub_config", [StubConfig(api_key=API_KEY, error_rate=1.0)])
def test_a_5xx_is_retried_after_a_backoff(stub: OpenAIStub) -> None:
    waits: list[float] = []
    reply = chat(judge_for(stub), MESSAGES, sleep=waits.append)
    assert reply.attempts == 2
    assert len(waits) == 1
    assert stub.stats()["statuses"] == {"503": 1, "200": 1}


# One request per 20 s: a second one is told to retry in up to 20 s, short enough to wait for.
@pytest.mark.parametrize("stub_config", [StubConfig(api_key=API_KEY, rpm=1, window_s=20)])
def test_a_429_waits_at_least_its_retry_after_and_tells_the_caller(stub: OpenAIStub) -> None:
    chat(judge_for(stub), MESSAGES)
    waits: list[float] = []
    told: list[float] = []
    with pytest.raises(JudgeCallError) as caught:
        chat(
            judge_for(stub),
            MESSAGES,
            sleep=waits.append,
            on_retry_after=told.append,
            max_attempts=3,
        )
    assert caught.value.transient
    assert "HTTP 429" in caught.value.message
    assert len(told) == 3 and all(15 <= seconds <= 20 for seconds in told)
    assert len(waits) == 2
    assert all(wait >= seconds for wait, seconds in zip(waits, told, strict=False))
    assert caught.value.retry_after == told[-1]


@pytest.mark.parametrize("stub_config", [StubConfig(api_key=API_KEY, rpm=1)])
def test_a_retry_after_longer_than_a_thread_should_sleep_ends_the_attempts_at_once(
    stub: OpenAIStub,
) -> None:
    chat(judge_for(stub), MESSAGES)
    waits: list[float] = []
    with pytest.raises(JudgeCallError, match="asked to retry after") as caught:
        chat(judge_for(stub), MESSAGES, sleep=waits.append, max_attempts=3)
    assert caught.value.transient and caught.value.attempts == 1
    assert caught.value.retry_after is not None and caught.value.retry_after > 30
    assert waits == []


@pytest.mark.parametrize("stub_config", [StubConfig(api_key=API_KEY, error_rate=1.0)])
def test_every_attempt_first_takes_a_slot_from_the_limiter(stub: OpenAIStub) -> None:
    slots: list[str] = []
    reply = chat(judge_for(stub), MESSAGES, pace=lambda: slots.append("slot"), sleep=lambda _: None)
    # The 503 and the retry after it: two requests, two slots.
    assert reply.attempts == 2 and slots == ["slot", "slot"]
    assert stub.stats()["statuses"] == {"503": 1, "200": 1}


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
