"""Projects, prompts, completions, pairs, assignments and ratings.

A pair is stored in canonical order: A is the completion whose model name sorts first. Every
rating keeps the value as the rater saw it and the canonical signed preference (negative = A
better, 0 = tie, positive = B better) from which the three-way verdict follows.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q


class ProjectMode(models.TextChoices):
    BLIND = "blind", "Blind"
    VERIFY = "verify", "Verify (judge suggestion shown)"


class Role(models.TextChoices):
    LEAD = "lead", "Lead"
    LABELER = "labeler", "Labeler"
    RESEARCHER = "researcher", "Researcher"


class Project(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    instructions = models.TextField(blank=True, help_text="Markdown shown to labelers.")
    overlap = models.PositiveSmallIntegerField(
        default=3, help_text="How many labelers rate each pair."
    )
    mode = models.CharField(max_length=10, choices=ProjectMode.choices, default=ProjectMode.BLIND)
    lease_minutes = models.PositiveIntegerField(
        default=30, help_text="Minutes before an unsubmitted assignment returns to the pool."
    )
    route_by_judge = models.BooleanField(
        default=False,
        help_text="When a judge run ends, pairs the judge was inconsistent across orders or split "
        "on go to labelers first. Off by default: it makes the pairs humans rate first a sample "
        "of the hard ones rather than of all pairs.",
    )
    open_pairs = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="Pairs with fewer than `overlap` claims; kept by the assignment and import "
        "services so labeler progress needs no count over every pair.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(overlap__gte=1), name="project_overlap_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class Criterion(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="criteria")
    key = models.SlugField(max_length=50)
    question = models.CharField(max_length=300)
    scale_points = models.PositiveSmallIntegerField(default=8)
    tie_option = models.BooleanField(
        default=True, help_text="Offer an explicit 'about the same' choice."
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["project_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "key"], name="criterion_unique_key"),
            models.CheckConstraint(
                condition=Q(scale_points__gte=2, scale_points__lte=11),
                name="criterion_scale_2_to_11",
            ),
        ]

    def __str__(self) -> str:
        return self.key

    @property
    def strength_max(self) -> int:
        """K: the largest strength of preference on this scale (points per side)."""
        return self.scale_points // 2

    @property
    def has_middle(self) -> bool:
        return self.scale_points % 2 == 1


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=12, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.project}"


class PromptSet(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompt_sets")
    name = models.CharField(max_length=255)
    kind = models.CharField(max_length=20)
    sha256 = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class Prompt(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompts")
    prompt_set = models.ForeignKey(PromptSet, on_delete=models.CASCADE, related_name="prompts")
    external_id = models.CharField(max_length=200)
    text = models.TextField()
    category = models.CharField(max_length=200, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "external_id"], name="prompt_unique_external_id"
            ),
        ]

    def __str__(self) -> str:
        return self.external_id


class Completion(models.Model):
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="completions")
    model = models.CharField(max_length=200)
    text = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["prompt", "model"], name="completion_unique_model"),
        ]

    def __str__(self) -> str:
        return f"{self.prompt_id}/{self.model}"


class Pair(models.Model):
    """Two completions of one prompt, A = the model name that sorts first.

    `claims` counts the places used of the pair's `overlap`: open and submitted assignments, and
    imported human raters. `a_first_claims` and `b_first_claims` count those with a known shown
    order (an imported rating may have none). `expired_lean` is A-first minus B-first leases that
    expired unsubmitted: their labelers may still submit late, so a tied pair leans the other way.
    These change only in the assignment and import services, by conditional UPDATEs.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="pairs")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="pairs")
    completion_a = models.ForeignKey(Completion, on_delete=models.CASCADE, related_name="+")
    completion_b = models.ForeignKey(Completion, on_delete=models.CASCADE, related_name="+")
    model_a = models.CharField(max_length=200)
    model_b = models.CharField(max_length=200)
    claims = models.PositiveIntegerField(default=0)
    a_first_claims = models.PositiveIntegerField(default=0)
    b_first_claims = models.PositiveIntegerField(default=0, db_default=0)
    expired_lean = models.IntegerField(default=0, db_default=0)
    submitted = models.PositiveIntegerField(default=0)
    priority = models.SmallIntegerField(
        default=0, help_text="Higher goes to labelers first (e.g. pairs a judge split on)."
    )

    class Meta:
        constraints = [
            # No CHECK model_a < model_b: the database would compare by its collation (en_US puts
            # "claude" before "GPT-4"), while canonical order is Python's code-point order, which
            # the import services apply.
            models.UniqueConstraint(fields=["prompt", "model_a", "model_b"], name="pair_unique"),
        ]
        indexes = [
            # assignment_next: open pairs of a project, most urgent and least rated first.
            models.Index(fields=["project", "-priority", "claims", "id"], name="pair_next_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.prompt_id}: {self.model_a} vs {self.model_b}"


class AssignmentStatus(models.TextChoices):
    OPEN = "open", "Open"
    SUBMITTED = "submitted", "Submitted"
    SKIPPED = "skipped", "Skipped"
    EXPIRED = "expired", "Expired"


class Assignment(models.Model):
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="assignments")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments")
    labeler = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    a_shown_first = models.BooleanField()
    status = models.CharField(
        max_length=10, choices=AssignmentStatus.choices, default=AssignmentStatus.OPEN
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    time_spent_ms = models.PositiveIntegerField(null=True, blank=True)
    judge_suggestion_shown = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["pair", "labeler"], name="assignment_once_per_labeler"),
        ]
        indexes = [
            # assignment_next: the labeler's open assignment in a project, if any.
            models.Index(fields=["project", "labeler", "status"], name="assignment_labeler_idx"),
            # assignment_expire: open assignments past their lease.
            models.Index(
                fields=["project", "expires_at"],
                condition=Q(status="open"),
                name="assignment_open_expiry_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"assignment {self.pk} of pair {self.pair_id} to {self.labeler_id}"


class RaterKind(models.TextChoices):
    HUMAN = "human", "Human"
    LLM = "llm", "LLM"


class Verdict(models.TextChoices):
    A = "a", "A better"
    TIE = "tie", "Tie"
    B = "b", "B better"


class ShownFirst(models.TextChoices):
    A = "a", "A shown first"
    B = "b", "B shown first"
    UNKNOWN = "", "Unknown"


class Rating(models.Model):
    pair = models.ForeignKey(Pair, on_delete=models.CASCADE, related_name="ratings")
    criterion = models.ForeignKey(Criterion, on_delete=models.CASCADE, related_name="ratings")
    rater_kind = models.CharField(max_length=5, choices=RaterKind.choices)
    rater = models.CharField(max_length=150, help_text="Username, external rater id or judge name.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    assignment = models.ForeignKey(
        Assignment, null=True, blank=True, on_delete=models.SET_NULL, related_name="ratings"
    )
    shown_first = models.CharField(
        max_length=1, choices=ShownFirst.choices, blank=True, default=ShownFirst.UNKNOWN
    )
    value_shown = models.CharField(
        max_length=10, blank=True, help_text="Scale point as shown, or 'tie'."
    )
    preference = models.SmallIntegerField(help_text="Canonical: negative = A better.")
    verdict = models.CharField(max_length=3, choices=Verdict.choices)
    with_suggestion = models.BooleanField(
        default=False, help_text="The rater saw a judge's suggestion (verify mode)."
    )
    rationale = models.TextField(blank=True)
    source = models.CharField(max_length=20, default="labeling")
    created_at = models.DateTimeField(auto_now_add=True)
    # A judge's verdict is rewritten in place when its call is answered again; the report's
    # cache version reads the latest change. `.update()` does not set it: pass it explicitly.
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["pair", "criterion", "rater"],
                condition=Q(rater_kind="human"),
                name="rating_human_once",
            ),
            models.UniqueConstraint(
                fields=["pair", "criterion", "rater", "shown_first"],
                condition=Q(rater_kind="llm"),
                name="rating_llm_once_per_order",
            ),
        ]
        indexes = [
            # report and progress: all ratings of a project's criterion.
            models.Index(fields=["criterion", "rater_kind"], name="rating_criterion_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.rater} on {self.pair_id}/{self.criterion_id}: {self.verdict}"
