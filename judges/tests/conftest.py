"""A stub judge endpoint on a free port, and judges pointing at it."""

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from judges.models import Judge
from judges.stub import OpenAIStub, StubConfig

API_KEY_ENV = "CONCORD_TEST_JUDGE_KEY"
API_KEY = "sk-test-concord"


@pytest.fixture
def stub_config() -> StubConfig:
    return StubConfig(api_key=API_KEY, seed=7)


@pytest.fixture
def stub(stub_config: StubConfig, monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAIStub]:
    monkeypatch.setenv(API_KEY_ENV, API_KEY)
    with OpenAIStub(stub_config) as server:
        yield server


def judge_for(stub: OpenAIStub, **fields: Any) -> Judge:
    values: dict[str, Any] = {
        "name": "stub-judge",
        "model": "stub-model",
        "base_url": stub.url,
        "api_key_env": API_KEY_ENV,
        "price_in": Decimal("2.5"),
        "price_out": Decimal("10"),
        "timeout_s": 5.0,
        **fields,
    }
    return Judge(**values)


def drain(run: Any) -> list[str]:
    """Run every queued call of the run in-process, as a worker would, until none is left or
    the run stopped (a failed run keeps its calls queued for a resume)."""
    from judges.models import CallStatus
    from judges.services import OUTCOME_RUN_STOPPED, judge_call_execute

    outcomes: list[str] = []
    while ids := list(
        run.calls.filter(status=CallStatus.QUEUED).order_by("id").values_list("id", flat=True)
    ):
        done = [judge_call_execute(call_id=call_id) for call_id in ids]
        outcomes.extend(outcome for outcome in done if outcome != OUTCOME_RUN_STOPPED)
        if set(done) <= {OUTCOME_RUN_STOPPED}:
            break
    return outcomes
