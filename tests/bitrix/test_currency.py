"""``crm.currency.list``, ``crm.currency.get`` and ``crm.currency.base.get``.

Protocol spec §9.4 (row shape, string values, ``order`` in lower case, one base currency)
and §2.3 (classic errors: empty code, status 400).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.db import transaction
from relatecrm.pipelines.models import currencies
from tests.bitrix.test_category import error
from tests.conftest import RestClient

KEYS = [
    "CURRENCY",
    "AMOUNT_CNT",
    "AMOUNT",
    "SORT",
    "BASE",
    "FULL_NAME",
    "LID",
    "FORMAT_STRING",
    "DEC_POINT",
    "THOUSANDS_SEP",
    "DECIMALS",
    "DATE_UPDATE",
]
USD = {
    "CURRENCY": "USD",
    "AMOUNT_CNT": "1",
    "AMOUNT": "1.0000",
    "SORT": "100",
    "BASE": "Y",
    "FULL_NAME": "US Dollar",
    "LID": "en",
    "FORMAT_STRING": "$#",
    "DEC_POINT": ".",
    "THOUSANDS_SEP": None,
    "DECIMALS": "2",
    "DATE_UPDATE": None,
}
SEEDED = ["USD", "EUR", "GBP", "RUB", "UAH", "KZT", "BYN"]


async def listed(rest: RestClient, **params: Any) -> list[dict[str, Any]]:
    reply = await rest.call("crm.currency.list", params)
    result: list[dict[str, Any]] = reply.result
    assert reply.body["total"] == len(result) and "next" not in reply.body
    return result


async def test_list_renders_every_value_as_a_string(rest: RestClient) -> None:
    rows = await listed(rest)
    assert [row["CURRENCY"] for row in rows] == SEEDED
    assert rows[0] == USD and list(rows[0]) == KEYS
    by_code = {row["CURRENCY"]: row for row in rows}
    assert by_code["EUR"]["AMOUNT"] == "1.0800" and by_code["RUB"]["AMOUNT"] == "0.0110"
    assert by_code["KZT"]["AMOUNT"] == "0.0021" and by_code["GBP"]["FORMAT_STRING"] == "£#"
    assert by_code["BYN"]["SORT"] == "700"
    assert [row["BASE"] for row in rows].count("Y") == 1
    for row in rows:
        assert all(
            isinstance(row[key], str) for key in KEYS if key not in ("THOUSANDS_SEP", "DATE_UPDATE")
        )


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ({"sort": "desc"}, SEEDED[::-1]),
        ({"SORT": "DESC"}, SEEDED[::-1]),
        ({"currency": "asc"}, sorted(SEEDED)),
        ({"AMOUNT": "desc", "currency": "asc"}, ["GBP", "EUR", "USD", "BYN", "UAH", "RUB", "KZT"]),
        ({"base": "desc", "full_name": "asc"}, ["USD", "BYN", "GBP", "EUR", "KZT", "RUB", "UAH"]),
    ],
)
async def test_list_order_in_any_letter_case(
    rest: RestClient, order: dict[str, str], expected: list[str]
) -> None:
    assert [row["CURRENCY"] for row in await listed(rest, order=order)] == expected


@pytest.mark.parametrize(
    ("order", "message"),
    [
        ({"LID": "asc"}, "Invalid order: field 'LID' is not allowed in order"),
        (
            {"SORT": "up"},
            "Invalid order: allowed sort directions are ASC, DESC. But got 'up' for field 'SORT'",
        ),
    ],
)
async def test_list_refuses_unknown_order(
    rest: RestClient, order: dict[str, str], message: str
) -> None:
    reply = await rest.call("crm.currency.list", {"order": order})
    assert error(reply) == (400, "INVALID_ARG_VALUE", message)


async def test_get_returns_the_row_with_its_language_block(rest: RestClient) -> None:
    reply = await rest.call("crm.currency.get", {"id": "USD"})
    assert {k: v for k, v in reply.result.items() if k != "LANG"} == USD
    assert list(reply.result) == [*KEYS, "LANG"]
    assert reply.result["LANG"] == {
        "en": {
            "FORMAT_STRING": "$#",
            "FULL_NAME": "US Dollar",
            "DEC_POINT": ".",
            "THOUSANDS_SEP": None,
            "DECIMALS": "2",
            "THOUSANDS_VARIANT": "C",
            "HIDE_ZERO": "Y",
        }
    }
    eur = (await rest.call("crm.currency.get", {"ID": " eur "})).result
    assert (eur["CURRENCY"], eur["AMOUNT"], eur["BASE"]) == ("EUR", "1.0800", "N")


async def test_get_errors(rest: RestClient) -> None:
    assert error(await rest.call("crm.currency.get", {"id": "XXX"})) == (400, "", "Not found.")
    for params in ({}, {"id": ""}, {"id": ["USD"]}):
        reply = await rest.call("crm.currency.get", params)
        assert error(reply) == (400, "", "ID is not defined or invalid.")


async def test_base_get_reads_the_base_currency(rest: RestClient, db: AsyncEngine) -> None:
    reply = await rest.call("crm.currency.base.get")
    assert reply.result == "USD"
    async with transaction(db) as conn:
        await conn.execute(update(currencies).values(is_base=currencies.c.currency == "EUR"))
    assert (await rest.call("crm.currency.base.get")).result == "EUR"
    rows = await listed(rest)
    assert [row["CURRENCY"] for row in rows if row["BASE"] == "Y"] == ["EUR"]
