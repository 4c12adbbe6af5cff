"""Deal product rows, and the deal amount that follows them (spec deals §2.7, §4).

Both dialects end here with UPPER_SNAKE row fields. A row as sent is read strictly
(numbers from JSON numbers or strings, never floats into pricing), rounded to what the
columns keep (QUANTITY 4 places, rates 2) *before* pricing, so a stored row reprices to
itself and the deal totals can always be recomputed from storage. Defaults are §4.1's.

Every write locks the deal row first, so concurrent writers of one deal take turns
(PostgreSQL; SQLite writers are serialised by BEGIN IMMEDIATE). Then, unless the deal is
in manual mode (IS_MANUAL_OPPORTUNITY=Y, both values left alone), OPPORTUNITY and
TAX_VALUE are recomputed from the stored rows in the same transaction.

An emptied row set in automatic mode sets the amount to 0, as Bitrix does
(``Crm\\Field\\Opportunity::processLogic``: deleted products → default value;
``CCrmProductRow::SaveRows`` syncs the owner whenever rows existed before or after).
A deal that never had rows keeps the amount its client sent.

A PRODUCT_ID that is not in the catalog is refused with nothing written: the newer
Bitrix docs of ``crm.item.productrow.add/set/update`` list exactly that error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.accounts.permissions import READ, UPDATE
from relatecrm.context import Context
from relatecrm.deals import access, events, repository, rowstore
from relatecrm.deals.pricing import ABSOLUTE, PERCENT, PricedRow, RowInput, price_row, totals
from relatecrm.errors import (
    InvalidRowValue,
    NotFound,
    ProductRowNotFound,
    RowProductNotFound,
    RowsTotalOutOfRange,
)
from relatecrm.listing import Condition, Page
from relatecrm.products import catalog
from relatecrm.values import Unconvertible, is_null, to_decimal, to_flag, to_int, to_string

# Bitrix keeps money in DECIMAL(18,2) and quantities in DECIMAL(18,4): values that fit.
MONEY_LIMIT = Decimal(10) ** 16
QUANTITY_LIMIT = Decimal(10) ** 14
CENTS = Decimal("0.01")
QUANTUM = Decimal("0.0001")
PRICES = ("PRICE", "PRICE_EXCLUSIVE", "PRICE_NETTO", "PRICE_BRUTTO")
# Writable row fields and how each is read.
KINDS = {
    "PRODUCT_ID": "product", "PRODUCT_NAME": "text", "PRICE": "money",
    "PRICE_EXCLUSIVE": "money", "PRICE_NETTO": "money", "PRICE_BRUTTO": "money",
    "QUANTITY": "quantity", "DISCOUNT_TYPE_ID": "int", "DISCOUNT_RATE": "rate",
    "DISCOUNT_SUM": "money", "TAX_RATE": "rate", "TAX_INCLUDED": "flag",
    "MEASURE_CODE": "int", "MEASURE_NAME": "text", "SORT": "int", "XML_ID": "text",
}  # fmt: skip
WRITABLE = frozenset(KINDS)
TEXT_LIMITS = {"PRODUCT_NAME": 255, "MEASURE_NAME": 50, "XML_ID": 255}


# --- reading a row as sent ------------------------------------------------------------


def _read_value(name: str, raw: Any) -> Any:
    kind = KINDS[name]
    if kind == "text":
        text = to_string(raw)
        if len(text) > TEXT_LIMITS[name]:
            raise Unconvertible(raw)
        return text
    if kind == "flag":
        return to_flag(raw)
    if kind in ("int", "product"):
        number = to_int(raw)
        if kind == "product" and number < 0:
            raise Unconvertible(raw)
        return number
    value = to_decimal(raw)
    if kind == "quantity":
        value = value.quantize(QUANTUM, rounding=ROUND_HALF_UP)
        if abs(value) >= QUANTITY_LIMIT:
            raise Unconvertible(raw)
    elif kind == "rate":
        value = value.quantize(CENTS, rounding=ROUND_HALF_UP)
    return value


def read_row(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The known, writable fields that were sent, as Python values; others are ignored.

    ``None`` and ``""`` mean "not sent" (PHP ``isset``), so the §4.1 default applies.
    """
    sent: dict[str, Any] = {}
    for name, raw in fields.items():
        if name not in WRITABLE or raw is None or (isinstance(raw, str) and not raw.strip()):
            continue
        if KINDS[name] != "text" and is_null(raw):
            continue
        if isinstance(raw, Mapping | list | tuple):
            raise InvalidRowValue(name)
        try:
            sent[name] = _read_value(name, raw)
        except (Unconvertible, ArithmeticError):
            raise InvalidRowValue(name) from None
    return sent


# --- pricing and defaults -------------------------------------------------------------


@dataclass(frozen=True)
class Draft:
    """A row ready to store: its column values, and whether it is named after its id."""

    values: dict[str, Any]
    named_after_id: bool


def _priced(sent: Mapping[str, Any]) -> PricedRow:
    return price_row(
        RowInput(
            price=sent.get("PRICE"),
            price_exclusive=sent.get("PRICE_EXCLUSIVE"),
            price_netto=sent.get("PRICE_NETTO"),
            price_brutto=sent.get("PRICE_BRUTTO"),
            quantity=sent.get("QUANTITY", Decimal(1)),
            discount_type_id=sent.get("DISCOUNT_TYPE_ID"),
            discount_rate=sent.get("DISCOUNT_RATE"),
            discount_sum=sent.get("DISCOUNT_SUM"),
            tax_rate=sent.get("TAX_RATE"),
            tax_included=sent.get("TAX_INCLUDED") == "Y",
        )
    )


def _draft(
    sent: Mapping[str, Any],
    products: Mapping[int, catalog.ProductInfo],
    measures: Mapping[int, str],
) -> Draft:
    priced = _priced(sent)
    product = products.get(sent.get("PRODUCT_ID", 0))
    name = sent.get("PRODUCT_NAME") or (product.name if product else "")
    if "MEASURE_CODE" in sent:
        code = sent["MEASURE_CODE"]
        measure = sent.get("MEASURE_NAME", measures.get(code, ""))
    elif product is not None:
        code, measure = product.measure_code, sent.get("MEASURE_NAME", product.measure_name)
    else:
        code, measure = 0, sent.get("MEASURE_NAME", "")
    values = {
        "PRODUCT_ID": sent.get("PRODUCT_ID", 0),
        "PRODUCT_NAME": name,
        "PRICE": priced.price,
        "PRICE_EXCLUSIVE": priced.price_exclusive,
        "PRICE_NETTO": priced.price_netto,
        "PRICE_BRUTTO": priced.price_brutto,
        "QUANTITY": priced.quantity,
        "DISCOUNT_TYPE_ID": priced.discount_type_id,
        "DISCOUNT_RATE": priced.discount_rate,
        "DISCOUNT_SUM": priced.discount_sum,
        "TAX_RATE": priced.tax_rate,
        "TAX_INCLUDED": "Y" if priced.tax_included else "N",
        "CUSTOMIZED": "Y",  # Bitrix's SaveRows always stores Y
        "MEASURE_CODE": code,
        "MEASURE_NAME": measure,
        "SORT": sent.get("SORT", 0),
        "XML_ID": sent.get("XML_ID"),
    }
    for field in (*PRICES, "DISCOUNT_SUM", "DISCOUNT_RATE"):  # derived ones may overflow
        if abs(values[field]) >= MONEY_LIMIT:
            raise InvalidRowValue(field)
    return Draft(values, named_after_id=not name)


async def _drafts(
    conn: AsyncConnection, sents: Sequence[Mapping[str, Any]], *, known: int = 0
) -> list[Draft]:
    """Price every row, with catalog names and measures looked up in two queries.

    ``known`` is a product a stored row already names: it may have left the catalog
    since, and its row stays editable (Bitrix keeps rows of deleted products).
    """
    wanted = [sent.get("PRODUCT_ID", 0) for sent in sents]
    products = await catalog.find(conn, wanted)
    for product_id in wanted:
        if product_id > 0 and product_id not in products and product_id != known:
            raise RowProductNotFound(product_id)
    codes = [s["MEASURE_CODE"] for s in sents if "MEASURE_CODE" in s and "MEASURE_NAME" not in s]
    measures = await catalog.measure_names(conn, codes)
    return [_draft(sent, products, measures) for sent in sents]


def _merged(stored: Mapping[str, Any], sent: Mapping[str, Any]) -> dict[str, Any]:
    """An update: the stored row with the sent fields over it, repriced from its PRICE.

    The discount is carried only where the documented checks need it, so switching a row
    to a 100 % discount without DISCOUNT_SUM still fails as it does on ``set``.
    """
    merged: dict[str, Any] = {
        name: stored[name]
        for name in ("PRODUCT_ID", "PRODUCT_NAME", "QUANTITY", "DISCOUNT_TYPE_ID",
                     "TAX_INCLUDED", "MEASURE_CODE", "MEASURE_NAME", "SORT")
    }  # fmt: skip
    for name in ("TAX_RATE", "XML_ID"):
        if stored[name] is not None:
            merged[name] = stored[name]
    if not any(name in sent for name in PRICES):
        merged["PRICE"] = stored["PRICE"]
    kind, was = sent.get("DISCOUNT_TYPE_ID", stored["DISCOUNT_TYPE_ID"]), stored["DISCOUNT_TYPE_ID"]
    if kind == was == PERCENT:
        merged["DISCOUNT_RATE"] = stored["DISCOUNT_RATE"]
    if kind == was == ABSOLUTE or (kind == was == PERCENT and stored["DISCOUNT_RATE"] == 100):
        merged["DISCOUNT_SUM"] = stored["DISCOUNT_SUM"]  # a 100 % discount's PRICE_NETTO
    new_product = sent.get("PRODUCT_ID", stored["PRODUCT_ID"])
    if new_product != stored["PRODUCT_ID"] and new_product > 0 and "PRODUCT_NAME" not in sent:
        del merged["PRODUCT_NAME"]  # the new product's name, as Bitrix substitutes it
    if "MEASURE_CODE" in sent and "MEASURE_NAME" not in sent:
        del merged["MEASURE_NAME"]  # the name follows the new code
    merged.update(sent)
    return merged


# --- the deal amount ------------------------------------------------------------------


async def _lock(conn: AsyncConnection, ctx: Context, deal_id: int) -> dict[str, Any]:
    """Lock the deal row until commit; every row write of the deal waits here first.

    Changing a deal's rows is changing the deal: the caller needs "update" on it."""
    names = ["ID", "IS_MANUAL_OPPORTUNITY"]
    return await access.deal(conn, ctx, deal_id, UPDATE, names, for_update=True)


def _totals(amounts: Sequence[tuple[Decimal, Decimal, Decimal | None]]) -> tuple[Decimal, Decimal]:
    """(OPPORTUNITY, TAX_VALUE) of stored (PRICE, QUANTITY, TAX_RATE): exact, rounded once."""
    return totals(
        price_row(RowInput(price=price, quantity=quantity, tax_rate=tax_rate))
        for price, quantity, tax_rate in amounts
    )


async def stored_totals(conn: AsyncConnection, deal_id: int) -> tuple[Decimal, Decimal]:
    return _totals(await rowstore.amounts(conn, deal_id))


async def _synchronise(conn: AsyncConnection, ctx: Context, deal: Mapping[str, Any]) -> None:
    """After a change of rows: the deal's amount (automatic mode), its modifier, its event."""
    deal_id = int(deal["ID"])
    opportunity, tax_value = await stored_totals(conn, deal_id)
    if abs(opportunity) >= MONEY_LIMIT or abs(tax_value) >= MONEY_LIMIT:
        raise RowsTotalOutOfRange()  # checked in manual mode too: a later switch must fit
    columns: dict[str, Any] = {"modify_by_id": ctx.user_id, "date_modify": ctx.now}
    if deal["IS_MANUAL_OPPORTUNITY"] != "Y":
        columns.update(opportunity=opportunity, tax_value=tax_value)
    await repository.update_deal(conn, deal_id, columns)
    await events.record(conn, ctx, "onCrmDealUpdate", deal_id)


async def enforce_totals(conn: AsyncConnection, deal_id: int, columns: dict[str, Any]) -> None:
    """Deal update: in automatic mode a deal with rows keeps the rows' amount.

    A client-sent OPPORTUNITY/TAX_VALUE is overridden, and switching IS_MANUAL_OPPORTUNITY
    from Y to N recomputes from the rows. ``columns`` are the deal columns about to be
    written, under the caller's lock of the deal row. Nothing else can move the amount
    away from the rows, so other updates skip the look-up.
    """
    if not {"opportunity", "tax_value", "is_manual_opportunity"} & columns.keys():
        return
    manual = columns.get("is_manual_opportunity")
    if manual is None:
        deal = await repository.fetch(conn, deal_id, ["IS_MANUAL_OPPORTUNITY"])
        manual = deal["IS_MANUAL_OPPORTUNITY"] if deal is not None else "Y"
    if manual == "Y":
        return
    amounts = await rowstore.amounts(conn, deal_id)
    if amounts:  # a deal that has no rows keeps the amount its client sends
        columns["opportunity"], columns["tax_value"] = _totals(amounts)


# --- operations -----------------------------------------------------------------------


async def get_rows(conn: AsyncConnection, ctx: Context, deal_id: int) -> list[dict[str, Any]]:
    """The deal's rows, SORT then ID, with ORIGINAL_PRODUCT_NAME from the catalog."""
    await access.deal(conn, ctx, deal_id, READ)
    rows = await rowstore.load(conn, deal_id)
    products = await catalog.find(conn, [row["PRODUCT_ID"] for row in rows])
    for row in rows:
        product = products.get(row["PRODUCT_ID"])
        row["ORIGINAL_PRODUCT_NAME"] = product.name if product is not None else None
    return rows


async def set_rows(
    conn: AsyncConnection,
    ctx: Context,
    deal_id: int,
    rows: Sequence[Mapping[str, Any]],
    *,
    keep_ids: Sequence[int | None] = (),
) -> list[dict[str, Any]]:
    """Replace the deal's whole row set; the rows now stored.

    ``keep_ids[i]`` may name a current row of this deal whose id row ``i`` keeps
    (``crm.item.productrow.set``); any other id is ignored and the row is new.
    """
    deal = await _lock(conn, ctx, deal_id)
    drafts = await _drafts(conn, [read_row(row) for row in rows])
    before = await rowstore.ids_of(conn, deal_id)
    await rowstore.delete_all(conn, deal_id)
    available = set(before)
    kept: dict[int, dict[str, Any]] = {}
    fresh: list[Draft] = []
    named = []
    for index, draft in enumerate(drafts):
        wanted = keep_ids[index] if index < len(keep_ids) else None
        if wanted is not None and wanted in available:
            available.discard(wanted)
            kept[wanted] = draft.values
            if draft.named_after_id:
                named.append(wanted)
        else:
            fresh.append(draft)
    await rowstore.insert_with_ids(conn, deal_id, kept)
    ids = await rowstore.insert_rows(conn, deal_id, [draft.values for draft in fresh])
    named.extend(row_id for row_id, draft in zip(ids, fresh, strict=True) if draft.named_after_id)
    await rowstore.name_after_ids(conn, named)
    if before or drafts:
        await _synchronise(conn, ctx, deal)
    return await rowstore.load(conn, deal_id)


async def add_row(
    conn: AsyncConnection, ctx: Context, deal_id: int, fields: Mapping[str, Any]
) -> dict[str, Any]:
    deal = await _lock(conn, ctx, deal_id)
    (draft,) = await _drafts(conn, [read_row(fields)])
    (row_id,) = await rowstore.insert_rows(conn, deal_id, [draft.values])
    if draft.named_after_id:
        await rowstore.name_after_ids(conn, [row_id])
    await _synchronise(conn, ctx, deal)
    return await get_row(conn, ctx, row_id)


async def _locked_row(
    conn: AsyncConnection, ctx: Context, row_id: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(deal, row) with the owning deal locked; the row is read again after the lock."""
    found = await rowstore.load_one(conn, row_id)
    if found is None:
        raise ProductRowNotFound()
    try:
        deal = await _lock(conn, ctx, int(found["OWNER_ID"]))
    except NotFound:
        raise ProductRowNotFound() from None
    row = await rowstore.load_one(conn, row_id)
    if row is None:  # deleted while we waited for the lock
        raise ProductRowNotFound()
    return deal, row


async def update_row(
    conn: AsyncConnection, ctx: Context, row_id: int, fields: Mapping[str, Any]
) -> dict[str, Any]:
    """Apply ``fields`` to one row and reprice it from the merged row."""
    deal, stored = await _locked_row(conn, ctx, row_id)
    merged = _merged(stored, read_row(fields))
    (draft,) = await _drafts(conn, [merged], known=stored["PRODUCT_ID"])
    values = dict(draft.values)
    if draft.named_after_id:
        values["PRODUCT_NAME"] = f"[{row_id}]"
    await rowstore.update_row(conn, row_id, values)
    await _synchronise(conn, ctx, deal)
    return await get_row(conn, ctx, row_id)


async def delete_row(conn: AsyncConnection, ctx: Context, row_id: int) -> None:
    deal, _ = await _locked_row(conn, ctx, row_id)
    await rowstore.delete_row(conn, row_id)
    await _synchronise(conn, ctx, deal)


async def get_row(conn: AsyncConnection, ctx: Context, row_id: int) -> dict[str, Any]:
    """One row; reading it is reading its deal."""
    row = await rowstore.load_one(conn, row_id)
    if row is None:
        raise ProductRowNotFound()
    try:
        await access.deal(conn, ctx, int(row["OWNER_ID"]), READ)
    except NotFound:
        raise ProductRowNotFound() from None
    return row


async def list_rows(
    conn: AsyncConnection,
    ctx: Context,
    deal_id: int,
    conditions: Sequence[Condition],
    order: Sequence[tuple[str, str]],
    start: int,
) -> Page:
    """A page of the deal's rows; conditions on ID/PRODUCT_ID, order by ID/SORT."""
    await access.deal(conn, ctx, deal_id, READ)
    return await rowstore.page(conn, deal_id, conditions, order, start)
