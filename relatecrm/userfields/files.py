"""Files of ``file`` custom fields: stored in the database, served by a download link.

A deal value of a ``file`` field stores the id of a ``uf_files`` row. The file's bytes
live in that row rather than on disk, so an upload commits and rolls back with the
deal that carries it, and several server processes see the same files without a
shared volume. Uploads are capped (``MAX_UPLOAD_BYTES``), which keeps a row small
enough to read whole.

Each file gets a random, unguessable ``token``; the link ``/uf/files/<token>`` is the
only thing needed to download it, exactly like Bitrix's own ``downloadUrl``, which
embeds its authorisation in the URL so that a client can hand the link to a browser.
Whoever can read the deal can read the link; whoever has the link can read the file.

What Bitrix answers for a file value (``crm.deal.get``)::

    {"id": 661474,
     "showUrl": "/bitrix/components/bitrix/crm.deal.show/show_file.php?ownerId=…&fileId=661474",
     "downloadUrl": "/bitrix/components/bitrix/crm.deal.show/show_file.php?auth=&ownerId=…"}

relative paths, the same shape ``links`` returns here. (``crm.item.get`` names its two
links ``url`` and ``urlMachine`` instead; renaming is the item adapter's business.)
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import mimetypes
import posixpath
import secrets
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete as sql_delete
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.userfields.models import uf_deal_values, uf_files, user_fields

# The download route's prefix; the adapter that serves it mounts ``DOWNLOAD_PREFIX +
# "{token}"``. Not under /rest/, which is the Bitrix method router.
DOWNLOAD_PREFIX = "/uf/files/"
MAX_UPLOAD_BYTES = 8 * 1024 * 1024
NAME_LENGTH = 255  # uf_files.name
TOKEN_BYTES = 32  # 43 URL-safe characters, 256 bits of entropy
DEFAULT_TYPE = "application/octet-stream"
# Compressed files by their outer encoding: ``a.tar.gz`` is served as gzip, not as tar.
_ENCODING_TYPES = {"gzip": "application/gzip", "bzip2": "application/x-bzip2",
                   "xz": "application/x-xz"}  # fmt: skip
# Only Python's built-in table, not /etc/mime.types: the same name gets the same type
# on every machine.
_TYPES = mimetypes.MimeTypes()
# Rows per statement when ids come in bulk: far below either backend's parameter limit.
_CHUNK = 500


class InvalidUpload(ValueError):
    """An uploaded file value cannot be stored; the message says why."""


@dataclass(frozen=True)
class StoredFile:
    """A file as the download route serves it; ``data`` is None when not asked for."""

    id: int
    name: str
    content_type: str
    size: int
    data: bytes | None


def clean_name(raw: str) -> str:
    """The file name to keep: the last path component, without control characters.

    Clients send names like ``C:\\Users\\me\\offer.pdf`` or ``../../etc/passwd``; only
    the last component is a name. Control and format characters (NUL, CR/LF, the
    right-to-left override that disguises ``gpj.exe``) are dropped; the rest is
    kept, so Unicode names survive. Too long a name keeps its extension.
    """
    name = raw.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in {"Cc", "Cf", "Cs"})
    name = name.strip()
    if name in {"", ".", ".."}:
        raise InvalidUpload("The file name is empty.")
    if len(name) > NAME_LENGTH:
        stem, ext = posixpath.splitext(name)
        if len(ext) > 20:
            stem, ext = name, ""
        name = stem[: NAME_LENGTH - len(ext)] + ext
    return name


def content_type(name: str) -> str:
    """The MIME type the name's extension implies, or ``application/octet-stream``."""
    guessed, encoding = _TYPES.guess_type(name, strict=False)
    if encoding is not None:
        return _ENCODING_TYPES.get(encoding, DEFAULT_TYPE)
    return guessed or DEFAULT_TYPE


def _pair(value: Any) -> list[Any] | None:
    """``[a, b]`` from a list or from a form-decoded ``{"0": a, "1": b}``."""
    if isinstance(value, list | tuple):
        return list(value)
    if isinstance(value, dict) and set(value) == {"0", "1"}:
        return [value["0"], value["1"]]
    return None


def decode_upload(value: Any, *, limit: int = MAX_UPLOAD_BYTES) -> tuple[str, bytes]:
    """``(name, content)`` of an uploaded file value, or ``InvalidUpload`` (a ValueError).

    Accepted shapes, as Bitrix accepts them in ``fields``:

    - ``{"fileData": ["offer.pdf", "<base64>"]}``
    - ``["offer.pdf", "<base64>"]``

    and either pair as the ``{"0": name, "1": base64}`` map that form and batch
    encodings produce. Other keys next to ``fileData`` are ignored. The base64 may be
    wrapped in lines and may omit its padding (PHP's decoder accepts both); any other
    character is an error rather than silently skipped, so a truncated or mangled
    upload is refused instead of stored damaged. The name goes through ``clean_name``
    (path components stripped; empty is an error). Content over ``limit`` bytes is an
    error, checked on the encoded length first so an oversized upload is never decoded.
    An empty file is accepted.
    """
    if isinstance(value, dict) and "fileData" in value:
        value = value["fileData"]
    pair = _pair(value)
    if pair is None or len(pair) != 2:
        raise InvalidUpload('A file is expected as {"fileData": ["name", "base64 content"]}.')
    raw_name, encoded = pair
    if not isinstance(raw_name, str):
        raise InvalidUpload("The file name must be a string.")
    if not isinstance(encoded, str):
        raise InvalidUpload("The file content must be a base64 string.")
    name = clean_name(raw_name)
    compact = "".join(encoded.split())
    if len(compact) > 4 * (-(-limit // 3)):
        raise InvalidUpload(f"The file is larger than {limit} bytes.")
    compact = compact.rstrip("=")
    compact += "=" * (-len(compact) % 4)
    try:
        content = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidUpload("The file content is not valid base64.") from None
    if len(content) > limit:
        raise InvalidUpload(f"The file is larger than {limit} bytes.")
    return name, content


def download_path(token: str) -> str:
    return DOWNLOAD_PREFIX + token


async def store(conn: AsyncConnection, *, name: str, content: bytes, now: dt.datetime) -> int:
    """Keep an uploaded file; its id is what the deal value stores."""
    clean = clean_name(name)
    result = await conn.execute(
        insert(uf_files)
        .values(
            name=clean,
            content_type=content_type(clean),
            size=len(content),
            data=content,
            token=secrets.token_urlsafe(TOKEN_BYTES),
            created_at=now,
        )
        .returning(uf_files.c.id)
    )
    return int(result.scalar_one())


def _chunks(file_ids: Sequence[int]) -> Iterator[list[int]]:
    unique = sorted({int(i) for i in file_ids})
    for start in range(0, len(unique), _CHUNK):
        yield unique[start : start + _CHUNK]


async def links(conn: AsyncConnection, file_ids: list[int]) -> dict[int, dict[str, Any]]:
    """``{id: {"id": id, "showUrl": path, "downloadUrl": path}}`` for the files that exist.

    Both links are the same path: the route always answers with an attachment, because
    showing uploaded HTML or SVG inline on the server's own origin would let any
    uploader run script in the viewer's session.
    """
    found: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(file_ids):
        rows = await conn.execute(
            select(uf_files.c.id, uf_files.c.token).where(uf_files.c.id.in_(chunk))
        )
        for file_id, token in rows:
            path = download_path(token)
            found[int(file_id)] = {"id": int(file_id), "showUrl": path, "downloadUrl": path}
    return found


async def delete(conn: AsyncConnection, file_ids: list[int]) -> None:
    """Forget files no value refers to any more.

    Call it after the value rows that named the files are gone (or changed). A file
    that some value of a ``file`` field still names is kept: a wrong id here then
    costs a stray row, never a broken link on another deal.
    """
    for chunk in _chunks(file_ids):
        still_used = (
            select(uf_deal_values.c.value_int)
            .join(user_fields, user_fields.c.id == uf_deal_values.c.field_id)
            .where(user_fields.c.user_type_id == "file", uf_deal_values.c.value_int.in_(chunk))
        )
        await conn.execute(
            sql_delete(uf_files).where(uf_files.c.id.in_(chunk), uf_files.c.id.not_in(still_used))
        )


async def find(conn: AsyncConnection, token: str, *, with_data: bool = True) -> StoredFile | None:
    """The file behind a download token, or None; ``with_data=False`` for a HEAD."""
    columns = [uf_files.c.id, uf_files.c.name, uf_files.c.content_type, uf_files.c.size]
    if with_data:
        columns.append(uf_files.c.data)
    row = (await conn.execute(select(*columns).where(uf_files.c.token == token))).first()
    if row is None:
        return None
    return StoredFile(
        id=int(row.id),
        name=row.name,
        content_type=row.content_type,
        size=int(row.size),
        data=bytes(row.data) if with_data else None,
    )
