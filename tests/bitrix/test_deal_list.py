"""``crm.deal.list``: filter operators, select, order and errors (deals spec §3.4).

Paging and the ID keyset walk live in ``test_deal_list_paging.py``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.accounts import service as accounts
from relatecrm.db import transaction
from relatecrm.deals import service
from relatecrm.deals.service import Context
from tests.conftest import RestClient, count_rows

UTC = dt.UTC

# key, TITLE, OPPORTUNITY, PROBABILITY, STAGE_ID, assignee (1 or the second user),
# DATE_CREATE (UTC), CLOSEDATE, IS_MANUAL_OPPORTUNITY
DATA: list[tuple[str, str, str, int, str, int, str, str, str]] = [
    ("a_cyr", "[А] Сделка", "100.00", 10, "NEW", 1, "2024-03-01T10:00", "2024-03-05", "Y"),
    ("a_lat", "[A] Deal", "19999.99", 20, "NEW", 2, "2024-03-01T23:30", "2024-03-06", "Y"),
    ("alpha_1", "Alpha_1", "20000.00", 30, "PREPARATION", 1, "2024-03-02T00:00", "2024-03-07", "N"),
    ("alpha11", "Alpha11", "20000.01", 40, "PREPARATION", 2, "2024-03-02T12:00", "2024-03-08", "N"),
    ("beta", "Beta 100% mol", "5.00", 50, "WON", 1, "2024-03-03T09:15", "2024-03-09", "N"),
    ("mol", "molecule", "0.00", 60, "LOSE", 2, "2024-03-04T08:00", "2024-03-10", "N"),
    ("small", "Малая сделка", "750.50", 70, "EXECUTING", 1, "2024-03-05T08:00", "2024-03-11", "Y"),
    ("gamma", "Gamma", "10.00", 80, "NEW", 1, "2024-03-06T08:00", "2024-03-12", "N"),
]
KEYS = [row[0] for row in DATA]

# The canonical output order of a deal (spec §3.3), CONTACT_IDS never included.
ALL_FIELDS = [
    "ID", "TITLE", "TYPE_ID", "STAGE_ID", "PROBABILITY", "CURRENCY_ID", "OPPORTUNITY",
    "IS_MANUAL_OPPORTUNITY", "TAX_VALUE", "LEAD_ID", "COMPANY_ID", "CONTACT_ID", "QUOTE_ID",
    "BEGINDATE", "CLOSEDATE", "ASSIGNED_BY_ID", "CREATED_BY_ID", "MODIFY_BY_ID", "DATE_CREATE",
    "DATE_MODIFY", "OPENED", "CLOSED", "COMMENTS", "ADDITIONAL_INFO", "LOCATION_ID",
    "CATEGORY_ID", "STAGE_SEMANTIC_ID", "IS_NEW", "IS_RECURRING", "IS_RETURN_CUSTOMER",
    "IS_REPEATED_APPROACH", "SOURCE_ID", "SOURCE_DESCRIPTION", "ORIGINATOR_ID", "ORIGIN_ID",
    "MOVED_BY_ID", "MOVED_TIME", "LAST_ACTIVITY_TIME", "UTM_SOURCE", "UTM_MEDIUM",
    "UTM_CAMPAIGN", "UTM_CONTENT", "UTM_TERM", "LAST_ACTIVITY_BY",
]  # fmt: skip

HOSTILE = ["ID; DROP TABLE deals", "../", "\u0000", "ID) OR 1=1 --", "TITLE' --"]


@pytest.fixture
async def deals8(db: AsyncEngine) -> dict[str, int]:
    """The eight deals of DATA; key -> ID (IDs ascend in DATA order)."""
    ids: dict[str, int] = {}
    async with transaction(db) as conn:
        second = await accounts.create_user(conn, login="second", now=dt.datetime.now(UTC))
        for key, title, amount, prob, stage, who, created, close, manual in DATA:
            now = dt.datetime.fromisoformat(created).replace(tzinfo=UTC)
            ctx = Context(user_id=1, now=now, tz=ZoneInfo("UTC"))
            fields = {
                "TITLE": title,
                "OPPORTUNITY": amount,
                "PROBABILITY": prob,
                "STAGE_ID": stage,
                "ASSIGNED_BY_ID": 1 if who == 1 else second,
                "CLOSEDATE": close,
                "IS_MANUAL_OPPORTUNITY": manual,
            }
            ids[key] = await service.add(conn, ctx, fields)
    return ids


async def list_ids(rest: RestClient, params: dict[str, Any]) -> list[int]:
    reply = await rest.call("crm.deal.list", {"select": ["ID"], **params})
    return [int(row["ID"]) for row in reply.result]


def expect(ids: dict[str, int], keys: list[str]) -> list[int]:
    """The IDs of ``keys`` in default (ID ASC) order."""
    return sorted(ids[key] for key in keys)


def without(*keys: str) -> list[str]:
    return [key for key in KEYS if key not in keys]


# --- filter operators --------------------------------------------------------------

FILTERS: list[tuple[dict[str, Any], list[str]]] = [
    # no prefix and "=": equality
    ({"OPPORTUNITY": 20000}, ["alpha_1"]),
    ({"=OPPORTUNITY": "20000.00"}, ["alpha_1"]),
    ({"PROBABILITY": "30"}, ["alpha_1"]),
    ({"STAGE_ID": "NEW"}, ["a_cyr", "a_lat", "gamma"]),
    ({"=STAGE_ID": "WON"}, ["beta"]),
    ({"TITLE": "Gamma"}, ["gamma"]),
    ({"ASSIGNED_BY_ID": 1}, ["a_cyr", "alpha_1", "beta", "small", "gamma"]),
    ({"IS_MANUAL_OPPORTUNITY": "Y"}, ["a_cyr", "a_lat", "small"]),
    ({"=IS_MANUAL_OPPORTUNITY": "N"}, without("a_cyr", "a_lat", "small")),
    # an array with no prefix acts as IN
    ({"STAGE_ID": ["WON", "LOSE"]}, ["beta", "mol"]),
    ({"PROBABILITY": [10, "80"]}, ["a_cyr", "gamma"]),
    # "!" and "!=": not equal
    ({"!OPPORTUNITY": 20000}, without("alpha_1")),
    ({"!=OPPORTUNITY": "20000"}, without("alpha_1")),
    ({"!STAGE_ID": "NEW"}, without("a_cyr", "a_lat", "gamma")),
    ({"!=ASSIGNED_BY_ID": "1"}, ["a_lat", "alpha11", "mol"]),
    ({"!IS_MANUAL_OPPORTUNITY": "Y"}, without("a_cyr", "a_lat", "small")),
    # comparisons, numbers given as numbers or strings
    ({">OPPORTUNITY": 10000}, ["a_lat", "alpha_1", "alpha11"]),
    ({">OPPORTUNITY": "19999.99"}, ["alpha_1", "alpha11"]),
    ({">=OPPORTUNITY": 19999.99}, ["a_lat", "alpha_1", "alpha11"]),
    ({"<OPPORTUNITY": 10}, ["beta", "mol"]),
    ({"<=OPPORTUNITY": "10"}, ["beta", "mol", "gamma"]),
    ({">PROBABILITY": 60}, ["small", "gamma"]),
    ({">=PROBABILITY": "60"}, ["mol", "small", "gamma"]),
    ({"<PROBABILITY": "30"}, ["a_cyr", "a_lat"]),
    ({"<=PROBABILITY": 30}, ["a_cyr", "a_lat", "alpha_1"]),
    # IN / NOT IN
    ({"@OPPORTUNITY": [0, "750.5"]}, ["mol", "small"]),
    ({"@STAGE_ID": ["NEW", "WON"]}, ["a_cyr", "a_lat", "beta", "gamma"]),
    ({"@ASSIGNED_BY_ID": [1, 999]}, ["a_cyr", "alpha_1", "beta", "small", "gamma"]),
    ({"@PROBABILITY": ["10", "20", "70"]}, ["a_cyr", "a_lat", "small"]),
    ({"!@STAGE_ID": ["NEW", "PREPARATION"]}, ["beta", "mol", "small"]),
    ({"!@PROBABILITY": [10, 20, 30, 40, 50, 60]}, ["small", "gamma"]),
    # "%": substring, case-insensitive, no wildcards in the value
    ({"%TITLE": "mol"}, ["beta", "mol"]),
    ({"%TITLE": "ALPHA"}, ["alpha_1", "alpha11"]),
    ({"%TITLE": "СДЕЛК"}, ["a_cyr", "small"]),
    ({"%TITLE": "%"}, ["beta"]),
    ({"%TITLE": "_"}, ["alpha_1"]),
    ({"%TITLE": "0% m"}, ["beta"]),
    # "=%" / "%=": explicit wildcards, "_" is literal
    ({"=%TITLE": "%а"}, ["a_cyr", "small"]),
    ({"=%TITLE": "%a"}, ["gamma"]),
    ({"%=TITLE": "alpha%"}, ["alpha_1", "alpha11"]),
    ({"=%TITLE": "Alpha_1"}, ["alpha_1"]),
    ({"%=TITLE": "alpha_%"}, ["alpha_1"]),
    ({"=%TITLE": "[а]%"}, ["a_cyr"]),
    ({"=%TITLE": "%mol%"}, ["beta", "mol"]),
    ({"=%TITLE": "mol"}, []),
    ({"=%TITLE": "%\\%"}, []),
    ({"%TITLE": "\\"}, []),
    # negated LIKE
    ({"!%TITLE": "mol"}, without("beta", "mol")),
    ({"!=%TITLE": "%а"}, without("a_cyr", "small")),
    ({"!%=TITLE": "alpha%"}, without("alpha_1", "alpha11")),
    # LIKE on crm_status fields is equality on the literal value
    ({"%STAGE_ID": "NEW"}, ["a_cyr", "a_lat", "gamma"]),
    ({"%STAGE_ID": "NE"}, []),
    ({"=%STAGE_ID": "PREP%"}, []),
    ({"%=STAGE_ID": "PREPARATION"}, ["alpha_1", "alpha11"]),
    ({"!%STAGE_ID": "NEW"}, without("a_cyr", "a_lat", "gamma")),
    ({"%TYPE_ID": "SAL"}, []),
    ({"%TYPE_ID": "SALE"}, KEYS),
    # datetimes: a plain date is midnight in the portal zone (UTC here)
    ({">DATE_CREATE": "2024-03-02"}, ["alpha11", "beta", "mol", "small", "gamma"]),
    ({">=DATE_CREATE": "2024-03-02"}, without("a_cyr", "a_lat")),
    ({"<DATE_CREATE": "2024-03-02"}, ["a_cyr", "a_lat"]),
    ({">=DATE_CREATE": "2024-03-02T01:00:00+02:00"}, without("a_cyr")),
    ({"<=DATE_CREATE": "2024-03-02T01:30:00+02:00"}, ["a_cyr", "a_lat"]),
    ({"<DATE_CREATE": "2024-03-01T23:30:00Z"}, ["a_cyr"]),
    ({"DATE_CREATE": "2024-03-02T07:00:00-05:00"}, ["alpha11"]),
    # dates
    ({"CLOSEDATE": "2024-03-07"}, ["alpha_1"]),
    ({">CLOSEDATE": "2024-03-10"}, ["small", "gamma"]),
    ({">=CLOSEDATE": "2024-03-11"}, ["small", "gamma"]),
    ({"<CLOSEDATE": "2024-03-06"}, ["a_cyr"]),
    ({"<=CLOSEDATE": "2024-03-07T10:00:00+03:00"}, ["a_cyr", "a_lat", "alpha_1"]),
    # several conditions are ANDed
    ({">OPPORTUNITY": 10000, "<=OPPORTUNITY": 20000}, ["a_lat", "alpha_1"]),
    ({"STAGE_ID": "NEW", "IS_MANUAL_OPPORTUNITY": "Y", "ASSIGNED_BY_ID": 1}, ["a_cyr"]),
    ({"%TITLE": "alpha", "!=%TITLE": "%a_1"}, ["alpha11"]),
    (
        {
            "=%TITLE": "%а",
            "CATEGORY_ID": 0,
            "STAGE_ID": "NEW",
            ">OPPORTUNITY": 50,
            "<=OPPORTUNITY": 20000,
            "IS_MANUAL_OPPORTUNITY": "Y",
            "@ASSIGNED_BY_ID": [1, 6],
            ">DATE_CREATE": "2024-02-01",
        },
        ["a_cyr"],
    ),
]


@pytest.mark.parametrize(("flt", "keys"), FILTERS, ids=[str(f) for f, _ in FILTERS])
async def test_filter_operator(
    rest: RestClient, deals8: dict[str, int], flt: dict[str, Any], keys: list[str]
) -> None:
    reply = await rest.call("crm.deal.list", {"select": ["ID"], "filter": flt})
    assert [int(row["ID"]) for row in reply.result] == expect(deals8, keys)
    assert reply.body["total"] == len(keys)
    assert "next" not in reply.body


async def test_filter_by_id(rest: RestClient, deals8: dict[str, int]) -> None:
    ids = deals8
    assert await list_ids(rest, {"filter": {">ID": ids["mol"]}}) == expect(ids, ["small", "gamma"])
    assert await list_ids(rest, {"filter": {"@ID": [ids["beta"], str(ids["gamma"])]}}) == expect(
        ids, ["beta", "gamma"]
    )
    assert await list_ids(rest, {"filter": {"ID": str(ids["a_lat"])}}) == [ids["a_lat"]]


async def test_filter_second_assignee(rest: RestClient, deals8: dict[str, int]) -> None:
    reply = await rest.call("crm.deal.list", {"select": ["ASSIGNED_BY_ID"]})
    second = max(int(row["ASSIGNED_BY_ID"]) for row in reply.result)
    got = await list_ids(rest, {"filter": {"ASSIGNED_BY_ID": second}})
    assert got == expect(deals8, ["a_lat", "alpha11", "mol"])


@pytest.mark.parametrize("title", ["ΟΔΟΣ", "İstanbul", "[А] Сделка", "ÀÉÎ"])
async def test_like_matches_its_own_text(rest: RestClient, db: AsyncEngine, title: str) -> None:
    """A LIKE value equal to the stored title must match it on both backends."""
    deal_id = (await rest.call("crm.deal.add", {"fields": {"TITLE": title}})).result
    for flt in ({"%TITLE": title}, {"=%TITLE": title}, {"%=TITLE": f"%{title}%"}):
        assert await list_ids(rest, {"filter": flt}) == [deal_id], flt
    assert await list_ids(rest, {"filter": {"!%TITLE": title}}) == []


FORM = "filter[%3EOPPORTUNITY]=10&filter[%21STAGE_ID]=WON&select[]=ID&select[]=OPPORTUNITY"


async def test_filter_form_encoded(rest: RestClient, deals8: dict[str, int]) -> None:
    keys = ["a_cyr", "a_lat", "alpha_1", "alpha11", "small"]
    reply = await rest.call("crm.deal.list", form=FORM)
    assert [int(row["ID"]) for row in reply.result] == expect(deals8, keys)
    assert list(reply.result[0]) == ["ID", "OPPORTUNITY"]
    assert reply.result[0]["OPPORTUNITY"] == "100.00"
    form = "filter[STAGE_ID][]=WON&filter[STAGE_ID][]=LOSE&order[OPPORTUNITY]=desc&select[]=ID"
    reply = await rest.call("crm.deal.list", form=form)
    assert [int(row["ID"]) for row in reply.result] == [deals8["beta"], deals8["mol"]]


async def test_filter_get_query_string(rest: RestClient, deals8: dict[str, int]) -> None:
    keys = ["a_cyr", "a_lat", "alpha_1", "alpha11", "small"]
    reply = await rest.call("crm.deal.list", form=FORM, get=True)
    assert [int(row["ID"]) for row in reply.result] == expect(deals8, keys)
    reply = await rest.call("crm.deal.list", form="filter[%25TITLE]=alpha", get=True)
    assert [int(row["ID"]) for row in reply.result] == expect(deals8, ["alpha_1", "alpha11"])


async def test_filter_empty_means_all(rest: RestClient, deals8: dict[str, int]) -> None:
    everything = expect(deals8, KEYS)
    assert await list_ids(rest, {}) == everything
    assert await list_ids(rest, {"filter": {}}) == everything
    assert await list_ids(rest, {"filter": []}) == everything


# --- select ------------------------------------------------------------------------


@pytest.mark.parametrize("select", [None, ["*"], ["*", "UF_*"], ["TITLE", "*"]])
async def test_select_all(rest: RestClient, deals8: dict[str, int], select: Any) -> None:
    params: dict[str, Any] = {"filter": {"ID": deals8["a_lat"]}}
    if select is not None:
        params["select"] = select
    (row,) = (await rest.call("crm.deal.list", params)).result
    assert list(row) == ALL_FIELDS
    assert len(row) == 44
    assert "CONTACT_IDS" not in row
    assert row["ID"] == str(deals8["a_lat"])
    assert row["TITLE"] == "[A] Deal"
    assert row["OPPORTUNITY"] == "19999.99"
    assert row["PROBABILITY"] == "20"
    assert row["IS_MANUAL_OPPORTUNITY"] == "Y"
    assert row["STAGE_ID"] == "NEW"
    assert row["CATEGORY_ID"] == "0"
    assert row["DATE_CREATE"] == "2024-03-01T23:30:00+00:00"
    assert row["CLOSEDATE"] == "2024-03-06T00:00:00+00:00"


async def test_select_explicit_keeps_canonical_order(
    rest: RestClient, deals8: dict[str, int]
) -> None:
    params = {"select": ["OPPORTUNITY", "STAGE_ID", "TITLE", "ID"], "order": {"ID": "ASC"}}
    rows = (await rest.call("crm.deal.list", params)).result
    assert len(rows) == 8
    assert all(list(row) == ["ID", "TITLE", "STAGE_ID", "OPPORTUNITY"] for row in rows)
    assert rows[0] == {
        "ID": str(deals8["a_cyr"]),
        "TITLE": "[А] Сделка",
        "STAGE_ID": "NEW",
        "OPPORTUNITY": "100.00",
    }
    rows = (await rest.call("crm.deal.list", {"select": ["TITLE"]})).result
    assert rows == [{"TITLE": title} for _, title, *_ in DATA]


async def test_select_lower_case(rest: RestClient, deals8: dict[str, int]) -> None:
    rows = (await rest.call("crm.deal.list", {"select": ["title", "id", "Stage_Id"]})).result
    assert len(rows) == 8
    assert list(rows[0]) == ["ID", "TITLE", "STAGE_ID"]


async def test_select_uf_only(rest: RestClient, deals8: dict[str, int]) -> None:
    reply = await rest.call("crm.deal.list", {"select": ["UF_*"]})
    assert len(reply.result) == 8
    assert all(row in ({}, []) for row in reply.result)
    assert reply.body["total"] == 8


async def test_select_unknown_and_hostile_ignored(
    rest: RestClient, db: AsyncEngine, deals8: dict[str, int]
) -> None:
    before = await count_rows(db, "deals")
    select = ["ID", "NOPE", "UF_CRM_MISSING", "CONTACT_IDS", *HOSTILE, "", 5, None]
    reply = await rest.call("crm.deal.list", {"select": select})
    assert reply.status == 200
    assert reply.result == [{"ID": str(deals8[key])} for key in KEYS]
    assert await count_rows(db, "deals") == before == 8


# --- order -------------------------------------------------------------------------

ORDERS: list[tuple[dict[str, Any], list[str]]] = [
    ({}, KEYS),
    ({"ID": "DESC"}, KEYS[::-1]),
    ({"id": "desc"}, KEYS[::-1]),
    (
        {"OPPORTUNITY": "DESC"},
        ["alpha11", "alpha_1", "a_lat", "small", "a_cyr", "gamma", "beta", "mol"],
    ),
    (
        {"OPPORTUNITY": "asc"},
        ["mol", "beta", "gamma", "a_cyr", "small", "a_lat", "alpha_1", "alpha11"],
    ),
    ({"PROBABILITY": "Desc"}, KEYS[::-1]),
    ({"DATE_CREATE": "DESC"}, KEYS[::-1]),
    ({"CLOSEDATE": "aSc"}, KEYS),
    (
        {"STAGE_ID": "ASC", "PROBABILITY": "DESC"},
        ["small", "mol", "gamma", "a_lat", "a_cyr", "alpha11", "alpha_1", "beta"],
    ),
    (
        {"IS_MANUAL_OPPORTUNITY": "DESC", "OPPORTUNITY": "ASC"},
        ["a_cyr", "small", "a_lat", "mol", "beta", "gamma", "alpha_1", "alpha11"],
    ),
    # equal values fall back to ID ASC
    (
        {"STAGE_ID": "DESC"},
        ["beta", "alpha_1", "alpha11", "a_cyr", "a_lat", "gamma", "mol", "small"],
    ),
]


@pytest.mark.parametrize(("order", "keys"), ORDERS, ids=[str(o) for o, _ in ORDERS])
async def test_order(
    rest: RestClient, deals8: dict[str, int], order: dict[str, Any], keys: list[str]
) -> None:
    assert await list_ids(rest, {"order": order}) == [deals8[key] for key in keys]


BAD_ORDERS: list[dict[str, Any]] = [
    {"NOPE": "ASC"},
    {"ID": "UP"},
    {"ID": "ASC; DROP TABLE deals"},
    {"ID": ""},
    {"ID": 1},
    {"TITLE": "ASC", "BOGUS": "DESC"},
    *({name: "ASC"} for name in HOSTILE),
]


@pytest.mark.parametrize("order", BAD_ORDERS, ids=[repr(o) for o in BAD_ORDERS])
async def test_bad_order(
    rest: RestClient, db: AsyncEngine, deals8: dict[str, int], order: dict[str, Any]
) -> None:
    reply = await rest.call("crm.deal.list", {"order": order})
    assert reply.status == 400
    assert reply.body["error"] == "INVALID_ARG_VALUE"
    assert "time" not in reply.body
    assert await count_rows(db, "deals") == 8


BAD_FILTERS: list[dict[str, Any]] = [
    {"NOPE": 1},
    {">OPPORTUNITY": "abc"},
    {"<PROBABILITY": "many"},
    {">DATE_CREATE": "notadate"},
    {"DATE_CREATE": "2024-13-45"},
    {">CLOSEDATE": "notadate"},
    {"@CLOSEDATE": ["2024-03-07", "soon"]},
    {"BEGINDATE": "yesterday"},
    {"@STAGE_ID": [["NEW"]]},
    {">OPPORTUNITY": [1, 2]},
    {"CONTACT_IDS": 5},
    {"@CONTACT_IDS": [5, 6]},
    {"!": 1},
    *({name: 1} for name in HOSTILE),
    *({"!" + name: "x"} for name in HOSTILE),
]


@pytest.mark.parametrize("flt", BAD_FILTERS, ids=[repr(f) for f in BAD_FILTERS])
async def test_bad_filter(
    rest: RestClient, db: AsyncEngine, deals8: dict[str, int], flt: dict[str, Any]
) -> None:
    reply = await rest.call("crm.deal.list", {"filter": flt})
    assert reply.status == 400, reply.body
    assert reply.body["error"] == "INVALID_ARG_VALUE"
    assert reply.body["error_description"]
    assert await count_rows(db, "deals") == 8


async def test_hostile_filter_values_are_data(
    rest: RestClient, db: AsyncEngine, deals8: dict[str, int]
) -> None:
    for flt in (
        {"TITLE": "x'; DROP TABLE deals; --"},
        {"%TITLE": "' OR '1'='1"},
        {"=%TITLE": "%' OR 1=1 --"},
        {"@STAGE_ID": ["NEW') OR ('1'='1"]},
    ):
        assert await list_ids(rest, {"filter": flt}) == [], flt
    assert await count_rows(db, "deals") == 8


async def test_spec_request_example(rest: RestClient, deals8: dict[str, int]) -> None:
    """The seed's request (§3.4) with upper-case parameter names, adapted to the data."""
    select = ["ID", "TITLE", "TYPE_ID", "CATEGORY_ID", "STAGE_ID", "OPPORTUNITY"]
    select += ["IS_MANUAL_OPPORTUNITY", "ASSIGNED_BY_ID", "DATE_CREATE"]
    flt = {"=%TITLE": "[%", "CATEGORY_ID": 0, "TYPE_ID": "SALE", "STAGE_ID": "NEW"}
    flt |= {">OPPORTUNITY": 50, "<=OPPORTUNITY": 20000, "IS_MANUAL_OPPORTUNITY": "Y"}
    flt |= {"@ASSIGNED_BY_ID": [1, 1_000_000], ">DATE_CREATE": "2024-03-01"}
    order = {"TITLE": "ASC", "OPPORTUNITY": "ASC"}
    reply = await rest.call("crm.deal.list", {"SELECT": select, "FILTER": flt, "ORDER": order})
    assert reply.body["total"] == 1
    (row,) = reply.result
    assert row == {
        "ID": str(deals8["a_cyr"]),
        "TITLE": "[А] Сделка",
        "TYPE_ID": "SALE",
        "CATEGORY_ID": "0",
        "STAGE_ID": "NEW",
        "OPPORTUNITY": "100.00",
        "IS_MANUAL_OPPORTUNITY": "Y",
        "ASSIGNED_BY_ID": "1",
        "DATE_CREATE": "2024-03-01T10:00:00+00:00",
    }
    del flt["@ASSIGNED_BY_ID"]
    reply = await rest.call("crm.deal.list", {"SELECT": ["ID"], "FILTER": flt, "ORDER": order})
    assert [int(r["ID"]) for r in reply.result] == [deals8["a_lat"], deals8["a_cyr"]]
