"""``GET /uf/files/{token}``: the download link of a ``file`` custom field value.

The link is the whole authorisation, like the ``downloadUrl`` Bitrix renders with its
auth embedded: a client can pass it to a browser or ``curl`` with no webhook code.
The token is 256 random bits (``userfields.files``), and the route reveals nothing
else: an unknown or malformed token is a plain 404, the same either way.

Every answer is an attachment with ``nosniff`` and a sandboxing CSP, so an uploaded
HTML or SVG file is never rendered as a page of this origin. The name goes into
``Content-Disposition`` only as an ASCII fallback plus RFC 5987 ``filename*``, both
escaped, so no uploaded name can break or add a header. Files are at most 8 MiB and
kept in one row, so the body is sent from memory in one piece; HEAD reads no bytes.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request
from starlette.responses import Response

from relatecrm.db import transaction
from relatecrm.userfields import files

# ``path``, so that every URL under the prefix (``/uf/files/a/b`` too) gets this route's
# own 404 with its headers, not the framework's.
ROUTE = files.DOWNLOAD_PREFIX + "{token:path}"
# What secrets.token_urlsafe produces; anything else cannot be a token.
TOKEN = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ASCII_UNSAFE = re.compile(r'[^\x20-\x7e]|["\\;%]')
COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    # The URL is a secret: no shared cache may keep the answer.
    "Cache-Control": "private, no-store",
    "Referrer-Policy": "no-referrer",
}


def content_disposition(name: str) -> str:
    """``attachment; filename="<ascii>"; filename*=UTF-8''<percent-encoded>``."""
    fallback = _ASCII_UNSAFE.sub("_", name) or "file"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _not_found() -> Response:
    return Response(
        b"File not found.\n",
        status_code=404,
        headers={**COMMON_HEADERS, "Content-Type": "text/plain; charset=utf-8"},
    )


class FileDownload:
    """The route's handler, bound to the app's engine (see ``app.create_app``)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def handle(self, request: Request) -> Response:
        token = str(request.path_params.get("token", ""))
        if not TOKEN.fullmatch(token):
            return _not_found()
        head = request.method == "HEAD"
        async with transaction(self.engine, write=False) as conn:
            stored = await files.find(conn, token, with_data=not head)
        if stored is None:
            return _not_found()
        body = stored.data or b""
        headers = {
            **COMMON_HEADERS,
            "Content-Type": stored.content_type,
            "Content-Length": str(stored.size if head else len(body)),
            "Content-Disposition": content_disposition(stored.name),
        }
        return Response(body, status_code=200, headers=headers)
