"""The researcher's report page and its downloads (JSON, self-contained HTML, CSV zip)."""

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from analysis.forms import ReportFilterForm
from analysis.models import ReportStatus
from analysis.services import ReportParams, ReportResult, report_get
from analysis.tables import csv_zip
from annotate.models import Project, Role
from annotate.selectors import project_get_for_member
from concord.api_errors import ApplicationError

REPORT_ROLES: set[str] = {Role.LEAD, Role.RESEARCHER}


def _user(request: HttpRequest) -> User:
    """The signed-in user; login_required has already turned anonymous callers away."""
    if not isinstance(request.user, User):
        raise PermissionDenied("Log in first.")
    return request.user


def _report(request: HttpRequest, slug: str) -> tuple[Project, ReportFilterForm, ReportResult]:
    project = project_get_for_member(user=_user(request), slug=slug, roles=REPORT_ROLES)
    form = ReportFilterForm(request.GET, project=project)
    params = form.params() if form.is_valid() else ReportParams()
    return project, form, report_get(project=project, params=params)


@login_required
def report_page(request: HttpRequest, slug: str) -> HttpResponse:
    # matplotlib loads here, not with the URLs: other pages and commands need not wait for it.
    from analysis.html_out import report_context

    context: dict[str, Any] = {"query": request.GET.urlencode()}
    try:
        project, form, result = _report(request, slug)
    except ApplicationError as error:
        project = project_get_for_member(user=_user(request), slug=slug, roles=REPORT_ROLES)
        form, result = ReportFilterForm(request.GET, project=project), None
        context["error"] = error.message
    context |= {"project": project, "form": form, "result": result}
    if result is not None and result.report is not None:
        context |= report_context(result.report, result.extras)
    # 503 when a worker is needed but unreachable: the page says why, a retry may succeed.
    status = 503 if "error" in context else 200
    return render(request, "analysis/report.html", context, status=status)


@login_required
def report_download(request: HttpRequest, slug: str, kind: str) -> HttpResponse:
    project, _, result = _report(request, slug)
    if result.status != ReportStatus.READY or result.report is None:
        return HttpResponse("The report is still being computed; try again shortly.", status=409)
    name = f"concord-report-{project.slug}"
    if kind == "json":
        body, content_type = json.dumps(result.report, indent=2), "application/json"
    elif kind == "html":
        from analysis.html_out import report_html_file

        body, content_type = report_html_file(result.report, result.extras), "text/html"
    elif kind == "csv":
        response = HttpResponse(csv_zip(result.report), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{name}-csv.zip"'
        return response
    else:
        raise Http404("No such format.")
    response = HttpResponse(body, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.{kind}"'
    return response
