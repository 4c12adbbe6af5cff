"""Bad input gets the documented error and status: never a 500, never a traceback, no write.

Protocol spec §1.3, §2.3-2.4; deals spec §1.4 and the §3 error tables. Every test
checks that the deals and outbox tables are unchanged by a refused call.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.accounts import service as accounts
from relatecrm.app import create_app
from relatecrm.config import Settings
from relatecrm.db import transaction
from tests.conftest import RestClient, count_rows

JSON_CT = "application/json; charset=utf-8"
JSON = {"content-type": "application/json"}
FORM = {"content-type": "application/x-www-form-urlencoded"}
FIELDS_NOT_ARRAY = "Parameter 'fields' must be array."
PARAMS_NOT_ARRAY = "Parameter 'params' must be array."
BAD_ID = "ID is not defined or invalid."
LIMITS = {"max_body_bytes": 1000, "max_params": 20, "max_param_depth": 4}


async def counts(db: AsyncEngine) -> tuple[int, int]:
    return await count_rows(db, "deals"), await count_rows(db, "outbox")


def refused(response: httpx.Response, status: int, error: str | None = None) -> str:
    """Check an error reply; return its description."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == JSON_CT
    assert "Traceback" not in response.text and 'File "' not in response.text
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("error"), str), body
    assert isinstance(body.get("error_description"), str), body
    assert "result" not in body and "time" not in body
    if error is not None:
        assert body["error"] == error, body
    description: str = body["error_description"]
    return description


async def post(rest: RestClient, method: str, params: Any) -> httpx.Response:
    return await rest.http.post(rest.prefix + method, json=params)


async def new_deal(rest: RestClient, title: str = "base") -> int:
    deal_id = (await rest.call("crm.deal.add", {"fields": {"TITLE": title}})).result
    assert isinstance(deal_id, int)
    return deal_id


async def fetch(rest: RestClient, deal_id: int) -> dict[str, Any]:
    row: dict[str, Any] = (await rest.call("crm.deal.get", {"id": deal_id})).result
    return row


# --- undecodable bodies -----------------------------------------------------------------


UNDECODABLE = [
    *(b'{"fields": {"TITLE": "x"', b'{"fields": {}} trailing', b"{fields: {TITLE: 'x'}}"),
    *(b'{"fields": {"TITLE": NaN}}', b"[1, 2]", b'[{"fields": {}}]', b"5", b'"x"', b"true"),
    b'{"fields": {"TITLE": "a\xffb"}}',  # invalid UTF-8
    b'{"fields": {"TITLE": "\xed\xa0\x80"}}',  # a surrogate encoded as UTF-8
    *(b'{"fields": {"TITLE": "\\ud800"}}', b'{"fields": {"TITLE": "x\\udc00y"}}'),  # lone
    b'{"fields": {"TITLE": "a\x00b"}}',  # a raw NUL inside a string
]


@pytest.mark.parametrize("raw", UNDECODABLE)
async def test_undecodable_json_body(rest: RestClient, db: AsyncEngine, raw: bytes) -> None:
    before = await counts(db)
    response = await rest.http.post(rest.prefix + "crm.deal.add", content=raw, headers=JSON)
    refused(response, 400)
    assert await counts(db) == before


@pytest.mark.parametrize("raw", [b"[]", b"null", b"{}", b"   "])
async def test_empty_json_body_means_no_parameters(
    rest: RestClient, db: AsyncEngine, raw: bytes
) -> None:
    response = await rest.http.post(rest.prefix + "crm.deal.add", content=raw, headers=JSON)
    assert refused(response, 400, "") == FIELDS_NOT_ARRAY
    assert await counts(db) == (0, 0)


async def test_invalid_utf8_in_form_body(rest: RestClient, db: AsyncEngine) -> None:
    # Form bodies decode like PHP urldecode; bad bytes become U+FFFD (params.py).
    for body in (b"fields[TITLE]=a%FFb", b"fields[TITLE]=a\xffb"):
        response = await rest.http.post(rest.prefix + "crm.deal.add", content=body, headers=FORM)
        assert response.status_code == 200, response.text
        assert (await fetch(rest, response.json()["result"]))["TITLE"] == "a\ufffdb"
    before = await counts(db)
    response = await rest.http.post(
        rest.prefix + "crm.deal.list", content=b"filter[%TITLE]=%FF%FE&select[]=ID", headers=FORM
    )
    assert response.status_code == 200 and response.json()["result"] == []
    response = await rest.http.post(
        rest.prefix + "crm.deal.add", content=b"fields%5BTI\xffTLE%5D=x", headers=FORM
    )
    assert response.status_code == 200
    assert (await fetch(rest, response.json()["result"]))["TITLE"].startswith("Deal #")
    assert await counts(db) == (before[0] + 1, before[1] + 1)


# --- NUL bytes ------------------------------------------------------------------------------


async def test_nul_in_values(rest: RestClient, db: AsyncEngine) -> None:
    deal_id = await new_deal(rest)
    original = await fetch(rest, deal_id)
    before = await counts(db)
    for fields, title in (
        ({"TITLE": "a\u0000b"}, "Title"),
        ({"COMMENTS": "\u0000"}, "Comment"),
        ({"UTM_SOURCE": "x\u0000"}, "Advertising System"),
    ):
        response = await post(rest, "crm.deal.add", {"fields": fields})
        assert refused(response, 400, "") == f'Invalid value for the "{title}" field.'
        response = await post(rest, "crm.deal.update", {"id": deal_id, "fields": fields})
        assert refused(response, 400, "") == f'Invalid value for the "{title}" field.'
    reply = await rest.call("crm.deal.add", form="fields[TITLE]=a%00b")
    assert (reply.status, reply.body["error"]) == (400, "")
    assert await counts(db) == before
    assert await fetch(rest, deal_id) == original


@pytest.mark.parametrize(
    "params",
    [
        {"filter": {"TITLE": "a\u0000b"}},
        {"filter": {"%TITLE": "a\u0000b"}},
        {"filter": {"=%TITLE": "%\u0000%"}},
        {"filter": {"!%TITLE": "\u0000"}},
        {"filter": {"@TITLE": ["ok", "\u0000"]}},
        {"filter": {">BEGINDATE": "2024\u0000-01-01"}},
        {"filter": {"COMMENTS": "\u0000"}},
    ],
)
async def test_nul_in_filter_values(
    rest: RestClient, db: AsyncEngine, params: dict[str, Any]
) -> None:
    await new_deal(rest)
    field = next(iter(params["filter"])).lstrip("!=%@<>")
    description = refused(await post(rest, "crm.deal.list", params), 400, "INVALID_ARG_VALUE")
    assert description == f"Invalid filter: field '{field}' has invalid value"
    assert await counts(db) == (1, 1)


async def test_nul_in_names(rest: RestClient, db: AsyncEngine) -> None:
    await new_deal(rest)
    before = await counts(db)
    response = await post(rest, "crm.deal.add", {"fie\u0000lds": {"TITLE": "x"}})
    assert refused(response, 400, "") == FIELDS_NOT_ARRAY
    reply = await rest.call("crm.deal.add", form="fields%5BTI%00TLE%5D=x")
    assert (reply.status, reply.body["error_description"]) == (400, FIELDS_NOT_ARRAY)
    for params in ({"filter": {"TI\u0000TLE": "x"}}, {"order": {"TI\u0000TLE": "ASC"}}):
        refused(await post(rest, "crm.deal.list", params), 400, "INVALID_ARG_VALUE")
    listed = await rest.call("crm.deal.list", {"select": ["TI\u0000TLE", "ID"]})
    assert [set(row) for row in listed.result] == [{"ID"}]
    assert await counts(db) == before
    # An unknown field name inside `fields` is ignored, as every unknown field is.
    deal_id = (await rest.call("crm.deal.add", {"fields": {"TI\u0000TLE": "x"}})).result
    assert (await fetch(rest, deal_id))["TITLE"] == f"Deal #{deal_id}"


# --- parameter shapes -------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["crm.deal.add", "crm.deal.update"])
@pytest.mark.parametrize("fields", [None, "abc", "", ["TITLE", "x"], 5, True])
async def test_fields_must_be_array(
    rest: RestClient, db: AsyncEngine, method: str, fields: Any
) -> None:
    deal_id = await new_deal(rest)
    params: dict[str, Any] = {"id": deal_id} if method == "crm.deal.update" else {}
    if fields is not None:
        params["fields"] = fields
    assert refused(await post(rest, method, params), 400, "") == FIELDS_NOT_ARRAY
    assert await counts(db) == (1, 1)
    assert (await fetch(rest, deal_id))["TITLE"] == "base"


@pytest.mark.parametrize("method", ["crm.deal.add", "crm.deal.update"])
@pytest.mark.parametrize("value", ["abc", ["Y"], 7])
async def test_params_must_be_array(
    rest: RestClient, db: AsyncEngine, method: str, value: Any
) -> None:
    deal_id = await new_deal(rest)
    params = {"id": deal_id, "fields": {"TITLE": "changed"}, "params": value}
    assert refused(await post(rest, method, params), 400, "") == PARAMS_NOT_ARRAY
    assert await counts(db) == (1, 1)
    assert (await fetch(rest, deal_id))["TITLE"] == "base"


MISSING = object()
BAD_IDS = [MISSING, None, 0, -1, "abc", "", 1.5, "1.5", [], [1], {"a": 1}, True, "1e400", 10**18]


@pytest.mark.parametrize("method", ["crm.deal.get", "crm.deal.update", "crm.deal.delete"])
@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
async def test_invalid_id(rest: RestClient, db: AsyncEngine, method: str, bad: Any) -> None:
    deal_id = await new_deal(rest)
    params: dict[str, Any] = {"fields": {"TITLE": "changed"}}
    if bad is not MISSING:
        params["id"] = bad
    assert refused(await post(rest, method, params), 400, "") == BAD_ID
    assert await counts(db) == (1, 1)
    assert (await fetch(rest, deal_id))["TITLE"] == "base"


@pytest.mark.parametrize("method", ["crm.deal.get", "crm.deal.update", "crm.deal.delete"])
async def test_id_not_found(rest: RestClient, db: AsyncEngine, method: str) -> None:
    deal_id = await new_deal(rest)
    for missing in (deal_id + 1000, 2**31 - 1, str(deal_id + 1)):
        params = {"id": missing, "fields": {"TITLE": "changed"}}
        assert refused(await post(rest, method, params), 400, "") == "Not found."
    reply = await rest.call(method, form=f"id={deal_id + 7}&fields[TITLE]=x")
    assert (reply.status, reply.body) == (400, {"error": "", "error_description": "Not found."})
    assert await counts(db) == (1, 1)


# --- field values -------------------------------------------------------------------------------

BAD_FIELDS: list[tuple[str, Any, str]] = [
    ("OPPORTUNITY", "abc", "Amount"),
    ("OPPORTUNITY", "NaN", "Amount"),
    ("OPPORTUNITY", 1e30, "Amount"),
    ("OPPORTUNITY", "1e30", "Amount"),
    ("TAX_VALUE", "1,2,3", "Tax Rate"),
    ("PROBABILITY", "x", "Probability"),
    ("PROBABILITY", 150, "Probability"),
    ("PROBABILITY", -1, "Probability"),
    ("PROBABILITY", 1.5, "Probability"),
    ("PROBABILITY", 10**12, "Probability"),
    ("BEGINDATE", "notadate", "Start Date"),
    ("CLOSEDATE", "2024-13-45", "Close Date"),
    ("CURRENCY_ID", "XXX", "Currency"),
    ("TYPE_ID", "NOPE", "Type"),
    ("SOURCE_ID", "NOPE", "Source"),
    ("STAGE_ID", "NOPE", "Deal Stage"),
    ("CATEGORY_ID", 999, "Sales Funnel"),
    ("CATEGORY_ID", -1, "Sales Funnel"),
    ("CATEGORY_ID", "abc", "Sales Funnel"),
    ("ASSIGNED_BY_ID", 999, "Assignee"),
    ("ASSIGNED_BY_ID", "abc", "Assignee"),
    ("COMPANY_ID", 10**12, "Company"),
    ("TITLE", {"a": 1}, "Title"),
    ("TITLE", ["a"], "Title"),
    ("TITLE", "x" * 70_000, "Title"),
    ("OPENED", "maybe", "Available to All"),
    ("IS_RECURRING", {"x": "Y"}, "Recurring Deal"),
    ("CONTACT_IDS", ["abc"], "Contacts"),
]


@pytest.mark.parametrize(("name", "value", "title"), BAD_FIELDS, ids=lambda v: repr(v)[:30])
async def test_wrong_field_value_on_add(
    rest: RestClient, db: AsyncEngine, name: str, value: Any, title: str
) -> None:
    response = await post(rest, "crm.deal.add", {"fields": {"TITLE": "ok", name: value}})
    assert refused(response, 400, "") == f'Invalid value for the "{title}" field.'
    assert await counts(db) == (0, 0)


# CATEGORY_ID is immutable on update and STAGE_ID has its own rules there (deals spec §3.2).
UPDATE_CASES = [case for case in BAD_FIELDS if case[0] not in ("CATEGORY_ID", "STAGE_ID")][::2]


@pytest.mark.parametrize(("name", "value", "title"), UPDATE_CASES, ids=lambda v: repr(v)[:30])
async def test_wrong_field_value_on_update(
    rest: RestClient, db: AsyncEngine, name: str, value: Any, title: str
) -> None:
    deal_id = await new_deal(rest)
    original = await fetch(rest, deal_id)
    params = {"id": deal_id, "fields": {"TITLE": "changed", name: value}}
    response = await post(rest, "crm.deal.update", params)
    assert refused(response, 400, "") == f'Invalid value for the "{title}" field.'
    assert await counts(db) == (1, 1)
    assert await fetch(rest, deal_id) == original


@pytest.mark.parametrize("contacts", [{"a": 7}, {"0": 7, "x": 8}, {"x": 7, "1": 8}], ids=repr)
async def test_contact_ids_map_with_odd_keys(
    rest: RestClient, db: AsyncEngine, contacts: dict[str, int]
) -> None:
    # PHP sees any map as an array, so linking its values is as right as refusing it.
    response = await post(rest, "crm.deal.add", {"fields": {"CONTACT_IDS": contacts}})
    if response.status_code == 200:
        assert (await fetch(rest, response.json()["result"]))["CONTACT_ID"] in ("7", "8")
    else:
        assert refused(response, 400, "") == 'Invalid value for the "Contacts" field.'
        assert await counts(db) == (0, 0)


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("TITLE", "Title"),
        ("UTM_SOURCE", "Advertising System"),
        ("ORIGIN_ID", "Identifier in External Source"),
        ("LOCATION_ID", "Location"),
    ],
)
async def test_long_strings_are_stored_whole_or_refused(
    rest: RestClient, db: AsyncEngine, name: str, title: str
) -> None:
    value = "é" * 300
    response = await post(rest, "crm.deal.add", {"fields": {name: value}})
    if response.status_code == 200:
        assert (await fetch(rest, response.json()["result"]))[name] == value
    else:
        assert refused(response, 400, "") == f'Invalid value for the "{title}" field.'
        assert await counts(db) == (0, 0)


async def test_hostile_field_names_are_ignored(rest: RestClient, db: AsyncEngine) -> None:
    hostile = {
        "TITLE": "real",
        "TITLE; DROP TABLE deals; --": "x",
        "' OR '1'='1": "x",
        'TITLE") VALUES (1); --': "x",
        "UF_CRM_1 = 1 --": "x",
        "A" * 10_000: "x",
        "标题": "x",
        "ТИТУЛ": "x",
        "t\u0131tle": "evil",  # dotless i: "tıtle".upper() == "TITLE"
        "\u017fource_id": "WEB",  # long s: "ſource_id".upper() == "SOURCE_ID"
        "\ufb01elds": "x",
        "": "x",
        " ": "x",
    }
    plain = await fetch(
        rest, (await rest.call("crm.deal.add", {"fields": {"TITLE": "real"}})).result
    )
    deal_id = (await rest.call("crm.deal.add", {"fields": hostile})).result
    got = await fetch(rest, deal_id)
    volatile = {"ID", "DATE_CREATE", "DATE_MODIFY", "MOVED_TIME", "LAST_ACTIVITY_TIME"}
    assert {k: v for k, v in got.items() if k not in volatile} == {
        k: v for k, v in plain.items() if k not in volatile
    }
    assert await counts(db) == (2, 2)


# --- filters that must be refused, not crash ------------------------------------------------


@pytest.mark.parametrize(
    "condition",
    [
        {">BEGINDATE": "notadate"},
        {"<=CLOSEDATE": "2024-02-30"},
        {"@BEGINDATE": ["2024-01-01", "nope"]},
        {">DATE_CREATE": "9999-12-31T23:59:59-12:00"},
        {"<DATE_MODIFY": "0001-01-01T00:00:00+14:00"},
        {">OPPORTUNITY": "1e30"},
        {"ID": 10**18},
    ],
    ids=repr,
)
async def test_bad_filter_values(
    rest: RestClient, db: AsyncEngine, condition: dict[str, Any]
) -> None:
    await new_deal(rest)
    response = await post(rest, "crm.deal.list", {"filter": condition})
    if response.status_code == 200:  # an out-of-range date may simply match nothing
        assert "DATE" in next(iter(condition)) and response.json()["result"] == []
    else:
        field = next(iter(condition)).lstrip("!=%@<>")
        description = refused(response, 400, "INVALID_ARG_VALUE")
        assert description == f"Invalid filter: field '{field}' has invalid value"
    assert await counts(db) == (1, 1)


# --- request limits -----------------------------------------------------------------------------


@pytest.fixture
async def limited(db: AsyncEngine) -> AsyncIterator[RestClient]:
    """The app with small limits: 1000-byte bodies, 20 keys, 4 levels."""
    url = db.url.render_as_string(hide_password=False)
    app = create_app(Settings(database_url=url, **LIMITS))
    async with transaction(db) as conn:
        code = await accounts.create_webhook(
            conn, user_id=1, scopes=["crm"], now=dt.datetime.now(dt.UTC)
        )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        yield RestClient(client, f"/rest/1/{code}/")
    await app.state.engine.dispose()


async def _chunks() -> AsyncIterator[bytes]:
    yield b"fields[COMMENTS]="
    for _ in range(10):
        yield b"x" * 300


def _nested(depth: int) -> Any:
    value: Any = "1"
    for n in range(depth):
        value = {f"k{n}": value}
    return value


DEEP = "fields" + "".join(f"[k{n}]" for n in range(8))
MANY = "&".join(f"fields[K{n}]={n}" for n in range(30))
OVER_LIMIT: dict[str, tuple[dict[str, Any], int]] = {
    "json too big": ({"json": {"fields": {"COMMENTS": "x" * 2000}}}, 413),
    "form too big": ({"content": "fields[COMMENTS]=" + "x" * 2000, "headers": FORM}, 413),
    "chunked too big": ({"content": _chunks, "headers": FORM}, 413),
    "multipart too big": ({"files": {"fields[COMMENTS]": (None, "x" * 2000)}}, 413),
    "form too many": ({"content": MANY, "headers": FORM}, 400),
    "query too many": ({"query": MANY, "json": {}}, 400),
    "json too many": ({"json": {"fields": {f"K{n}": n for n in range(30)}}}, 400),
    # 30 parts cannot fit in 1000 bytes: the size check refuses them before the key count.
    "multipart too many": ({"files": {f"fields[K{n}]": (None, "1") for n in range(30)}}, 413),
    "form too deep": ({"content": DEEP + "=1", "headers": FORM}, 400),
    "query too deep": ({"query": DEEP + "=1", "json": {}}, 400),
    "json too deep": ({"json": {"fields": _nested(8)}}, 400),
    "multipart too deep": ({"files": {DEEP: (None, "1")}}, 400),
    "multipart with a file": ({"files": {"fields[TITLE]": ("a.txt", b"x")}}, 400),
    "multipart without boundary": (
        {"content": b"--x\r\n", "headers": {"content-type": "multipart/form-data"}},
        400,
    ),
}


@pytest.mark.parametrize("case", list(OVER_LIMIT))
async def test_request_limits(limited: RestClient, db: AsyncEngine, case: str) -> None:
    kwargs, status = dict(OVER_LIMIT[case][0]), OVER_LIMIT[case][1]
    if callable(kwargs.get("content")):
        kwargs["content"] = kwargs["content"]()
    query = kwargs.pop("query", "")
    url = limited.prefix + "crm.deal.add" + (f"?{query}" if query else "")
    response = await limited.http.post(url, **kwargs)
    refused(response, status)
    assert await counts(db) == (0, 0)


async def test_limits_leave_normal_requests_alone(limited: RestClient, db: AsyncEngine) -> None:
    few = "&".join(f"fields[K{n}]={n}" for n in range(19)) + "&fields[TITLE]=ok"
    assert (await limited.call("crm.deal.add", form=few)).status == 200
    assert (await limited.call("crm.deal.add", form="fields[a][b][c][d]=1")).status == 200
    assert (await limited.call("crm.deal.add", {"fields": {"COMMENTS": "x" * 900}})).status == 200
    response = await limited.http.post(
        limited.prefix + "crm.deal.add", files={"fields[TITLE]": (None, "mp")}
    )
    assert response.status_code == 200
    assert await counts(db) == (4, 4)
