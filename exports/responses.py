"""The HTTP response of an export, shared by the page and the API."""

from django.http import StreamingHttpResponse
from django.http.response import HttpResponseBase

from annotate.models import Project
from exports.services import ExportSpec, export_stream


def export_response(*, project: Project, spec: ExportSpec) -> HttpResponseBase:
    """Every format streams as it is read, so no request waits for (or holds) the whole file.

    Parquet too: its row groups go out as they are written and its footer comes last.
    """
    filename = spec.filename(project=project)
    response = StreamingHttpResponse(
        export_stream(project=project, spec=spec), content_type=spec.content_type
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    # Proxies such as nginx would otherwise buffer the whole stream before sending it on.
    response["X-Accel-Buffering"] = "no"
    return response
