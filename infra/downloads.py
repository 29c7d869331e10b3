"""`GET /v1/documents/{id}`: a document's content, for whoever may read it and its record;
`GET /v1/imports/{id}/errors`: an import's error report, for whoever may read imports.

Streamed from the blob store with its type and length, `Range` requests answered (206); sent
as an attachment with `nosniff`, so a stored HTML file is never rendered as this site's page.
What the caller may not see is a 404, as if it did not exist.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated, Literal
from uuid import UUID

from anyio import to_thread
from fastapi import FastAPI, Request, Security
from fastapi.responses import FileResponse, Response
from fastapi.security import HTTPAuthorizationCredentials
from starlette.background import BackgroundTask

from automation.imports.report import write_csv, write_xlsx
from automation.imports.runner import error_report
from commands.http import BEARER
from commands.problems import problem
from domain.import_job import ImportJob
from eventstore import EventStore
from infra.blobs import DiskBlobStore
from projections.imports.queries import ImportReads
from read_api.context import ReadApi
from read_api.documents import readable_document
from read_api.errors import Forbidden, PublicError
from read_api.ports import Viewer


async def _viewer(
    api: ReadApi, request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Viewer | Response:
    """Who downloads (as GraphQL would see them), or the problem answer saying why not."""
    try:
        viewer = api.authenticate(f"Bearer {credentials.credentials}" if credentials else None)
    except PublicError as refused:
        title = "Unauthorized" if refused.status == 401 else "Forbidden"
        return problem(request, refused.status or 403, title, str(refused))
    await api.ready()
    return viewer


def _attachment(
    path: Path, media_type: str, filename: str, background: BackgroundTask | None = None
) -> FileResponse:
    """A file sent as an attachment that is never rendered as this site's page nor cached."""
    return FileResponse(
        path,
        media_type=media_type,
        filename=filename,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"},
        background=background,
    )


def mount_downloads(app: FastAPI, api: ReadApi, blobs: DiskBlobStore) -> None:
    @app.get(
        "/v1/documents/{document_id}",
        tags=["documents"],
        response_class=FileResponse,
        responses={404: {"description": "No such document, or not one the caller may read"}},
    )
    async def download_document(
        document_id: UUID,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
    ) -> Response:
        """A document's content (`Range` supported), permission-checked like its record."""
        viewer = await _viewer(api, request, credentials)
        if not isinstance(viewer, Viewer):
            return viewer
        document = await readable_document(api, viewer, document_id)
        path = blobs.path_of(document.sha256) if document is not None else None
        if document is None or path is None or not path.is_file():
            return problem(request, 404, "Not found", "no document with this id")
        return _attachment(path, document.content_type, document.filename)


def mount_import_reports(
    app: FastAPI, api: ReadApi, store: EventStore, blobs: DiskBlobStore
) -> None:
    @app.get(
        "/v1/imports/{import_id}/errors",
        tags=["imports"],
        response_class=FileResponse,
        responses={404: {"description": "No such import, or not one the caller may read"}},
    )
    async def import_error_report(
        import_id: UUID,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
        format: Literal["xlsx", "csv"] = "xlsx",
    ) -> Response:
        """An import's failed rows as they were in its file, with an added `error` column
        (cells that a spreadsheet would run as formulas are escaped)."""
        viewer = await _viewer(api, request, credentials)
        if not isinstance(viewer, Viewer):
            return viewer
        async with api.session(viewer.tenant_id, reader=viewer) as reads:
            try:
                row = (await reads.of(ImportReads).by_ids([import_id])).get(import_id)
            except Forbidden:
                row = None
        job = await to_thread.run_sync(store.find, ImportJob, import_id) if row else None
        if job is None or job.tenant_id != viewer.tenant_id:
            return problem(request, 404, "Not found", "no import with this id")
        stem = job.filename.rsplit(".", 1)[0]
        report = await to_thread.run_sync(_write_report, job, blobs.path_of(job.sha256), format)
        return _attachment(
            report,
            REPORT_TYPES[format],
            f"{stem}-errors.{format}",
            BackgroundTask(report.unlink, missing_ok=True),
        )


REPORT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}


def _write_report(job: ImportJob, source: Path, format: str) -> Path:
    header, rows = error_report(job, source)
    handle, name = tempfile.mkstemp(suffix=f".{format}", prefix="bsdflow-report-")
    os.close(handle)
    path = Path(name)
    (write_xlsx if format == "xlsx" else write_csv)(path, header, rows)
    return path
