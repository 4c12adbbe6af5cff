"""``crm.item.productrow.*`` handlers for deals (``ownerType`` ``D``; protocol §8.4).

An engine controller (``Crm\\Controller\\Item\\ProductRow``): camelCase fields, JSON
numbers, results wrapped in ``productRow``/``productRows``, and its own error codes:
``ENTITY_TYPE_NOT_SUPPORTED`` for an owner type we do not serve, ``OWNER_NOT_FOUND``,
``NOT_FOUND`` "Item not found" for a row, ``REQUIRED_ARG_MISSING`` for a list without
``=ownerType``/``=ownerId`` and ``ACCESS_DENIED`` when that owner does not exist (as the
method's docs say). Row validation errors become ``INVALID_ARG_VALUE``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from relatecrm.bitrix.call import Call
from relatecrm.bitrix.controller import int_param, mismatch, missing
from relatecrm.bitrix.envelope import ListResult
from relatecrm.bitrix.errors import (
    BitrixError,
    ControllerAccessDenied,
    InvalidArgumentValue,
    ItemNotFound,
    OwnerNotFound,
    OwnerTypeNotSupported,
    RequiredArgumentMissing,
)
from relatecrm.bitrix.filters import split_key
from relatecrm.bitrix.params import resolve
from relatecrm.bitrix.productrows import number, row_id, row_maps
from relatecrm.deals import rows
from relatecrm.deals.pricing import PricingError
from relatecrm.errors import (
    AccessDenied,
    InvalidOrder,
    InvalidParameter,
    InvalidRowValue,
    NotFound,
    ProductRowError,
    ProductRowNotFound,
)
from relatecrm.listing import EQ, GE, GT, IN, LE, LT, NE, Condition
from relatecrm.values import Unconvertible, to_int

DEAL = "D"
CAMEL = {
    "ID": "id", "OWNER_ID": "ownerId", "OWNER_TYPE": "ownerType", "PRODUCT_ID": "productId",
    "PRODUCT_NAME": "productName", "PRICE": "price", "PRICE_ACCOUNT": "priceAccount",
    "PRICE_EXCLUSIVE": "priceExclusive", "PRICE_NETTO": "priceNetto",
    "PRICE_BRUTTO": "priceBrutto", "QUANTITY": "quantity", "DISCOUNT_TYPE_ID": "discountTypeId",
    "DISCOUNT_RATE": "discountRate", "DISCOUNT_SUM": "discountSum", "TAX_RATE": "taxRate",
    "TAX_INCLUDED": "taxIncluded", "CUSTOMIZED": "customized", "MEASURE_CODE": "measureCode",
    "MEASURE_NAME": "measureName", "SORT": "sort", "XML_ID": "xmlId", "TYPE": "type",
    "STORE_ID": "storeId",
}  # fmt: skip
# camelCase (and, leniently, UPPER_SNAKE) names to UPPER_SNAKE.
UPPER = {**{name: name for name in CAMEL}, **{camel: name for name, camel in CAMEL.items()}}
WRITABLE = frozenset({"PRODUCT_ID", "PRODUCT_NAME", "PRICE", "QUANTITY", "DISCOUNT_TYPE_ID",
                      "DISCOUNT_RATE", "DISCOUNT_SUM", "TAX_RATE", "TAX_INCLUDED",
                      "MEASURE_CODE", "SORT"})  # fmt: skip
# Accepted without an error, but never stored: the owner cannot move, the measure name
# follows the code, a row is always "customized".
NOT_RETAINED = frozenset({"OWNER_ID", "OWNER_TYPE", "MEASURE_NAME", "CUSTOMIZED"})
# Owner type abbreviations Bitrix knows, and the names its error message shows.
OWNER_TYPES = {"L": "LEAD", "C": "CONTACT", "CO": "COMPANY", "I": "INVOICE", "Q": "QUOTE",
               "O": "ORDER", "SI": "SMART_INVOICE"}  # fmt: skip
COMPARISONS = frozenset({EQ, NE, GT, GE, LT, LE})


def _field(kind: str, title: str, *, required: bool = False, read_only: bool = False,
           immutable: bool = False) -> dict[str, Any]:  # fmt: skip
    return {"type": kind, "isRequired": required, "isReadOnly": read_only,
            "isImmutable": immutable, "isMultiple": False, "isDynamic": False,
            "title": title}  # fmt: skip


# The crm.item.productrow.fields example of the Bitrix docs, field for field.
FIELDS = {
    "id": _field("integer", "ID", read_only=True),
    "ownerId": _field("integer", "Owner ID", required=True, immutable=True),
    "ownerType": _field("string", "Owner Type", required=True, immutable=True),
    "productId": _field("integer", "Product", required=True),
    "productName": _field("string", "Product Name"),
    "price": _field("double", "Price"),
    "priceExclusive": _field("double", "Discounted price excluding tax", read_only=True),
    "priceNetto": _field("double", "PRICE_NETTO", read_only=True),
    "priceBrutto": _field("double", "PRICE_BRUTTO", read_only=True),
    "quantity": _field("double", "Quantity"),
    "discountTypeId": _field("integer", "Discount Type"),
    "discountRate": _field("double", "Discount Amount"),
    "discountSum": _field("double", "Discount Total"),
    "taxRate": _field("double", "Tax"),
    "taxIncluded": _field("char", "Tax included in price"),
    "customized": _field("char", "Modified"),
    "measureCode": _field("integer", "Unit of Measure Code"),
    "measureName": _field("string", "Unit of Measure"),
    "sort": _field("integer", "Sorting"),
    "type": _field("integer", "TYPE", read_only=True),
    "storeId": _field("integer", "STORE_ID", read_only=True),
}


def render(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": row["ID"],
        "ownerId": row["OWNER_ID"],
        "ownerType": row["OWNER_TYPE"],
        "productId": row["PRODUCT_ID"],
        "productName": row["PRODUCT_NAME"],
        "price": number(row["PRICE"]),
        "priceAccount": number(row["PRICE"]),
        "priceExclusive": number(row["PRICE_EXCLUSIVE"]),
        "priceNetto": number(row["PRICE_NETTO"]),
        "priceBrutto": number(row["PRICE_BRUTTO"]),
        "quantity": number(row["QUANTITY"]),
        "discountTypeId": row["DISCOUNT_TYPE_ID"],
        "discountRate": number(row["DISCOUNT_RATE"]),
        "discountSum": number(row["DISCOUNT_SUM"]),
        "taxRate": number(row["TAX_RATE"]),
        "taxIncluded": row["TAX_INCLUDED"],
        "customized": row["CUSTOMIZED"],
        "measureCode": row["MEASURE_CODE"],
        "measureName": row["MEASURE_NAME"],
        "sort": row["SORT"],
        "xmlId": row["XML_ID"] or "",
        "type": row["TYPE"],
        "storeId": None,
    }


@contextmanager
def _row_errors(no_owner: BitrixError) -> Iterator[None]:
    """The domain's errors in this controller's codes; ``no_owner`` when the deal is gone."""
    try:
        yield
    except ProductRowNotFound:
        raise ItemNotFound() from None
    except NotFound:
        raise no_owner from None
    except AccessDenied:
        raise ControllerAccessDenied() from None
    except InvalidRowValue as error:
        name = CAMEL.get(error.field, error.field)
        raise InvalidArgumentValue(f'Invalid value for field "{name}"') from None
    except (ProductRowError, PricingError, InvalidParameter) as error:
        raise InvalidArgumentValue(error.message.removesuffix("<br>")) from None


def _array_param(call: Call, name: str) -> dict[str, Any]:
    raw = resolve(call.params, name)
    if raw is None:
        raise missing(name)
    if raw == [] or raw == "":
        return {}
    if not isinstance(raw, dict):
        raise mismatch(name, raw, "array")
    return raw


def _upper(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Known names in UPPER_SNAKE; unknown names are dropped, as the controller drops them."""
    return {UPPER[key]: value for key, value in fields.items() if key in UPPER}


def _writable(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in _upper(fields).items() if name in WRITABLE}


def _deal_of(owner_type: Any, owner_id: Any) -> int:
    """The deal an owner names; other owner types are not supported here."""
    code = owner_type.strip().upper() if isinstance(owner_type, str) else ""
    if code != DEAL:
        if code.startswith("T") and len(code) > 1:
            try:
                name = f"DYNAMIC_{int(code[1:], 16)}"
            except ValueError:
                name = ""
        else:
            name = OWNER_TYPES.get(code, "")
        raise OwnerTypeNotSupported(f"Entity type {name} is not supported")
    try:
        deal_id = to_int(owner_id)
    except Unconvertible:
        raise OwnerNotFound() from None
    if deal_id <= 0:
        raise OwnerNotFound()
    return deal_id


def _row_id(call: Call) -> int:
    value = int_param(call, "id")
    if value <= 0:
        raise ItemNotFound()
    return value


async def add(call: Call) -> dict[str, Any]:
    fields = _upper(_array_param(call, "fields"))
    deal_id = _deal_of(fields.get("OWNER_TYPE"), fields.get("OWNER_ID"))
    with _row_errors(OwnerNotFound()):
        row = await rows.add_row(call.conn, call.ctx, deal_id, _writable(fields))
    return {"productRow": render(row)}


async def update(call: Call) -> dict[str, Any] | None:
    row_id_ = _row_id(call)
    raw = _array_param(call, "fields")
    with _row_errors(ItemNotFound()):
        await rows.get_row(call.conn, call.ctx, row_id_)
        if not raw:
            return None  # an empty ``fields`` changes nothing and answers null
        known = _upper(raw)
        if not any(name in WRITABLE or name in NOT_RETAINED for name in known):
            raise InvalidArgumentValue(f"Field '{next(iter(raw))}' not available for update")
        row = await rows.update_row(call.conn, call.ctx, row_id_, _writable(raw))
    return {"productRow": render(row)}


async def get(call: Call) -> dict[str, Any]:
    row_id_ = _row_id(call)
    with _row_errors(ItemNotFound()):
        row = await rows.get_row(call.conn, call.ctx, row_id_)
    return {"productRow": render(row)}


async def delete(call: Call) -> None:
    row_id_ = _row_id(call)
    with _row_errors(ItemNotFound()):
        await rows.delete_row(call.conn, call.ctx, row_id_)


async def set_(call: Call) -> dict[str, Any]:
    owner_type = resolve(call.params, "ownerType")
    if owner_type is None:
        raise missing("ownerType")
    owner_id = int_param(call, "ownerId")
    raw = resolve(call.params, "productRows")
    if raw is None:
        raise missing("productRows")
    if not isinstance(raw, list | dict):
        raise mismatch("productRows", raw, "array")
    deal_id = _deal_of(owner_type, owner_id)
    with _row_errors(OwnerNotFound()):
        sent = [_upper(row) for row in row_maps(raw, "productRows")]
        stored = await rows.set_rows(
            call.conn,
            call.ctx,
            deal_id,
            [_writable(row) for row in sent],
            keep_ids=[row_id(row.get("ID")) for row in sent],
        )
    return {"productRows": [render(row) for row in stored]}


def _filter(raw: Mapping[str, Any]) -> tuple[Any, Any, list[Condition], str | None]:
    """(``=ownerType``, ``=ownerId``, conditions on ID/PRODUCT_ID, a key with a value that
    cannot be compared); other keys are ignored. The bad key is reported only after the
    owner checks, in the controller's order."""
    owner_type = owner_id = bad_key = None
    conditions: list[Condition] = []
    for key, value in raw.items():
        text = str(key).strip()
        op, bare = split_key(text)
        name = UPPER.get(bare)
        if name is None:
            continue
        prefix = text[: len(text) - len(bare)]
        if op in (GT, GE, LT, LE) and not isinstance(value, str | int | float):
            bad_key = bad_key or f"{prefix}{name}"
        elif prefix == "=" and name == "OWNER_TYPE":
            owner_type = value
        elif prefix == "=" and name == "OWNER_ID":
            owner_id = value
        elif op == IN and name == "ID":
            values = list(value.values()) if isinstance(value, dict) else value
            conditions.append(Condition(name, IN, values if isinstance(values, list) else [values]))
        elif (
            op in COMPARISONS
            and name in ("ID", "PRODUCT_ID")
            and not isinstance(value, dict | list)
        ):
            conditions.append(Condition(name, op, value))
    return owner_type, owner_id, conditions, bad_key


def _order(raw: Any) -> list[tuple[str, str]]:
    if raw is None or raw == [] or raw == "":
        return [("SORT", "ASC")]
    if not isinstance(raw, dict):
        raise mismatch("order", raw, "array")
    order: list[tuple[str, str]] = []
    for key, direction in raw.items():
        name = UPPER.get(str(key).strip())
        if name not in ("ID", "SORT"):
            continue  # only id and sort order product rows; other names are ignored
        normalized = direction.strip().upper() if isinstance(direction, str) else ""
        if normalized not in ("ASC", "DESC"):
            raise InvalidOrder.bad_direction(str(key), str(direction))
        order.append((name, normalized))
    return order or [("SORT", "ASC")]


async def list_(call: Call) -> ListResult:
    raw = resolve(call.params, "filter")
    if raw is not None and raw != [] and raw != "" and not isinstance(raw, dict):
        raise mismatch("filter", raw, "array")
    owner_type, owner_id, conditions, bad_key = _filter(raw if isinstance(raw, dict) else {})
    if not isinstance(owner_type, str) or not owner_type.strip():
        raise RequiredArgumentMissing("=ownerType")
    try:
        deal_id = to_int(owner_id)
    except Unconvertible:
        deal_id = 0
    if deal_id <= 0:
        raise RequiredArgumentMissing("=ownerId")
    if owner_type.strip().upper() != DEAL:
        raise ControllerAccessDenied()
    if bad_key is not None:
        message = f"Value for filter key '{bad_key}' should be either string or number"
        raise InvalidArgumentValue(message)
    order = _order(resolve(call.params, "order"))
    with _row_errors(ControllerAccessDenied()):
        page = await rows.list_rows(call.conn, call.ctx, deal_id, conditions, order, call.start)
    items = {"productRows": [render(row) for row in page.rows]}
    return ListResult(items, total=page.total, next=page.next)


async def fields(call: Call) -> dict[str, Any]:
    return {"fields": FIELDS}
