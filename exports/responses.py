"""The HTTP response of an export, shared by the page and the API."""

import tempfile

from django.http import FileResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

from annotate.models import Project
from exports.services import ExportFormat, ExportSpec, export_stream, export_write


def export_response(*, project: Project, spec: ExportSpec) -> HttpResponseBase:
    """CSV/JSONL/DPO stream as they are read, so no request waits for the whole file.

    Parquet needs its footer written last, so it goes to an anonymous temporary file (row group by
    row group) that is streamed back and removed when the response closes it.
    """
    filename = spec.filename(project=project)
    if spec.format == ExportFormat.PARQUET:
        # Not a `with`: the response closes (and so deletes) the file once it has been sent.
        handle = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            export_write(project=project, spec=spec, out=handle)
        except BaseException:
            handle.close()
            raise
        handle.seek(0)
        return FileResponse(
            handle, as_attachment=True, filename=filename, content_type=spec.content_type
        )
    response = StreamingHttpResponse(
        export_stream(project=project, spec=spec), content_type=spec.content_type
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    # Proxies such as nginx would otherwise buffer the whole stream before sending it on.
    response["X-Accel-Buffering"] = "no"
    return response
