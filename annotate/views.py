"""HTML pages: project list, overview, labeling and import.

Each view is access helper -> form -> one service -> redirect or render. The labeling page gets
only the neutral `labeler_view` shape (and what is derived from it), so it cannot leak a model
name or an id that would unblind the labeler.
"""

import contextlib
import time
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import F
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from annotate.forms import ImportForm, RatingForm
from annotate.markdown import render_markdown
from annotate.models import Assignment, Role
from annotate.selectors import (
    assignment_get_for_labeler,
    labeler_progress,
    labeler_view,
    member_role,
    project_get_for_member,
    project_list_for_user,
    project_overview,
)
from annotate.services.assignment import assignment_next, assignment_skip, rating_submit
from annotate.services.import_progress import import_progress_get, import_progress_reporter
from annotate.services.imports import import_file
from concord.api_errors import ApplicationError


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    # The filter and the annotation share one join, so `role` is this user's own role.
    projects = project_list_for_user(user=user).annotate(role=F("memberships__role"))
    return render(request, "annotate/project_list.html", {"projects": projects})


@login_required
def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    user = _user(request)
    project = project_get_for_member(user=user, slug=slug)
    role = member_role(user=user, project=project)
    if role == Role.LABELER:
        progress = labeler_progress(project=project, labeler=user)
        context = {"project": project, "progress": progress}
        return render(request, "annotate/labeler_home.html", context)
    context = {"project": project, "role": role, "overview": project_overview(project=project)}
    return render(request, "annotate/overview.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def label(request: HttpRequest, slug: str) -> HttpResponse:
    user = _user(request)
    project = project_get_for_member(user=user, slug=slug, roles={Role.LABELER})
    if request.method == "GET":
        assignment = assignment_next(project=project, labeler=user)
        if assignment is None:
            progress = labeler_progress(project=project, labeler=user)
            return render(request, "annotate/label_done.html", {"slug": slug, "progress": progress})
        view = labeler_view(assignment=assignment)
        return render(request, "annotate/label.html", _label_context(slug, view, form=None))
    assignment = _posted_assignment(request, project_id=project.pk)
    view = labeler_view(assignment=assignment)
    form = RatingForm(request.POST, criteria=view["criteria"])
    if form.is_valid():
        try:
            rating_submit(
                labeler=user,
                assignment_id=assignment.pk,
                values=form.values(),
                rationale=form.cleaned_data["rationale"],
                time_spent_ms=_time_spent_ms(form.cleaned_data["shown_at"]),
            )
        except ApplicationError as exc:
            if exc.extra.get("withdrawn"):
                # The pair is no longer this labeler's to rate: say why and move on.
                messages.error(request, exc.message)
                return redirect("label", slug=slug)
            form.add_error(None, exc.message)
        else:
            return redirect("label", slug=slug)
    return render(request, "annotate/label.html", _label_context(slug, view, form=form))


@login_required
@require_POST
def label_skip(request: HttpRequest, slug: str) -> HttpResponse:
    user = _user(request)
    project = project_get_for_member(user=user, slug=slug, roles={Role.LABELER})
    assignment = _posted_assignment(request, project_id=project.pk)
    # An assignment submitted meanwhile (another tab) cannot be skipped; the next pair is what the
    # labeler wants either way.
    with contextlib.suppress(ApplicationError):
        assignment_skip(labeler=user, assignment_id=assignment.pk)
    return redirect("label", slug=slug)


@login_required
@require_http_methods(["GET", "POST"])
def import_upload(request: HttpRequest, slug: str) -> HttpResponse:
    user = _user(request)
    project = project_get_for_member(user=user, slug=slug, roles={Role.LEAD})
    if "progress" in request.GET:  # the page polling an upload it is sending
        upload_id = request.GET["progress"]
        return JsonResponse(import_progress_get(project=project, user=user, upload_id=upload_id))
    form = ImportForm(request.POST or None, request.FILES or None)
    context: dict[str, Any] = {"project": project, "form": form}
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            context["result"] = import_file(
                project=project,
                kind=form.cleaned_data["kind"],
                file=upload,
                filename=upload.name,
                acting_user=user,
                progress=import_progress_reporter(
                    project=project, user=user, upload_id=request.POST.get("upload_id", "")
                ),
                **form.import_options(),
            )
        except ApplicationError as exc:
            context["error"] = exc.message
            context["row_errors"] = exc.extra.get("errors", [])
    status = 400 if context.get("error") or form.errors else 200
    return render(request, "annotate/import.html", context, status=status)


def _posted_assignment(request: HttpRequest, *, project_id: int) -> Assignment:
    user = _user(request)
    raw_id = request.POST.get("assignment_id", "")
    if not raw_id.isdigit():
        raise Http404("No such assignment.")
    assignment = assignment_get_for_labeler(labeler=user, assignment_id=int(raw_id))
    if assignment.project_id != project_id:
        raise Http404("No such assignment.")
    return assignment


def _time_spent_ms(shown_at_ms: int | None) -> int | None:
    """Time since the page was rendered; None lets the service fall back to the claim time."""
    if shown_at_ms is None:
        return None
    return max(0, int(time.time() * 1000) - shown_at_ms)


def _label_context(slug: str, view: dict[str, Any], *, form: RatingForm | None) -> dict[str, Any]:
    """Template context built from the labeler view alone (plus the labeler's own input)."""
    data = form.data if form is not None else {}
    errors = form.errors if form is not None else {}
    criteria = []
    for criterion in view["criteria"]:
        name = RatingForm.field_name(criterion["key"])
        options = _scale_options(criterion)
        criteria.append(
            {
                **criterion,
                "field_name": name,
                "selected": data.get(name, ""),
                "error": " ".join(str(e) for e in errors.get(name, [])),
                "points": [o for o in options if o["value"] != "tie"],
                "tie_choice": next((o for o in options if o["value"] == "tie"), None),
                "middle": _middle_point(criterion),
            }
        )
    return {
        "slug": slug,
        "view": view,
        "criteria": criteria,
        "prompt_html": render_markdown(view["prompt"]),
        "responses": [
            {"slot": r["slot"], "html": render_markdown(r["text"])} for r in view["responses"]
        ],
        "instructions_html": render_markdown(view["instructions"]) if view["instructions"] else "",
        "rationale": data.get("rationale", ""),
        "form_errors": form.non_field_errors() if form is not None else [],
        "shown_at": int(time.time() * 1000),
    }


def _scale_options(criterion: dict[str, Any]) -> list[dict[str, str]]:
    """Each choice with its key hint and caption; an odd scale's middle point is the tie."""
    points = criterion["scale_points"]
    middle = _middle_point(criterion)
    options = []
    for choice in criterion["choices"]:
        if choice == "tie":
            options.append(
                {"value": choice, "text": "Tie", "hint": "T", "caption": "About the same"}
            )
            continue
        caption = ""
        if choice == "1":
            caption = criterion["labels"]["low"]
        elif choice == str(points):
            caption = criterion["labels"]["high"]
        elif choice == middle:
            caption = "About the same"
        hint = choice if int(choice) < 10 else ("0" if choice == "10" else "")
        options.append({"value": choice, "text": choice, "hint": hint, "caption": caption})
    return options


def _middle_point(criterion: dict[str, Any]) -> str:
    """The tie point of an odd scale ("" on an even scale)."""
    points = criterion["scale_points"]
    return str(points // 2 + 1) if points % 2 else ""


def _user(request: HttpRequest) -> User:
    """The signed-in user; login_required has already turned anonymous callers away."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("Log in first.")
    return user
