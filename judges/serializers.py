"""Input and output shapes of the judges API."""

from rest_framework import serializers

from judges.models import CriteriaMode, Orders


class JudgeRunStartInputSerializer(serializers.Serializer):
    judge = serializers.CharField(max_length=150, help_text="The judge's name.")
    orders = serializers.ChoiceField(choices=Orders.choices, default=Orders.BOTH)
    criteria = serializers.ListField(
        child=serializers.CharField(max_length=50), required=False, allow_empty=True
    )
    limit = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    budget_usd = serializers.DecimalField(
        max_digits=12, decimal_places=4, min_value=0, required=False, allow_null=True
    )
    criteria_mode = serializers.ChoiceField(
        choices=CriteriaMode.choices,
        default=CriteriaMode.SEPARATE,
        help_text="together: one request per pair and order scores every criterion.",
    )
    route_disagreements = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Route pairs the judge was inconsistent or split on to humans first when the "
        "run ends; absent or null: the project's option.",
    )
    dry_run = serializers.BooleanField(default=False)


class EstimateSerializer(serializers.Serializer):
    calls = serializers.IntegerField()
    cached_calls = serializers.IntegerField()
    prompt_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost_usd = serializers.DecimalField(max_digits=14, decimal_places=6)
    approximate = serializers.BooleanField()
    note = serializers.CharField()


class JudgeRunStartOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, help_text="Absent for a dry run.")
    status = serializers.CharField(help_text='"dry_run" when nothing was started.')
    estimate = EstimateSerializer()


class RunProgressSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    queued = serializers.IntegerField()
    running = serializers.IntegerField()
    done = serializers.IntegerField()
    unparsed = serializers.IntegerField()
    failed = serializers.IntegerField()
    skipped_budget = serializers.IntegerField()
    cancelled = serializers.IntegerField()
    cached = serializers.IntegerField()
    finished = serializers.IntegerField()


class JudgeRunStatusSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.CharField()
    judge = serializers.CharField()
    status = serializers.CharField()
    active = serializers.BooleanField()
    resumable = serializers.BooleanField()
    error = serializers.CharField(allow_blank=True)
    orders = serializers.CharField()
    criteria_mode = serializers.CharField()
    route_disagreements = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    progress = RunProgressSerializer()
    cost_usd = serializers.DecimalField(max_digits=14, decimal_places=6)
    estimated_cost_usd = serializers.DecimalField(max_digits=14, decimal_places=6)
    budget_usd = serializers.DecimalField(max_digits=12, decimal_places=4, allow_null=True)
    calls_per_minute = serializers.FloatField()


class JudgeRunResumeOutputSerializer(serializers.Serializer):
    requeued = serializers.IntegerField(help_text="Requests sent again.")
    run = JudgeRunStatusSerializer()
