"""The researcher's export page and its download."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render

from annotate.models import Project, Role
from annotate.selectors import project_get_for_member
from concord.api_errors import ApplicationError
from exports.forms import ExportForm
from exports.responses import export_response
from exports.selectors import project_criterion_keys, project_judge_names
from exports.services import export_spec_check

EXPORT_ROLES = {Role.LEAD.value, Role.RESEARCHER.value}


def _form(project: Project, data: object = None) -> ExportForm:
    return ExportForm(
        data,
        criteria=project_criterion_keys(project=project),
        judges=project_judge_names(project=project),
    )


@login_required
def export_page(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_get_for_member(user=request.user, slug=slug, roles=EXPORT_ROLES)  # type: ignore[arg-type]
    return render(request, "exports/export.html", {"project": project, "form": _form(project)})


@login_required
def export_download(request: HttpRequest, slug: str) -> HttpResponseBase:
    project = project_get_for_member(user=request.user, slug=slug, roles=EXPORT_ROLES)  # type: ignore[arg-type]
    form = _form(project, request.GET)
    if form.is_valid():
        try:
            spec = export_spec_check(project=project, **form.cleaned_data)
        except ApplicationError as exc:
            form.add_error(exc.extra.get("field"), exc.message)
        else:
            return export_response(project=project, spec=spec)
    context = {"project": project, "form": form}
    return render(request, "exports/export.html", context, status=400)
