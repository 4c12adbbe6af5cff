"""``crm.currency.list``, ``crm.currency.get`` and ``crm.currency.base.get`` (classic proxy).

Every value of a currency row is a string, the rate with four decimals (``"68.7900"``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from relatecrm.bitrix.call import Call
from relatecrm.bitrix.envelope import ListResult
from relatecrm.bitrix.filters import parse_order
from relatecrm.bitrix.params import resolve
from relatecrm.bitrix.render import render_value
from relatecrm.errors import InvalidId
from relatecrm.pipelines import currencies

LANGUAGE = "en"
RATE_PLACES = Decimal("0.0001")


def _format(currency: currencies.Currency) -> dict[str, Any]:
    fmt = currency.format
    return {
        "FORMAT_STRING": fmt.format_string,
        "DEC_POINT": fmt.dec_point,
        "THOUSANDS_SEP": fmt.thousands_sep,
        "DECIMALS": str(fmt.decimals),
    }


def render(currency: currencies.Currency, tz: Any) -> dict[str, Any]:
    return {
        "CURRENCY": currency.code,
        "AMOUNT_CNT": str(currency.amount_cnt),
        "AMOUNT": str(currency.amount.quantize(RATE_PLACES)),
        "SORT": str(currency.sort),
        "BASE": "Y" if currency.is_base else "N",
        "FULL_NAME": currency.full_name,
        "LID": LANGUAGE,
        **_format(currency),
        "DATE_UPDATE": render_value("datetime", currency.date_update, tz),
    }


async def list_(call: Call) -> ListResult:
    found = await currencies.list_currencies(
        call.conn, order=parse_order(resolve(call.params, "order"))
    )
    # Bitrix24 answers "total": 0 here; the true count helps clients and breaks none.
    return ListResult([render(c, call.ctx.tz) for c in found], total=len(found))


async def get(call: Call) -> dict[str, Any]:
    code = resolve(call.params, "id")
    if not isinstance(code, str) or not code.strip():
        raise InvalidId()
    currency = await currencies.get_currency(call.conn, code=code)
    fmt = currency.format
    lang = {
        "FORMAT_STRING": fmt.format_string,
        "FULL_NAME": currency.full_name,
        "DEC_POINT": fmt.dec_point,
        "THOUSANDS_SEP": fmt.thousands_sep,
        "DECIMALS": str(fmt.decimals),
        "THOUSANDS_VARIANT": fmt.thousands_variant,
        "HIDE_ZERO": "Y" if fmt.hide_zero else "N",
    }
    return {**render(currency, call.ctx.tz), "LANG": {LANGUAGE: lang}}


async def base_get(call: Call) -> str:
    return await currencies.base_currency_code(call.conn)
