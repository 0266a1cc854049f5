"""Computing and caching the report.

The report of a (project, filters, bootstrap, seed) is stored in one `ReportCache` row, so the web
process and the workers share it. A row is used while the project's data version is unchanged.
Small projects are computed inside the request; above `BACKGROUND_THRESHOLD` ratings a Celery
task computes it and the row carries the progress. The task is never run inside the request when
the broker is down: the row is marked failed and ApplicationError says why.
"""

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

import kombu.exceptions
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone

from analysis.models import ReportCache, ReportStatus
from annotate.models import Criterion, Pair, Project, Prompt, RaterKind, Rating
from concord.api_errors import ApplicationError

if TYPE_CHECKING:
    import pandas as pd

logger = logging.getLogger(__name__)

# Ratings above which a report is computed by a worker instead of inside the request: about the
# size that takes a few seconds to load and compute, longer than a page should wait.
BACKGROUND_THRESHOLD = 200_000
# A row computing for longer than the task time limit lost its worker; it is started again.
STALE_AFTER = timedelta(minutes=15)
MAX_BOOTSTRAP = 10_000
# Progress a started computation shows at once; each criterion read and computed adds its share.
STARTED_PERCENT = 10


@dataclass(frozen=True)
class ReportParams:
    """What a report depends on besides the data. Empty tuples mean "all"."""

    criteria: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    judges: tuple[str, ...] = ()
    include_suggested: bool = True
    bootstrap: int = 1000
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        for name in ("criteria", "categories", "judges"):
            values[name] = sorted(set(values[name]))
        return values

    def key(self) -> str:
        text = json.dumps(self.as_dict(), sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ReportParams":
        return cls(
            criteria=tuple(values.get("criteria", ())),
            categories=tuple(values.get("categories", ())),
            judges=tuple(values.get("judges", ())),
            include_suggested=bool(values.get("include_suggested", True)),
            bootstrap=int(values.get("bootstrap", 1000)),
            seed=int(values.get("seed", 0)),
        )


@dataclass
class ReportResult:
    status: str
    progress: int = 0
    report: dict[str, Any] | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    error: str = ""


def report_data_version(*, project: Project) -> tuple[str, int]:
    """A version that changes whenever a rating or pair is added, removed or changed, and the
    ratings count.

    Count and largest id see additions and removals; the latest `updated_at` sees ratings
    rewritten in place (a judge's verdict on a call answered again is an update_or_create).
    """
    # Through the criterion, so the (criterion, rater_kind) index serves the count.
    ratings = Rating.objects.filter(criterion__project=project).aggregate(
        n=Count("id"), last=Max("id"), changed=Max("updated_at")
    )
    pairs = Pair.objects.filter(project=project).count()
    changed = ratings["changed"].isoformat() if ratings["changed"] else "-"
    version = f"ratings={ratings['n']}:{ratings['last'] or 0}:{changed};pairs={pairs}"
    return version, ratings["n"]


def report_params_check(*, project: Project, params: ReportParams) -> None:
    """Refuse filters naming what the project does not have, and out-of-range numbers."""
    if not 0 <= params.bootstrap <= MAX_BOOTSTRAP:
        raise ApplicationError(f"bootstrap must be 0..{MAX_BOOTSTRAP}, got {params.bootstrap}")
    if params.seed < 0:
        raise ApplicationError(f"seed must not be negative, got {params.seed}")
    known = {
        "criterion": set(Criterion.objects.filter(project=project).values_list("key", flat=True)),
        "category": set(Prompt.objects.filter(project=project).values_list("category", flat=True)),
        "judge": set(
            Rating.objects.filter(criterion__project=project, rater_kind=RaterKind.LLM)
            .values_list("rater", flat=True)
            .distinct()
        ),
    }
    asked = {"criterion": params.criteria, "category": params.categories, "judge": params.judges}
    for name, values in asked.items():
        unknown = sorted(set(values) - known[name])
        if unknown:
            choices = ", ".join(sorted(known[name])) or "none"
            raise ApplicationError(
                f"unknown {name} {', '.join(map(repr, unknown))} in project {project.slug} "
                f"(it has: {choices})"
            )


def report_compute(
    *,
    project: Project,
    params: ReportParams,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report JSON and the plot data it omits (confusion matrices), computed now."""
    # Imported here: scipy, statsmodels and sklearn take seconds to load, and every process
    # that loads the URLs (each manage.py command) would pay that for nothing.
    from analysis.report import build_report
    from analysis.selectors import criterion_frames

    criteria = Criterion.objects.filter(project=project)
    if params.criteria:
        criteria = criteria.filter(key__in=params.criteria)
    total = max(criteria.count(), 1)
    report: dict[str, Any] = {
        "project": project.slug,
        "generated_at": timezone.now().isoformat(timespec="seconds"),
        "counts": {},  # filled in once every criterion has been read
        "criteria": {},
    }
    extras: dict[str, Any] = {"confusion": {}}
    tally = _Tally()
    if on_progress:
        on_progress(STARTED_PERCENT)
    # Read and computed one criterion at a time, so only one criterion's rows are in memory.
    frames = criterion_frames(
        project=project,
        criteria=list(params.criteria) or None,
        categories=list(params.categories) or None,
        include_suggested=params.include_suggested,
    )
    span = 100 - STARTED_PERCENT
    for index, (criterion, frame) in enumerate(frames, start=1):

        def section_done(done: int, sections: int, before: int = index - 1) -> None:
            # `before` criteria are finished; this one has `done` of its `sections` computed.
            if on_progress:
                on_progress(
                    STARTED_PERCENT + span * (before * sections + done) // (total * sections)
                )

        if params.judges:
            keep = (frame["rater_kind"] == RaterKind.HUMAN) | frame["rater"].isin(params.judges)
            frame = frame[keep]
        if not frame.empty:
            tally.add(frame)
            section = build_report(
                frame,
                project=project.slug,
                bootstrap=params.bootstrap,
                seed=params.seed,
                generated_at=report["generated_at"],
                counts={},
                on_section=section_done,
            )["criteria"]
            report["criteria"].update(section)
            extras["confusion"][criterion] = _confusion(frame)
        del frame
        if on_progress:
            on_progress(STARTED_PERCENT + span * index // total)
    report["counts"] = _counts(project=project, params=params, tally=tally)
    return report, extras


@dataclass
class _Tally:
    """The rating counts of the report, gathered criterion by criterion."""

    human_ratings: int = 0
    llm_ratings: int = 0
    labelers: set[str] = field(default_factory=set)
    judges: set[str] = field(default_factory=set)

    def add(self, frame: "pd.DataFrame") -> None:
        human = frame["rater_kind"] == RaterKind.HUMAN
        self.human_ratings += int(human.sum())
        self.llm_ratings += int((~human).sum())
        self.labelers.update(str(name) for name in frame.loc[human, "rater"].unique())
        self.judges.update(str(name) for name in frame.loc[~human, "rater"].unique())


def _counts(*, project: Project, params: ReportParams, tally: _Tally) -> dict[str, int]:
    prompts = Prompt.objects.filter(project=project)
    pairs = Pair.objects.filter(project=project)
    if params.categories:
        prompts = prompts.filter(category__in=params.categories)
        pairs = pairs.filter(prompt__category__in=params.categories)
    return {
        "prompts": prompts.count(),
        "pairs": pairs.count(),
        "human_ratings": tally.human_ratings,
        "llm_ratings": tally.llm_ratings,
        "labelers": len(tally.labelers),
        "judges": len(tally.judges),
    }


def _confusion(part: "pd.DataFrame") -> dict[str, Any]:
    from analysis.metrics.confusion import human_judge_confusion

    # The same blind humans as human_vs_llm: ratings made with a suggestion shown are kept apart.
    humans = part[(part["rater_kind"] == RaterKind.HUMAN) & ~part["with_suggestion"]]
    judges = part[part["rater_kind"] == RaterKind.LLM]
    return {
        str(judge): human_judge_confusion(humans, calls)
        for judge, calls in judges.groupby("rater_group", sort=True)
    }


def _dump(value: dict[str, Any]) -> str:
    return json.dumps(value, allow_nan=False)


def _result(row: ReportCache) -> ReportResult:
    return ReportResult(
        status=row.status,
        progress=row.progress,
        report=json.loads(row.report_json) if row.report_json else None,
        extras=json.loads(row.extras_json) if row.extras_json else {},
        error=row.error,
    )


def report_get(
    *, project: Project, params: ReportParams, background: bool | None = None
) -> ReportResult:
    """The cached report if fresh; else computed now (small projects) or started in a worker.

    `background` None decides by the project's size; False always computes now (commands).
    Raises ApplicationError for bad filters and when a worker is needed but the broker is down.
    """
    report_params_check(project=project, params=params)
    version, n_ratings = report_data_version(project=project)
    key = params.key()
    row = ReportCache.objects.filter(project=project, key=key).first()
    if row is not None and row.data_version == version:
        if row.status == ReportStatus.READY:
            return _result(row)
        running = row.status == ReportStatus.COMPUTING and _fresh(row)
        if running and background is not False:
            return _result(row)
    if background is None:
        background = n_ratings > BACKGROUND_THRESHOLD
    if background:
        return _start(project=project, params=params, key=key, version=version)
    report, extras = report_compute(project=project, params=params)
    row, _ = ReportCache.objects.update_or_create(
        project=project,
        key=key,
        defaults={
            "params": params.as_dict(),
            "data_version": version,
            "status": ReportStatus.READY,
            "progress": 100,
            "report_json": _dump(report),
            "extras_json": _dump(extras),
            "error": "",
        },
    )
    return ReportResult(status=ReportStatus.READY, progress=100, report=report, extras=extras)


def report_build(
    *,
    project: Project,
    criteria: list[str] | None = None,
    categories: list[str] | None = None,
    judges: list[str] | None = None,
    include_suggested: bool = True,
    bootstrap: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """The report JSON, from the cache when the data have not changed, else computed now."""
    params = ReportParams(
        criteria=tuple(criteria or ()),
        categories=tuple(categories or ()),
        judges=tuple(judges or ()),
        include_suggested=include_suggested,
        bootstrap=bootstrap,
        seed=seed,
    )
    result = report_get(project=project, params=params, background=False)
    assert result.report is not None  # computed now, so present
    return result.report


def _fresh(row: ReportCache) -> bool:
    return row.updated_at > timezone.now() - STALE_AFTER


def _start(*, project: Project, params: ReportParams, key: str, version: str) -> ReportResult:
    with transaction.atomic():
        row, _ = ReportCache.objects.select_for_update().get_or_create(
            project=project,
            key=key,
            defaults={"params": params.as_dict(), "data_version": "", "status": "computing"},
        )
        running = row.status == ReportStatus.COMPUTING and _fresh(row)
        if row.data_version == version and running:
            return _result(row)  # another request started it meanwhile
        row.params = params.as_dict()
        row.data_version = version
        row.status = ReportStatus.COMPUTING
        row.progress = 0
        row.report_json = row.extras_json = row.error = ""
        row.save()
        transaction.on_commit(partial(_enqueue, cache_id=row.id))
    return _result(row)


def _enqueue(*, cache_id: int) -> None:
    from analysis.tasks import report_compute_task

    try:
        with report_compute_task.app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)
            with connection.Producer() as producer:
                report_compute_task.apply_async((cache_id,), producer=producer, retry=False)
    except (kombu.exceptions.KombuError, OSError) as error:
        message = f"the report needs a worker, but the task broker is unreachable: {error}"
        ReportCache.objects.filter(id=cache_id).update(status=ReportStatus.FAILED, error=message)
        raise ApplicationError(message) from None


def report_task_run(*, cache_id: int) -> str:
    """Compute a row's report in a worker. Idempotent: a row no longer computing is left alone."""
    row = ReportCache.objects.select_related("project").filter(id=cache_id).first()
    if row is None or row.status != ReportStatus.COMPUTING:
        return "skipped"
    still_mine = ReportCache.objects.filter(id=cache_id, status=ReportStatus.COMPUTING)
    # The version of the data read, so ratings added meanwhile make the result stale at once.
    version, _ = report_data_version(project=row.project)

    def progress(percent: int) -> None:
        still_mine.update(progress=min(percent, 99), updated_at=timezone.now())

    try:
        report, extras = report_compute(
            project=row.project, params=ReportParams.from_dict(row.params), on_progress=progress
        )
    except Exception as error:
        # Shown on the page; the task ends cleanly, as a retry would fail the same way.
        logger.exception("report %s failed", cache_id)
        still_mine.update(status=ReportStatus.FAILED, error=f"{type(error).__name__}: {error}")
        return "failed"
    still_mine.update(
        status=ReportStatus.READY,
        progress=100,
        data_version=version,
        report_json=_dump(report),
        extras_json=_dump(extras),
        updated_at=timezone.now(),
    )
    return "done"
