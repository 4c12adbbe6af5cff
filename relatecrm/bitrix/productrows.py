"""``crm.deal.productrows.set/get`` handlers (spec deals §4.1, §4.2): classic proxy methods.

Errors carry an empty code and the exact texts of ``CCrmDealRestProxy``; row validation
fails with ``ERROR_CORE`` and a trailing ``<br>``. Rows are rendered with §1.6's mixed
types: ID and OWNER_ID strings, numbers as JSON numbers, PRICE_ACCOUNT a 2-decimal string.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from relatecrm.bitrix.call import Call
from relatecrm.bitrix.filters import ascii_upper
from relatecrm.bitrix.params import php_list, resolve
from relatecrm.deals import rows
from relatecrm.errors import InvalidId, InvalidParameter, NotFound
from relatecrm.values import Unconvertible, to_int

BAD_ID = "The parameter id is invalid or not defined."
CENTS = Decimal("0.01")
# Reserve and warehouse fields: RelateCRM keeps no stock, so a row never has any.
NO_STOCK = {"STORE_ID": None, "RESERVE_ID": None, "DATE_RESERVE_END": None,
            "RESERVE_QUANTITY": None}  # fmt: skip


def number(value: Decimal | None) -> int | float | None:
    """A JSON number as PHP prints a rounded double: ``100``, ``899.1``."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def php_array(raw: Any) -> list[Any] | None:
    """A PHP array's values in order (form encodings send maps keyed 0..n-1), or None."""
    if isinstance(raw, list):
        return raw
    if not isinstance(raw, dict):
        return None
    listed = php_list(raw)
    if listed is not None:
        return listed
    keys = list(raw)
    if all(isinstance(k, str) and k.isascii() and k.lstrip("-").isdigit() for k in keys):
        keys.sort(key=int)
    return [raw[key] for key in keys]


def row_maps(raw: Any, name: str) -> list[dict[str, Any]]:
    """Each element of a row array as a map; an element that is no map is refused.

    (Bitrix skips such an element silently and saves the rest; refusing tells the
    client its row was not what it meant, and nothing is written.)
    """
    items = php_array(raw)
    if items is None:
        raise InvalidParameter(f"The parameter {name} must be array.")
    maps: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if item == [] or item == "":
            item = {}
        if not isinstance(item, dict):
            raise InvalidParameter(f"The parameter {name}[{index}] must be array.")
        maps.append(item)
    return maps


def row_id(value: Any) -> int | None:
    """The id a row of a ``set`` names, if it reads as one."""
    try:
        return to_int(value) if value is not None else None
    except Unconvertible:
        return None


def _deal_id(call: Call) -> int:
    try:
        deal_id = to_int(resolve(call.params, "id"))
    except Unconvertible:
        raise InvalidId(BAD_ID) from None
    if deal_id <= 0:
        raise InvalidId(BAD_ID)
    return deal_id


@contextmanager
def _deal_errors() -> Iterator[None]:
    try:
        yield
    except NotFound:
        raise NotFound("Not found") from None


def render(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "ID": str(row["ID"]),
        "OWNER_ID": str(row["OWNER_ID"]),
        "OWNER_TYPE": row["OWNER_TYPE"],
        "PRODUCT_ID": row["PRODUCT_ID"],
        "PRODUCT_NAME": row["PRODUCT_NAME"],
        "ORIGINAL_PRODUCT_NAME": row.get("ORIGINAL_PRODUCT_NAME"),
        "PRODUCT_DESCRIPTION": row["PRODUCT_DESCRIPTION"],
        "PRICE": number(row["PRICE"]),
        "PRICE_EXCLUSIVE": number(row["PRICE_EXCLUSIVE"]),
        "PRICE_NETTO": number(row["PRICE_NETTO"]),
        "PRICE_BRUTTO": number(row["PRICE_BRUTTO"]),
        "PRICE_ACCOUNT": str(row["PRICE"].quantize(CENTS)),
        "QUANTITY": number(row["QUANTITY"]),
        "DISCOUNT_TYPE_ID": row["DISCOUNT_TYPE_ID"],
        "DISCOUNT_RATE": number(row["DISCOUNT_RATE"]),
        "DISCOUNT_SUM": number(row["DISCOUNT_SUM"]),
        "TAX_RATE": number(row["TAX_RATE"]),
        "TAX_INCLUDED": row["TAX_INCLUDED"],
        "CUSTOMIZED": row["CUSTOMIZED"],
        "MEASURE_CODE": row["MEASURE_CODE"],
        "MEASURE_NAME": row["MEASURE_NAME"],
        "SORT": row["SORT"],
        "XML_ID": row["XML_ID"] or "",
        "TYPE": row["TYPE"],
        **NO_STOCK,
    }


async def set_(call: Call) -> bool:
    deal_id = _deal_id(call)
    raw = resolve(call.params, "rows")
    sent = [] if raw is None else row_maps(raw, "rows")
    fields = [{ascii_upper(str(key)): value for key, value in row.items()} for row in sent]
    with _deal_errors():
        await rows.set_rows(
            call.conn, call.ctx, deal_id, fields, keep_ids=[row_id(f.get("ID")) for f in fields]
        )
    return True


async def get(call: Call) -> list[dict[str, Any]]:
    deal_id = _deal_id(call)
    with _deal_errors():
        stored = await rows.get_rows(call.conn, call.ctx, deal_id)
    return [render(row) for row in stored]
