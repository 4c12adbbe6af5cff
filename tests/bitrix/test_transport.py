"""The ``/rest`` transport: URL forms, verbs, encodings, auth, parameter names, envelopes.

Protocol spec §1 (transport), §2 (envelopes and errors) and the §10.6 checklist 1-10.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.accounts import service as accounts
from relatecrm.bitrix import methods
from relatecrm.bitrix.call import Call, Method
from relatecrm.db import transaction
from tests.conftest import RestClient, count_rows

JSON_CT = "application/json; charset=utf-8"
FORM = {"content-type": "application/x-www-form-urlencoded"}
TIME_FLOATS = ("start", "finish", "duration", "processing")
NOT_FOUND_BODY = {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}
BAD_CREDENTIALS = {
    "error": "INVALID_CREDENTIALS",
    "error_description": "Invalid request credentials",
}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def code_of(rest: RestClient) -> str:
    return rest.prefix.strip("/").split("/")[2]


def check_headers(response: httpx.Response) -> None:
    assert response.headers["content-type"] == JSON_CT
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["x-content-type-options"] == "nosniff"


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    check_headers(response)
    body = response.json()
    assert "error" not in body
    assert list(body)[0] == "result" and list(body)[-1] == "time"
    return body["result"]


def failed(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """An error reply: the status, the headers, and nothing but the error keys."""
    assert response.status_code == status, response.text
    assert response.status_code != 200
    check_headers(response)
    body: dict[str, Any] = response.json()
    expected = {"error", "error_description"}
    if body.get("error") == "ERROR_ARGUMENT":
        expected.add("argument")
    assert set(body) == expected, body
    assert isinstance(body["error"], str) and isinstance(body["error_description"], str)
    if code is not None:
        assert body["error"] == code, body
    return body


async def add(rest: RestClient, title: str = "T") -> int:
    deal_id = (await rest.call("crm.deal.add", {"fields": {"TITLE": title}})).result
    assert isinstance(deal_id, int)
    return deal_id


async def title_of(rest: RestClient, deal_id: int) -> str:
    title: str = (await rest.call("crm.deal.get", {"id": deal_id})).result["TITLE"]
    return title


# --- URL forms (§1.1, §1.5) --------------------------------------------------


async def test_json_suffix_is_stripped(rest: RestClient, db: AsyncEngine) -> None:
    deal_id = ok(await rest.http.post(rest.prefix + "crm.deal.add.json", json={"fields": {}}))
    got = ok(await rest.http.post(rest.prefix + "crm.deal.get.JSON", json={"id": deal_id}))
    assert got["ID"] == str(deal_id)


async def test_trailing_slash_and_repeated_slashes(rest: RestClient, db: AsyncEngine) -> None:
    deal_id = await add(rest, "slashes")
    code = code_of(rest)
    for path in (
        f"{rest.prefix}crm.deal.get/",
        f"/rest//1//{code}//crm.deal.get",
        f"/rest/1/{code}///crm.deal.get.json//",
    ):
        got = ok(await rest.http.post(path, json={"id": deal_id}))
        assert got["TITLE"] == "slashes", path


@pytest.mark.parametrize("name", ["crm.deal.List", "CRM.DEAL.LIST", "Crm.Deal.list.Json"])
async def test_method_name_is_case_insensitive(
    rest: RestClient, db: AsyncEngine, name: str
) -> None:
    deal_id = await add(rest, "cased")
    rows = ok(await rest.http.post(rest.prefix + name, json={"select": ["ID"]}))
    assert rows == [{"ID": str(deal_id)}]
    got = ok(await rest.http.post(rest.prefix + "CRM.DEAL.GET", json={"id": deal_id}))
    assert got["TITLE"] == "cased"


async def test_get_with_query_string(rest: RestClient, db: AsyncEngine) -> None:
    deal_id = await add(rest, "by get")
    await add(rest, "other")
    got = await rest.call("crm.deal.get", form=f"id={deal_id}", get=True)
    assert got.result["TITLE"] == "by get"
    listed = await rest.call(
        "crm.deal.list", form=f"filter%5BID%5D={deal_id}&select[]=TITLE", get=True
    )
    assert listed.result == [{"TITLE": "by get"}]
    # A bodiless GET with no query string is a call with no parameters (CRest does this).
    assert len((await rest.call("crm.deal.list", get=True)).result) == 2


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8"])
async def test_post_json_with_and_without_charset(
    rest: RestClient, db: AsyncEngine, content_type: str
) -> None:
    response = await rest.http.post(
        rest.prefix + "crm.deal.add",
        content='{"fields": {"TITLE": "Süß"}}'.encode(),
        headers={"content-type": content_type},
    )
    assert await title_of(rest, ok(response)) == "Süß"


async def test_form_with_encoded_brackets_and_plus(rest: RestClient, db: AsyncEngine) -> None:
    reply = await rest.call(
        "crm.deal.add", form="fields%5BTITLE%5D=a+b%2Bc&fields%5BOPPORTUNITY%5D=12.5"
    )
    got = (await rest.call("crm.deal.get", {"id": reply.result})).result
    assert got["TITLE"] == "a b+c"
    assert got["OPPORTUNITY"] == "12.50"


async def test_multipart_form_data_with_bracket_keys(rest: RestClient, db: AsyncEngine) -> None:
    response = await rest.http.post(
        rest.prefix + "crm.deal.add",
        files={"fields[TITLE]": (None, "multi part"), "fields[COMMENTS]": (None, "c")},
    )
    assert response.request.headers["content-type"].startswith("multipart/form-data")
    got = (await rest.call("crm.deal.get", {"id": ok(response)})).result
    assert (got["TITLE"], got["COMMENTS"]) == ("multi part", "c")


async def test_json_body_and_query_merge_body_wins(rest: RestClient, db: AsyncEngine) -> None:
    wanted = await add(rest, "wanted")
    await add(rest, "other")
    response = await rest.http.post(
        f"{rest.prefix}crm.deal.list?select[]=TITLE&filter[ID]={wanted}",
        json={"select": ["ID"]},
    )
    # The body's select replaces the query's; the query's filter still applies.
    assert ok(response) == [{"ID": str(wanted)}]


async def test_sdk_extra_params_are_ignored(rest: RestClient, db: AsyncEngine) -> None:
    query = "?bx24_request_id=abc123&bx24_sdk_ver=2.2.0&bx24_sdk_type=b24-js-sdk"
    body = {"fields": {"TITLE": "sdk"}, "__order": "order0000000000"}
    deal_id = ok(await rest.http.post(rest.prefix + "crm.deal.add" + query, json=body))
    reply = await rest.call("crm.deal.list", form="__order=order0000000001&select[]=TITLE")
    assert reply.result == [{"TITLE": "sdk"}]
    assert await title_of(rest, deal_id) == "sdk"


# --- authentication (§1.2, §2.4) ------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/rest/crm.deal.list",
        "/rest/crm.deal.list/",
        "/rest//crm.deal.list.json",
        "/rest/crm.deal.list?auth=xyz",
        "/rest/crm.deal.list?access_token=xyz",
    ],
)
async def test_oauth_form_without_valid_token(rest: RestClient, db: AsyncEngine, path: str) -> None:
    """An unknown token is ``invalid_token``; only a call with no credentials at all is
    ``NO_AUTH_FOUND``."""
    body = failed(await rest.http.post(path, json={"auth": "xyz"}), 401, "invalid_token")
    assert body["error_description"] == "The access token provided is invalid"
    bearer = await rest.http.post(path, json={}, headers={"authorization": "Bearer xyz"})
    failed(bearer, 401, "invalid_token")
    if "?" not in path:
        body = failed(await rest.http.post(path, json={}), 401, "NO_AUTH_FOUND")
        assert body["error_description"] == "Wrong authorization data"


async def test_rest_v3_paths_are_not_found(rest: RestClient, db: AsyncEngine) -> None:
    code = code_of(rest)
    for path in (f"/rest/api/1/{code}/crm.deal.list", "/rest/api/crm.deal.list"):
        body = failed(await rest.http.post(path, json={}), 404)
        assert body == NOT_FOUND_BODY


async def test_xml_suffix_is_an_error(rest: RestClient, db: AsyncEngine) -> None:
    failed(await rest.http.post(rest.prefix + "crm.deal.list.xml", json={}), 400)


@pytest.mark.parametrize("name", ["crm.deal.nope", "crm.deal", "batchx", "crm.deal.list.get"])
async def test_unknown_method(rest: RestClient, db: AsyncEngine, name: str) -> None:
    body = failed(await rest.http.post(rest.prefix + name, json={}), 404)
    assert body == NOT_FOUND_BODY


@pytest.mark.parametrize(
    "user_part",
    [
        "1",  # right user, wrong code
        "999",  # no such user
        "99999999999999999999",  # an id beyond every integer column
        "nobody",  # an unknown login
        "ad%00min",  # a NUL byte in the login
        "%C2%B2",  # "²": str.isdigit() says yes, int() says no
    ],
)
async def test_wrong_credentials_are_403(rest: RestClient, db: AsyncEngine, user_part: str) -> None:
    code = code_of(rest) if user_part != "1" else "0123456789abcdef"
    for method in ("crm.deal.list", "crm.deal.add"):
        response = await rest.http.post(f"/rest/{user_part}/{code}/{method}", json={})
        assert failed(response, 403) == BAD_CREDENTIALS
    assert await count_rows(db, "deals") == 0


async def test_webhook_without_crm_scope(rest: RestClient, db: AsyncEngine) -> None:
    async with transaction(db) as conn:
        code = await accounts.create_webhook(conn, user_id=1, scopes=["user"], now=_now())
    response = await rest.http.post(f"/rest/1/{code}/crm.deal.list", json={})
    body = failed(response, 403, "insufficient_scope")
    assert body["error_description"] == (
        "The request requires higher privileges than provided by the webhook token"
    )
    failed(await rest.http.post(f"/rest/1/{code}/crm.deal.add", json={"fields": {}}), 403)
    assert await count_rows(db, "deals") == 0


async def test_revoked_webhook(rest: RestClient, db: AsyncEngine) -> None:
    async with transaction(db) as conn:
        code = await accounts.create_webhook(conn, user_id=1, scopes=["crm"], now=_now())
    ok(await rest.http.post(f"/rest/1/{code}/crm.deal.list", json={}))
    async with transaction(db) as conn:
        hooks = await accounts.list_webhooks(conn)
        await accounts.revoke_webhook(conn, hooks[-1].id, now=_now())
    response = await rest.http.post(f"/rest/1/{code}/crm.deal.list", json={})
    assert failed(response, 403) == BAD_CREDENTIALS


# --- parameter names (§1.6) -------------------------------------------------------


@pytest.mark.parametrize("key", ["ID", "id", "Id"])
async def test_id_name_case(rest: RestClient, db: AsyncEngine, key: str) -> None:
    deal_id = await add(rest, "named")
    assert (await rest.call("crm.deal.get", {key: deal_id})).result["ID"] == str(deal_id)
    assert (await rest.call("crm.deal.update", {key: deal_id, "fields": {"TITLE": key}})).result
    assert await title_of(rest, deal_id) == key
    assert (await rest.call("crm.deal.delete", {key: deal_id})).result is True
    assert await count_rows(db, "deals") == 0


@pytest.mark.parametrize("key", ["FIELDS", "fields", "Fields", "arFields"])
async def test_fields_name_case(rest: RestClient, db: AsyncEngine, key: str) -> None:
    deal_id = (await rest.call("crm.deal.add", {key: {"TITLE": key}})).result
    assert await title_of(rest, deal_id) == key
    await rest.call("crm.deal.update", {"id": deal_id, key: {"TITLE": key + "!"}})
    assert await title_of(rest, deal_id) == key + "!"


@pytest.mark.parametrize("key", ["SELECT", "select"])
async def test_select_name_case(rest: RestClient, db: AsyncEngine, key: str) -> None:
    deal_id = await add(rest, "sel")
    rows = (await rest.call("crm.deal.list", {key: ["ID", "TITLE"]})).result
    assert rows == [{"ID": str(deal_id), "TITLE": "sel"}]


async def test_paging_and_list_envelope(rest: RestClient, db: AsyncEngine) -> None:
    for n in range(51):
        await add(rest, f"d{n}")
    first = await rest.http.post(rest.prefix + "crm.deal.list", json={"select": ["ID"]})
    assert list(first.json()) == ["result", "next", "total", "time"]
    assert (first.json()["next"], first.json()["total"]) == (50, 51)
    assert len(ok(first)) == 50
    for key in ("start", "START"):
        page = await rest.call("crm.deal.list", {key: 50, "select": ["TITLE"]})
        assert page.result == [{"TITLE": "d50"}], key
        assert list(page.body) == ["result", "total", "time"]
        assert page.body["total"] == 51
    page = await rest.call("crm.deal.list", form="start=50&select[]=TITLE", get=True)
    assert page.result == [{"TITLE": "d50"}]


# --- envelopes and headers (§1.7, §2) ------------------------------------------------


def check_time(block: dict[str, Any]) -> None:
    for key in TIME_FLOATS:
        assert isinstance(block[key], float), (key, block)
    assert block["start"] <= block["finish"]
    assert abs(block["duration"] - (block["finish"] - block["start"])) < 1e-3
    assert 0 <= block["processing"] <= block["duration"]
    for key in ("date_start", "date_finish"):
        parsed = dt.datetime.fromisoformat(block[key])
        assert parsed.utcoffset() is not None, block[key]
        assert abs(parsed.timestamp() - block["start"]) < 5
    assert isinstance(block["operating"], float)
    assert type(block["operating_reset_at"]) is int
    assert block["operating_reset_at"] >= int(block["start"])


async def test_success_envelope(rest: RestClient, db: AsyncEngine) -> None:
    added = await rest.http.post(rest.prefix + "crm.deal.add", json={"fields": {}})
    deal_id = ok(added)
    assert list(added.json()) == ["result", "time"]
    for method, params in (
        ("crm.deal.get", {"id": deal_id}),
        ("crm.deal.update", {"id": deal_id, "fields": {"TITLE": "x"}}),
        ("crm.deal.fields", {}),
        ("crm.deal.list", {}),
    ):
        response = await rest.http.post(rest.prefix + method, json=params)
        ok(response)
        body = response.json()
        expected = ["result", "total", "time"] if method == "crm.deal.list" else ["result", "time"]
        assert list(body) == expected, method
        check_time(body["time"])
    get = await rest.http.get(f"{rest.prefix}crm.deal.get?id={deal_id}")
    ok(get)
    check_time(get.json()["time"])


async def test_error_envelopes(rest: RestClient, db: AsyncEngine) -> None:
    cases = [
        (rest.http.post(rest.prefix + "crm.deal.nope", json={}), 404),
        (rest.http.post("/rest/1/ffffffffffffffff/crm.deal.list", json={}), 403),
        (rest.http.post("/rest/crm.deal.list", json={}), 401),
        (rest.http.post(rest.prefix + "crm.deal.add", json={"fields": "x"}), 400),
        (rest.http.post(rest.prefix + "crm.deal.get", json={"id": 424242}), 400),
        (rest.http.get(rest.prefix + "crm.deal.get?id=abc"), 400),
        (rest.http.post(rest.prefix + "crm.deal.list", json={"filter": {"NOPE": 1}}), 400),
        (rest.http.post(rest.prefix + "crm.deal.add", content=b"{", headers=FORM), 400),
        (
            rest.http.post(
                rest.prefix + "crm.deal.add",
                content=b"{",
                headers={"content-type": "application/json"},
            ),
            400,
        ),
    ]
    for request, status in cases:
        failed(await request, status)
    assert await count_rows(db, "deals") == 0


# --- secrets stay out of the logs ------------------------------------------------------


async def test_webhook_codes_are_never_logged(
    rest: RestClient, db: AsyncEngine, caplog: pytest.LogCaptureFixture, monkeypatch: Any
) -> None:
    code = code_of(rest)
    wrong = "feedfacecafebeef"

    async def boom(call: Call) -> Any:
        raise RuntimeError("handler exploded")

    monkeypatch.setitem(methods.METHODS, "crm.deal.fields", Method(boom))
    caplog.set_level(logging.DEBUG)
    deal_id = await add(rest, "logged")
    await rest.call("crm.deal.get", {"id": deal_id})
    await rest.http.get(f"{rest.prefix}crm.deal.list?filter[ID]={deal_id}")
    await rest.http.post(f"/rest/1/{code}//crm.deal.update/", json={"id": 0})
    await rest.http.post(f"/rest/1/{code}/crm.deal.nope", json={})
    await rest.http.post(f"/rest/1/{wrong}/crm.deal.list", json={})
    await rest.http.post(f"/rest/2/{code}/crm.deal.list", json={})
    await rest.http.post(f"/rest/99999999999999999999/{code}/crm.deal.list", json={})
    await rest.http.post(f"/rest/1/{code}/crm.deal.list", json={"filter": {">BEGINDATE": "x"}})
    exploded = await rest.http.post(f"/rest//1/{code}/crm.deal.fields.json", json={})
    assert failed(exploded, 500, "INTERNAL_SERVER_ERROR")["error_description"] == (
        "Internal server error"
    )
    assert "handler exploded" not in exploded.text and "Traceback" not in exploded.text
    server_records = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert any(r.levelno >= logging.ERROR for r in server_records), "internal error not logged"
    formatter = logging.Formatter()
    for record in server_records:
        text = formatter.format(record)
        for secret in (code, wrong):
            assert secret not in text, (record.name, text[:500])
