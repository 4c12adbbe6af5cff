"""Files of ``file`` custom fields: storage, links, cleanup, upload decoding, download route.

Storage runs on both backends (the ``db`` fixture); the route goes through the real
ASGI app, so routing, headers and the 404 are what a client sees.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import AsyncIterator
from urllib.parse import unquote

import httpx
import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from relatecrm.app import create_app
from relatecrm.config import Settings
from relatecrm.db import transaction
from relatecrm.deals.models import deals
from relatecrm.userfields import files
from relatecrm.userfields.models import uf_deal_values, uf_files, user_fields

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
PDF = b"%PDF-1.4 fake\x00\xff\x10 binary"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def store(engine: AsyncEngine, name: str, content: bytes = PDF) -> int:
    async with transaction(engine) as conn:
        return await files.store(conn, name=name, content=content, now=NOW)


async def links(engine: AsyncEngine, ids: list[int]) -> dict[int, dict[str, object]]:
    async with transaction(engine, write=False) as conn:
        return await files.links(conn, ids)


async def _deal(conn: AsyncConnection) -> int:
    """A bare deal row for value rows to point at."""
    values = dict(title="d", stage_id="NEW", currency_id="USD", category_id=0, assigned_by_id=1,
                  created_by_id=1, modify_by_id=1, moved_by_id=1, date_create=NOW,
                  date_modify=NOW, moved_time=NOW)  # fmt: skip
    return int(
        (await conn.execute(insert(deals).values(**values).returning(deals.c.id))).scalar_one()
    )


@pytest.fixture
async def http(db: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(database_url=db.url.render_as_string(hide_password=False)))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        yield client
    await app.state.engine.dispose()


# Storage.


async def test_store_keeps_bytes_size_type_and_an_unguessable_token(db: AsyncEngine) -> None:
    first = await store(db, "offer.pdf")
    second = await store(db, "offer.pdf")
    async with db.connect() as conn:
        rows = {r.id: r for r in await conn.execute(select(uf_files))}
    assert rows[first].data == PDF
    assert rows[first].size == len(PDF)
    assert rows[first].content_type == "application/pdf"
    assert rows[first].name == "offer.pdf"
    assert rows[first].created_at == NOW
    assert rows[first].token != rows[second].token
    assert len(rows[first].token) >= 43  # 256 bits, URL-safe


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("photo.PNG", "image/png"),
        ("notes.txt", "text/plain"),
        ("backup.tar.gz", "application/gzip"),
        ("no-extension", "application/octet-stream"),
        ("weird.zzzunknown", "application/octet-stream"),
    ],
)
def test_content_type_is_guessed_from_the_name(name: str, expected: str) -> None:
    assert files.content_type(name) == expected


async def test_links_are_relative_paths_for_existing_files_only(db: AsyncEngine) -> None:
    one = await store(db, "a.pdf")
    two = await store(db, "b.pdf")
    found = await links(db, [one, two, two, 999_999])
    assert set(found) == {one, two}
    link = found[one]
    assert link["id"] == one
    assert link["showUrl"] == link["downloadUrl"]
    path = str(link["downloadUrl"])
    assert path.startswith("/uf/files/") and "://" not in path
    assert await links(db, []) == {}


async def _field(conn: AsyncConnection, name: str, user_type_id: str) -> int:
    """A bare deal field definition, written straight into the table."""
    values = {"entity_id": "CRM_DEAL", "field_name": name, "user_type_id": user_type_id,
              "settings": {}, "labels": {}, "created_at": NOW}  # fmt: skip
    inserted = await conn.execute(insert(user_fields).values(**values).returning(user_fields.c.id))
    return int(inserted.scalar_one())


async def test_delete_removes_files_no_value_names(db: AsyncEngine) -> None:
    kept_by_value = await store(db, "kept.pdf")
    dropped = await store(db, "dropped.pdf")
    untouched = await store(db, "other.pdf")
    async with transaction(db) as conn:
        deal = await _deal(conn)
        field = await _field(conn, "UF_CRM_DOC", "file")
        await conn.execute(
            insert(uf_deal_values).values(deal_id=deal, field_id=field, value_int=kept_by_value)
        )
        await files.delete(conn, [kept_by_value, dropped, 12345])
        await files.delete(conn, [])
    async with db.connect() as conn:
        left = set((await conn.execute(select(uf_files.c.id))).scalars())
    assert left == {kept_by_value, untouched}


async def test_an_integer_field_with_the_same_number_does_not_keep_a_file(db: AsyncEngine) -> None:
    file_id = await store(db, "x.pdf")
    async with transaction(db) as conn:
        deal = await _deal(conn)
        field = await _field(conn, "UF_CRM_NUM", "integer")
        await conn.execute(
            insert(uf_deal_values).values(deal_id=deal, field_id=field, value_int=file_id)
        )
        await files.delete(conn, [file_id])
    async with db.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(uf_files))).scalar_one() == 0


async def test_store_rolls_back_with_the_transaction(db: AsyncEngine) -> None:
    with pytest.raises(RuntimeError):
        async with transaction(db) as conn:
            await files.store(conn, name="a.pdf", content=b"x", now=NOW)
            raise RuntimeError("the deal write failed")
    async with db.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(uf_files))).scalar_one() == 0


# Decoding uploads.


@pytest.mark.parametrize(
    "value",
    [
        {"fileData": ["offer.pdf", b64(PDF)]},
        ["offer.pdf", b64(PDF)],
        {"fileData": {"0": "offer.pdf", "1": b64(PDF)}},  # form / batch encoding
        {"0": "offer.pdf", "1": b64(PDF)},
        {"fileData": ["offer.pdf", b64(PDF).rstrip("=")]},  # padding left out
        {"fileData": ["offer.pdf", "\n".join(b64(PDF * 9)[i : i + 8] for i in range(0, 200, 8))]},
    ],
)
def test_decode_upload_accepts_the_bitrix_shapes(value: object) -> None:
    name, content = files.decode_upload(value)
    assert name == "offer.pdf"
    assert content.startswith(PDF)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\offer.pdf", "offer.pdf"),
        ("/abs/path/a.txt", "a.txt"),
        ("  spaced name.txt  ", "spaced name.txt"),
        ("bad\x00\r\nname.txt", "badname.txt"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),  # right-to-left override dropped
        ("договор №5.pdf", "договор №5.pdf"),
        ("a" * 300 + ".pdf", "a" * 251 + ".pdf"),
    ],
)
def test_names_lose_paths_and_control_characters(raw: str, clean: str) -> None:
    assert files.decode_upload([raw, b64(b"x")])[0] == clean


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"fileData": ["", b64(b"x")]}, "name is empty"),
        ({"fileData": ["dir/", b64(b"x")]}, "name is empty"),
        ({"fileData": ["..", b64(b"x")]}, "name is empty"),
        ({"fileData": ["a.txt", "not base64!"]}, "not valid base64"),
        ({"fileData": ["a.txt", "QUJDR"]}, "not valid base64"),  # one char too many
        ({"fileData": ["a.txt", "QU=JD"]}, "not valid base64"),
        ({"fileData": ["a.txt", "QUJD-_"]}, "not valid base64"),  # URL-safe alphabet
        ({"fileData": ["a.txt", "ÄÖÜ"]}, "not valid base64"),
        ({"fileData": ["a.txt"]}, "expected"),
        ({"fileData": "a.txt"}, "expected"),
        ({"id": 5}, "expected"),
        (42, "expected"),
        ({"fileData": [7, b64(b"x")]}, "name must be a string"),
        ({"fileData": ["a.txt", 7]}, "base64 string"),
    ],
)
def test_bad_uploads_get_a_clear_value_error(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        files.decode_upload(value)


def test_the_size_limit_is_checked_before_and_after_decoding() -> None:
    assert files.decode_upload(["a.bin", b64(b"x" * 30)], limit=30)[1] == b"x" * 30
    with pytest.raises(files.InvalidUpload, match="larger than 30 bytes"):
        files.decode_upload(["a.bin", b64(b"x" * 31)], limit=30)
    with pytest.raises(files.InvalidUpload, match="larger than"):
        files.decode_upload(["a.bin", "A" * (files.MAX_UPLOAD_BYTES * 2)])


def test_an_empty_file_is_a_file() -> None:
    assert files.decode_upload(["empty.txt", ""]) == ("empty.txt", b"")


# The download route.


async def _path(db: AsyncEngine, name: str, content: bytes = PDF) -> str:
    file_id = await store(db, name, content)
    return str((await links(db, [file_id]))[file_id]["downloadUrl"])


async def test_get_serves_the_bytes_as_an_attachment(
    db: AsyncEngine, http: httpx.AsyncClient
) -> None:
    path = await _path(db, "offer.pdf")
    response = await http.get(path)
    assert response.status_code == 200
    assert response.content == PDF
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-length"] == str(len(PDF))
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"offer.pdf\"; filename*=UTF-8''offer.pdf"
    )
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in response.headers["content-security-policy"]
    assert "no-store" in response.headers["cache-control"]


async def test_head_answers_the_headers_without_the_body(
    db: AsyncEngine, http: httpx.AsyncClient
) -> None:
    path = await _path(db, "offer.pdf")
    response = await http.head(path)
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(PDF))
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith("attachment;")


async def test_no_webhook_or_auth_is_needed_beyond_the_token(
    db: AsyncEngine, http: httpx.AsyncClient
) -> None:
    path = await _path(db, "a.txt", b"hello")
    assert not http.headers.get("authorization")
    assert (await http.get(path)).content == b"hello"


async def test_an_empty_file_downloads_as_zero_bytes(
    db: AsyncEngine, http: httpx.AsyncClient
) -> None:
    response = await http.get(await _path(db, "empty.txt", b""))
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "0"


@pytest.mark.parametrize(
    "name",
    [
        'quote".txt',
        "semi;colon; filename=evil.exe",
        "percent%20name.txt",
        "back\\slash.txt",  # the stored name is what follows the last separator
        "newline\r\nX-Injected: 1.txt",
        "отчёт 2026 — итог.xlsx",
        "emoji 📎.pdf",
        "<script>alert(1)</script>.html",
    ],
)
async def test_hostile_names_cannot_break_the_header(
    db: AsyncEngine, http: httpx.AsyncClient, name: str
) -> None:
    path = await _path(db, name, b"data")
    response = await http.get(path)
    assert response.status_code == 200
    assert "x-injected" not in response.headers
    disposition = response.headers["content-disposition"]
    assert disposition.isascii()
    assert "\r" not in disposition and "\n" not in disposition
    kind, fallback, extended = disposition.split("; ")
    assert kind == "attachment"
    assert fallback.startswith('filename="') and fallback.endswith('"')
    assert '"' not in fallback[len('filename="') : -1]
    assert ";" not in fallback and "\\" not in fallback
    assert extended.startswith("filename*=UTF-8''")
    assert unquote(extended.removeprefix("filename*=UTF-8''")) == files.clean_name(name)


async def test_html_is_still_an_attachment_with_nosniff(
    db: AsyncEngine, http: httpx.AsyncClient
) -> None:
    response = await http.get(await _path(db, "page.html", b"<script>alert(1)</script>"))
    assert response.headers["content-type"] == "text/html"
    assert response.headers["content-disposition"].startswith("attachment;")
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/uf/files/" + "A" * 43,
        "/uf/files/not-a-token-but-valid-chars",
        "/uf/files/%2e%2e%2fetc",
        "/uf/files/" + "a" * 200,
        "/uf/files/abc%00def",
    ],
)
async def test_unknown_tokens_are_404(db: AsyncEngine, http: httpx.AsyncClient, path: str) -> None:
    await store(db, "a.pdf")
    for method in ("GET", "HEAD"):
        response = await http.request(method, path)
        assert response.status_code == 404
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_a_deleted_file_is_404(db: AsyncEngine, http: httpx.AsyncClient) -> None:
    file_id = await store(db, "a.pdf")
    path = str((await links(db, [file_id]))[file_id]["downloadUrl"])
    assert (await http.get(path)).status_code == 200
    async with transaction(db) as conn:
        await files.delete(conn, [file_id])
    assert (await http.get(path)).status_code == 404


async def test_post_is_not_allowed(db: AsyncEngine, http: httpx.AsyncClient) -> None:
    path = await _path(db, "a.pdf")
    assert (await http.post(path)).status_code == 405
