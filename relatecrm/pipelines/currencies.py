"""Currencies: codes, rates to the base currency, and how amounts in them are written."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.errors import NotFound
from relatecrm.listing import Queryable, compile_order
from relatecrm.pipelines.models import currencies
from relatecrm.pipelines.service import base_currency

# Display formats in English (``#`` is the amount); other codes are written "# CODE".
FORMAT_STRINGS = {"USD": "$#", "EUR": "€#", "GBP": "£#", "RUB": "# ₽", "UAH": "# ₴",
                  "KZT": "# ₸", "BYN": "# Br"}  # fmt: skip
# The order allow-list of crm.currency.list.
ORDERABLE = {
    name: Queryable(name, type_, currencies.c[column], likeable=False, nullable=False)
    for name, type_, column in (("CURRENCY", "string", "currency"), ("SORT", "integer", "sort"),
                                ("AMOUNT", "double", "amount"), ("AMOUNT_CNT", "integer",
                                "amount_cnt"), ("BASE", "char", "is_base"),
                                ("FULL_NAME", "string", "full_name"))
}  # fmt: skip


@dataclass(frozen=True)
class CurrencyFormat:
    """How an amount is written: ``format_string`` holds ``#`` where the number goes."""

    format_string: str
    dec_point: str = "."
    # None: the separator follows ``thousands_variant`` ("C" is a comma).
    thousands_sep: str | None = None
    thousands_variant: str = "C"
    decimals: int = 2
    hide_zero: bool = True


@dataclass(frozen=True)
class Currency:
    """``amount`` units of the base currency buy ``amount_cnt`` units of this one."""

    code: str
    full_name: str
    amount_cnt: int
    amount: Decimal
    sort: int
    is_base: bool
    format: CurrencyFormat
    # When the rate last changed; the table does not keep it yet.
    date_update: dt.datetime | None = None


def _currency(row: Any) -> Currency:
    fmt = CurrencyFormat(FORMAT_STRINGS.get(row.currency, f"# {row.currency}"))
    return Currency(row.currency, row.full_name, row.amount_cnt, Decimal(row.amount), row.sort,
                    bool(row.is_base), fmt)  # fmt: skip


async def list_currencies(
    conn: AsyncConnection, *, order: Sequence[tuple[str, str]]
) -> list[Currency]:
    """Every currency, by ``order`` or by SORT, then by code."""
    terms = compile_order(ORDERABLE, order or [("SORT", "ASC")], "CURRENCY")
    rows = await conn.execute(select(currencies).order_by(*terms))
    return [_currency(row) for row in rows]


async def get_currency(conn: AsyncConnection, *, code: str) -> Currency:
    """The currency with this ISO code (any letter case)."""
    row = await conn.execute(
        select(currencies).where(currencies.c.currency == code.strip().upper())
    )
    found = row.first()
    if found is None:
        raise NotFound()
    return _currency(found)


async def base_currency_code(conn: AsyncConnection) -> str:
    return await base_currency(conn) or ""
