"""Admin for every annotate model. Foreign keys to big tables are raw ids: a select box with a
million pairs or completions would not load."""

from django.conf import settings
from django.contrib import admin
from django.forms import ModelForm
from django.http import HttpRequest

from annotate import models
from annotate.services.projects import PROJECT_UPDATABLE, project_update


class CriterionInline(admin.TabularInline):
    model = models.Criterion
    extra = 0


class MembershipInline(admin.TabularInline):
    model = models.Membership
    extra = 0
    raw_id_fields = ("user",)


@admin.register(models.Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "mode", "overlap", "lease_minutes", "created_at")
    list_filter = ("mode",)
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    inlines = (CriterionInline, MembershipInline)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, str | list[str]]:
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("lease_minutes", str(settings.ASSIGNMENT_LEASE_MINUTES))
        return initial

    def save_model(
        self, request: HttpRequest, obj: models.Project, form: ModelForm, change: bool
    ) -> None:
        if not change:
            super().save_model(request, obj, form, change)
            return
        # Through the service, so a new overlap also recounts the pairs with room.
        changed = {
            name: form.cleaned_data[name] for name in form.changed_data if name in PROJECT_UPDATABLE
        }
        project_update(project=obj, data=changed)


@admin.register(models.Criterion)
class CriterionAdmin(admin.ModelAdmin):
    list_display = ("key", "project", "question", "scale_points", "tie_option", "position")
    list_filter = ("scale_points", "tie_option", "project")
    search_fields = ("key", "question", "project__name")


@admin.register(models.Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "project", "role")
    list_filter = ("role", "project")
    search_fields = ("user__username", "project__name")
    raw_id_fields = ("user",)
    list_select_related = ("user", "project")


@admin.register(models.PromptSet)
class PromptSetAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "kind", "created_by", "created_at")
    list_filter = ("kind", "project")
    search_fields = ("name", "sha256")
    raw_id_fields = ("created_by",)
    list_select_related = ("project", "created_by")


@admin.register(models.Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ("external_id", "project", "category")
    list_filter = ("project", "category")
    search_fields = ("external_id", "text")
    raw_id_fields = ("prompt_set",)
    list_select_related = ("project",)


@admin.register(models.Completion)
class CompletionAdmin(admin.ModelAdmin):
    list_display = ("id", "prompt", "model")
    list_filter = ("model",)
    search_fields = ("model", "prompt__external_id")
    raw_id_fields = ("prompt",)
    list_select_related = ("prompt",)


@admin.register(models.Pair)
class PairAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "project",
        "prompt",
        "model_a",
        "model_b",
        "claims",
        "a_first_claims",
        "b_first_claims",
        "submitted",
        "priority",
    )
    list_filter = ("project", "priority")
    search_fields = ("prompt__external_id", "model_a", "model_b")
    raw_id_fields = ("prompt", "completion_a", "completion_b")
    list_select_related = ("project", "prompt")


@admin.register(models.Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ("id", "project", "labeler", "pair", "status", "a_shown_first", "created_at")
    list_filter = ("status", "project", "a_shown_first")
    search_fields = ("labeler__username",)
    raw_id_fields = ("pair", "labeler")
    list_select_related = ("project", "labeler", "pair")
    date_hierarchy = "created_at"


@admin.register(models.Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = (
        "id", "pair", "criterion", "rater_kind", "rater", "value_shown", "verdict", "shown_first",
    )  # fmt: skip
    list_filter = ("rater_kind", "verdict", "shown_first", "with_suggestion", "source")
    search_fields = ("rater", "pair__prompt__external_id")
    raw_id_fields = ("pair", "criterion", "user", "assignment")
    list_select_related = ("criterion", "pair")
