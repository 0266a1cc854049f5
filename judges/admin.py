from django.contrib import admin

from judges.models import Judge, JudgeCall, JudgeRun


@admin.register(Judge)
class JudgeAdmin(admin.ModelAdmin):
    list_display = ["name", "model", "base_url", "template", "rpm", "tpm", "concurrency"]
    search_fields = ["name", "model"]


@admin.register(JudgeRun)
class JudgeRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "project",
        "judge",
        "status",
        "criteria_mode",
        "spent_usd",
        "reserved_usd",
        "budget_usd",
        "created_at",
    ]
    list_filter = ["status"]
    raw_id_fields = ["project", "judge", "created_by"]


@admin.register(JudgeCall)
class JudgeCallAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "run",
        "pair",
        "criterion",
        "a_first",
        "status",
        "cost_usd",
        "attempts",
        "tries",
        "claimed_by",
    ]
    list_filter = ["status"]
    raw_id_fields = ["run", "pair", "criterion", "rating", "cached_from"]
