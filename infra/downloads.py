"""`GET /v1/documents/{id}`: a document's content, for whoever may read it and its record.

Streamed from the blob store with its type and length, `Range` requests answered (206); sent
as an attachment with `nosniff`, so a stored HTML file is never rendered as this site's page.
What the caller may not see is a 404, as if it did not exist.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import FastAPI, Request, Security
from fastapi.responses import FileResponse, Response
from fastapi.security import HTTPAuthorizationCredentials

from commands.http import BEARER
from commands.problems import problem
from infra.blobs import DiskBlobStore
from read_api.context import ReadApi
from read_api.documents import readable_document
from read_api.errors import PublicError


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
        authorization = f"Bearer {credentials.credentials}" if credentials else None
        try:
            viewer = api.authenticate(authorization)
        except PublicError as refused:
            title = "Unauthorized" if refused.status == 401 else "Forbidden"
            return problem(request, refused.status or 403, title, str(refused))
        await api.ready()
        document = await readable_document(api, viewer, document_id)
        path = blobs.path_of(document.sha256) if document is not None else None
        if document is None or path is None or not path.is_file():
            return problem(request, 404, "Not found", "no document with this id")
        return FileResponse(
            path,
            media_type=document.content_type,
            filename=document.filename,
            headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"},
        )
