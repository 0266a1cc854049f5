"""Judge configurations, judge runs and their calls.

A JudgeRun fans out into one JudgeCall per (pair, criterion, order). A call that produced a
verdict links to the annotate Rating it wrote (rater_kind "llm", rater = the judge's name). The
request hash identifies the exact request (endpoint, model, template, rendered messages,
temperature, order) so an answer is never paid for twice: a call whose hash already has an answer
reuses it.

With criteria judged together (`criteria_mode` "together") one request covers every criterion of
a (pair, order): its calls, one per criterion, share the request hash and are claimed, answered
and paid as one; the request's tokens and cost are booked on the first of them (lowest id).
"""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from annotate.models import Criterion, Pair, Project, Rating
from judges.templates import BUILTIN, Contract, Template, template_for, validate_custom

CUSTOM_TEMPLATE = "custom"


class Judge(models.Model):
    name = models.CharField(max_length=150, unique=True, help_text="Stored as the rater name.")
    model = models.CharField(max_length=200)
    base_url = models.URLField(max_length=500, default="https://api.openai.com/v1")
    api_key_env = models.CharField(
        max_length=100,
        default="OPENAI_API_KEY",
        blank=True,
        help_text="Name of the environment variable holding the API key (the key is never "
        "stored). Empty for a local server that needs no key.",
    )
    template = models.CharField(
        max_length=30,
        choices=[(key, key) for key in BUILTIN] + [(CUSTOM_TEMPLATE, "custom text")],
        default="h4-score-1-8",
    )
    template_text = models.TextField(blank=True, help_text="Custom template text.")
    contract = models.CharField(
        max_length=20,
        choices=[(c.value, c.value) for c in Contract],
        default=Contract.SCORE_1_8,
        help_text="Output contract of a custom template (built-in templates set their own).",
    )
    temperature = models.FloatField(default=0.0)
    max_tokens = models.PositiveIntegerField(default=512)
    price_in = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        default=Decimal(0),
        help_text="USD per million input tokens.",
    )
    price_out = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        default=Decimal(0),
        help_text="USD per million output tokens.",
    )
    rpm = models.PositiveIntegerField(default=0, help_text="Requests per minute (0 = no limit).")
    tpm = models.PositiveIntegerField(default=0, help_text="Tokens per minute (0 = no limit).")
    concurrency = models.PositiveIntegerField(default=4, help_text="Calls in flight per run.")
    timeout_s = models.FloatField(default=60.0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(concurrency__gte=1), name="judge_concurrency_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.template == CUSTOM_TEMPLATE:
            try:
                validate_custom(self.template_text)
            except ValueError as error:
                raise ValidationError({"template_text": str(error)}) from error

    @property
    def prompt_template(self) -> Template:
        if self.template == CUSTOM_TEMPLATE:
            return template_for(key="", custom_text=self.template_text, contract=self.contract)
        return template_for(key=self.template)


class Orders(models.TextChoices):
    BOTH = "both", "Both orders"
    ONE = "one", "One order (alternating across pairs)"


class CriteriaMode(models.TextChoices):
    SEPARATE = "separate", "One request per criterion"
    TOGETHER = "together", "One request for all criteria"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"
    BUDGET_STOPPED = "budget_stopped", "Stopped by budget"
    FAILED = "failed", "Failed"


class JudgeRun(models.Model):
    """One judge over a project's pairs.

    `spent_usd` is what the calls cost; `reserved_usd` is the worst-case cost of calls in flight,
    the sum of their calls' `reserved_usd`. Both change only through UPDATEs with F() (the
    reservation a conditional one) so concurrent workers never overrun the budget.

    `watch_generation` names the one live watchdog chain of the run (judges.tasks): arming a new
    one increments it and the older chain stops at its next tick.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="judge_runs")
    judge = models.ForeignKey(Judge, on_delete=models.PROTECT, related_name="runs")
    criteria = models.ManyToManyField(Criterion, related_name="+")
    orders = models.CharField(max_length=4, choices=Orders.choices, default=Orders.BOTH)
    criteria_mode = models.CharField(
        max_length=8, choices=CriteriaMode.choices, default=CriteriaMode.SEPARATE
    )
    status = models.CharField(max_length=15, choices=RunStatus.choices, default=RunStatus.QUEUED)
    budget_usd = models.DecimalField(max_digits=12, decimal_places=4, null=True, blank=True)
    estimated_cost_usd = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal(0))
    estimate_is_approximate = models.BooleanField(default=False)
    estimated_calls = models.PositiveIntegerField(default=0)
    estimated_cached_calls = models.PositiveIntegerField(default=0)
    estimated_prompt_tokens = models.PositiveBigIntegerField(default=0)
    estimated_output_tokens = models.PositiveBigIntegerField(default=0)
    spent_usd = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal(0))
    reserved_usd = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal(0))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    route_disagreements = models.BooleanField(
        default=True,
        help_text="When the run ends, send pairs the judge was inconsistent or split on to "
        "humans first (raises their priority).",
    )
    routed_at = models.DateTimeField(null=True, blank=True)
    watch_generation = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"run {self.pk} of {self.judge_id} on {self.project_id} ({self.status})"


class CallStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    UNPARSED = "unparsed", "Unparsed"
    FAILED = "failed", "Failed"
    SKIPPED_BUDGET = "skipped_budget", "Skipped (budget)"
    CANCELLED = "cancelled", "Cancelled"


ANSWERED = (CallStatus.DONE, CallStatus.UNPARSED)


class JudgeCall(models.Model):
    run = models.ForeignKey(JudgeRun, on_delete=models.CASCADE, related_name="calls")
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="+")
    criterion = models.ForeignKey(Criterion, on_delete=models.CASCADE, related_name="+")
    a_first = models.BooleanField()
    request_hash = models.CharField(max_length=64)
    prompt_tokens_estimate = models.PositiveIntegerField(default=0)
    prompt_tokens_bound = models.PositiveIntegerField(
        default=0, help_text="Most input tokens the request can count (what the budget reserves)."
    )
    status = models.CharField(max_length=15, choices=CallStatus.choices, default=CallStatus.QUEUED)
    claimed_by = models.CharField(
        max_length=300,
        blank=True,
        help_text="The claim of the worker running the call: node name, pid, process boot id and "
        "a token of this claim.",
    )
    reserved_usd = models.DecimalField(
        max_digits=12,
        decimal_places=6,
        default=Decimal(0),
        help_text="The budget this call holds while in flight (released when it ends or is "
        "taken over).",
    )
    raw_response = models.TextField(blank=True)
    shown_preference = models.SmallIntegerField(null=True, blank=True)
    value_shown = models.CharField(max_length=10, blank=True)
    explanation = models.TextField(blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(0))
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    message_seq = models.PositiveIntegerField(
        default=0,
        help_text="Bumped each time the call is published; a task message carrying an older number "
        "was superseded (published again after a crash) and is dropped, so published copies never "
        "pile up.",
    )
    tries = models.PositiveSmallIntegerField(
        default=0,
        help_text="Tries of the call's task that ended without an answer (each of `attempts` "
        "HTTP attempts). Kept here, not in the task message, so a message delivered twice "
        "cannot give a call more tries than its run allows.",
    )
    error = models.TextField(blank=True)
    rating = models.ForeignKey(
        Rating, null=True, blank=True, on_delete=models.SET_NULL, related_name="judge_calls"
    )
    cached_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    enqueued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "pair", "criterion", "a_first"], name="judgecall_unique_unit"
            ),
        ]
        indexes = [
            # Cache lookup: an answered call with the same request hash, in any run.
            models.Index(fields=["request_hash", "status"], name="judgecall_hash_idx"),
            # Progress, concurrency and resume: a run's calls by status.
            models.Index(fields=["run", "status"], name="judgecall_run_status_idx"),
        ]

    def __str__(self) -> str:
        order = "A first" if self.a_first else "B first"
        return f"call {self.pk}: pair {self.pair_id}/{self.criterion_id} {order} ({self.status})"

    @property
    def cached(self) -> bool:
        return self.cached_from_id is not None


class JudgeLimiter(models.Model):
    """The next free request and token slots of a judge, shared by every worker.

    Times are Unix seconds. Updated only under select_for_update (see judges.limiter).
    """

    judge = models.OneToOneField(Judge, on_delete=models.CASCADE, primary_key=True)
    next_request_at = models.FloatField(default=0.0)
    next_tokens_at = models.FloatField(default=0.0)

    def __str__(self) -> str:
        return f"limiter of {self.judge_id}"
