"""HTML pages of judges: the judge list and form, a project's runs, and one run's progress.

Who may do what:
- Judges are global objects. Staff users and users who lead at least one project create and edit
  them (judge_manager_check): a lead can set up the judge their project needs without an admin.
- A project's judge runs: its leads start, estimate, cancel and resume; its researchers read.
  Labelers never see these pages (a judge's verdict must not reach them outside verify mode).
"""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from annotate.models import Role
from annotate.selectors import member_role, project_get_for_member
from concord.api_errors import ApplicationError
from judges.forms import JudgeForm, JudgeRunForm
from judges.models import Judge
from judges.selectors import (
    judge_manager_check,
    judge_run_get_for_member,
    judge_run_pairs,
    judge_run_status,
    judge_run_verdict_rows,
    judge_runs_of_project,
)
from judges.services import (
    judge_create,
    judge_run_cancel,
    judge_run_estimate,
    judge_run_resume,
    judge_run_start,
    judge_update,
)

READERS: set[str] = {Role.LEAD, Role.RESEARCHER}
LEADS: set[str] = {Role.LEAD}
PAIRS_PER_PAGE = 25


@login_required
def judge_list(request: HttpRequest) -> HttpResponse:
    judge_manager_check(user=_user(request))
    return render(request, "judges/judge_list.html", {"judges": Judge.objects.order_by("name")})


@login_required
@require_http_methods(["GET", "POST"])
def judge_form(request: HttpRequest, judge_id: int | None = None) -> HttpResponse:
    judge_manager_check(user=_user(request))
    judge = get_object_or_404(Judge, id=judge_id) if judge_id is not None else None
    # The form writes its cleaned values onto its instance; the service compares with the stored
    # judge, so the form gets a copy of its own.
    instance = Judge.objects.get(id=judge.pk) if judge is not None else None
    form = JudgeForm(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        try:
            if judge is None:
                saved = judge_create(**form.judge_fields())
            else:
                saved = judge_update(judge=judge, **form.judge_fields())
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Saved judge {saved.name}.")
            return redirect("judge_list")
    return render(request, "judges/judge_form.html", {"form": form, "judge": judge})


@login_required
@require_http_methods(["GET", "POST"])
def project_judge_runs(request: HttpRequest, slug: str) -> HttpResponse:
    user = _user(request)
    project = project_get_for_member(user=user, slug=slug, roles=READERS)
    is_lead = member_role(user=user, project=project) == Role.LEAD
    if request.method == "POST" and not is_lead:
        raise PermissionDenied("Only the project's leads start judge runs.")
    form = JudgeRunForm(request.POST or None, project=project)
    context: dict[str, Any] = {"project": project, "form": form, "is_lead": is_lead}
    if request.method == "POST" and form.is_valid():
        try:
            if request.POST.get("action") == "dry_run":
                context["estimate"] = judge_run_estimate(project=project, **form.scope())
            else:
                run = judge_run_start(
                    project=project,
                    created_by=user,
                    budget_usd=form.cleaned_data["budget_usd"],
                    route_disagreements=form.cleaned_data["route_disagreements"],
                    **form.scope(),
                )
                return redirect("judge_run_detail", slug=slug, run_id=run.pk)
        except ApplicationError as error:
            form.add_error(None, error.message)
    context["runs"] = judge_runs_of_project(project=project)
    return render(request, "judges/project_runs.html", context)


@login_required
def judge_run_detail(request: HttpRequest, slug: str, run_id: int) -> HttpResponse:
    user = _user(request)
    run = judge_run_get_for_member(user=user, run_id=run_id, roles=READERS)
    if run.project.slug != slug:
        return redirect("judge_run_detail", slug=run.project.slug, run_id=run.pk)
    page = Paginator(judge_run_pairs(run=run), PAIRS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "project": run.project,
        "run": run,
        "status": judge_run_status(run=run),
        "is_lead": member_role(user=user, project=run.project) == Role.LEAD,
        "page": page,
        "rows": judge_run_verdict_rows(run=run, pairs=list(page.object_list)),
    }
    return render(request, "judges/run_detail.html", context)


@login_required
@require_POST
def judge_run_cancel_view(request: HttpRequest, slug: str, run_id: int) -> HttpResponse:
    run = judge_run_get_for_member(user=_user(request), run_id=run_id, roles=LEADS)
    try:
        judge_run_cancel(run=run)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Cancelled judge run {run.pk}.")
    return redirect("judge_run_detail", slug=run.project.slug, run_id=run.pk)


@login_required
@require_POST
def judge_run_resume_view(request: HttpRequest, slug: str, run_id: int) -> HttpResponse:
    run = judge_run_get_for_member(user=_user(request), run_id=run_id, roles=LEADS)
    try:
        count = judge_run_resume(run=run)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Resumed judge run {run.pk}: {count} requests sent again.")
    return redirect("judge_run_detail", slug=run.project.slug, run_id=run.pk)


def _user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("Log in first.")
    return user
