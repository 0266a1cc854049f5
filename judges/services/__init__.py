"""Writes for judges: configurations (config), runs (runs), one request of a run (calls), and
what runs and calls share (lifecycle)."""

from judges.services.calls import (
    OUTCOME_ANSWERED,
    OUTCOME_BUDGET,
    OUTCOME_BUSY,
    OUTCOME_CACHED,
    OUTCOME_FAILED,
    OUTCOME_GONE,
    OUTCOME_NOT_QUEUED,
    OUTCOME_RUN_FAILED,
    OUTCOME_RUN_STOPPED,
    OUTCOME_SUPERSEDED,
    TransientCallError,
    judge_call_execute,
)
from judges.services.config import JUDGE_FIELDS, judge_create, judge_update
from judges.services.lifecycle import (
    ROUTE_INCONSISTENT,
    ROUTE_SPLIT,
    RouteResult,
    Worker,
    judge_run_route,
)
from judges.services.runs import (
    Estimate,
    Recovery,
    judge_run_cancel,
    judge_run_estimate,
    judge_run_fanout,
    judge_run_resume,
    judge_run_start,
    judge_run_sweep,
    judge_runs_recover,
)

__all__ = [
    "JUDGE_FIELDS",
    "OUTCOME_ANSWERED",
    "OUTCOME_BUDGET",
    "OUTCOME_BUSY",
    "OUTCOME_CACHED",
    "OUTCOME_FAILED",
    "OUTCOME_GONE",
    "OUTCOME_NOT_QUEUED",
    "OUTCOME_RUN_FAILED",
    "OUTCOME_RUN_STOPPED",
    "OUTCOME_SUPERSEDED",
    "ROUTE_INCONSISTENT",
    "ROUTE_SPLIT",
    "Estimate",
    "Recovery",
    "RouteResult",
    "TransientCallError",
    "Worker",
    "judge_call_execute",
    "judge_create",
    "judge_run_cancel",
    "judge_run_estimate",
    "judge_run_fanout",
    "judge_run_resume",
    "judge_run_route",
    "judge_run_start",
    "judge_run_sweep",
    "judge_runs_recover",
    "judge_update",
]
