"""``crm.item.*`` for deals (``entityTypeId=2``): camelCase names over the same deal service.

Names map through ``deals.fields.CAMEL``; UPPER_SNAKE names are accepted too, since
b24pysdk and fast_bitrix24 send ``order[ID]`` to crm.item.list. Values are JSON numbers
here, not the strings of crm.deal.*.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from relatecrm.bitrix.call import Call
from relatecrm.bitrix.controller import int_param, require_deal_type
from relatecrm.bitrix.envelope import ListResult
from relatecrm.bitrix.errors import ExpectedIterable, FieldValueNotValid, ItemNotFound
from relatecrm.bitrix.filters import parse_filter, parse_order, parse_select
from relatecrm.bitrix.params import resolve
from relatecrm.bitrix.render import render_value
from relatecrm.deals import service
from relatecrm.deals.fields import CAMEL, FIELDS, FROM_CAMEL, OUTPUT_ORDER
from relatecrm.errors import InvalidFieldValue, InvalidId, InvalidParameter, NotFound
from relatecrm.listing import Condition, Group, ListQuery
from relatecrm.values import INT_TYPES

ITEM_ORDER = [*OUTPUT_ORDER, "CONTACT_IDS"]


def upper_name(name: str) -> str | None:
    """``stageId`` or ``STAGE_ID`` → ``STAGE_ID``; None for names deals do not have."""
    if name in FROM_CAMEL:
        return FROM_CAMEL[name]
    return name if name in FIELDS else None


@contextmanager
def item_errors() -> Iterator[None]:
    """crm.item.* reports the errors of crm.deal.* with its own codes and camel names."""
    try:
        yield
    except (NotFound, InvalidId):
        raise ItemNotFound() from None
    except InvalidFieldValue as error:
        raise FieldValueNotValid(f'Invalid value for field "{CAMEL[error.field]}"') from None


def _item_fields(call: Call) -> dict[str, Any]:
    raw = resolve(call.params, "fields")
    if not isinstance(raw, dict):
        raise InvalidParameter.must_be_array("fields")
    fields: dict[str, Any] = {}
    for key, value in raw.items():
        name = upper_name(str(key))
        if name is None:
            continue  # unknown fields are ignored, as documented
        if FIELDS[name].multiple and not isinstance(value, list | dict):
            raise ExpectedIterable(
                "Expected iterable value for multiple field, "
                f"but got `{type(value).__name__}` instead"
            )
        fields[name] = value
    return fields


def _value(name: str, value: Any, tz: Any) -> Any:
    type_ = FIELDS[name].type
    if value is None or name == "CONTACT_IDS":
        return value
    if type_ in INT_TYPES:
        return int(value)
    if type_ == "double":
        return float(value)
    return render_value(type_, value, tz)


def render_item(row: dict[str, Any], contacts: list[int] | None, tz: Any) -> dict[str, Any]:
    item = {CAMEL[name]: _value(name, value, tz) for name, value in row.items()}
    if contacts is not None:
        item["contactIds"] = contacts
    return item


async def _load(call: Call, deal_id: int) -> dict[str, Any]:
    deal = await service.get(call.conn, call.ctx, deal_id)
    contacts = await service.contact_ids(call.conn, [deal_id])
    return render_item(deal, contacts[deal_id], call.ctx.tz)


def _id(call: Call) -> int:
    deal_id = int_param(call, "id")
    if deal_id <= 0:
        raise ItemNotFound()
    return deal_id


async def add(call: Call) -> dict[str, Any]:
    require_deal_type(call)
    with item_errors():
        deal_id = await service.add(call.conn, call.ctx, _item_fields(call))
        return {"item": await _load(call, deal_id)}


async def update(call: Call) -> dict[str, Any]:
    require_deal_type(call)
    deal_id = _id(call)
    with item_errors():
        await service.update(call.conn, call.ctx, deal_id, _item_fields(call), move_category=True)
        return {"item": await _load(call, deal_id)}


async def get(call: Call) -> dict[str, Any]:
    require_deal_type(call)
    deal_id = _id(call)
    with item_errors():
        return {"item": await _load(call, deal_id)}


async def delete(call: Call) -> list[Any]:
    require_deal_type(call)
    deal_id = _id(call)
    with item_errors():
        await service.delete(call.conn, call.ctx, deal_id)
    return []


def _select(raw: Any) -> list[str]:
    requested = parse_select(raw)
    if requested is None or "*" in requested:
        return ITEM_ORDER
    chosen = {upper_name(name) for name in requested}
    return [name for name in ITEM_ORDER if name in chosen]


def _mapped(items: Sequence[Condition | Group]) -> list[Condition | Group]:
    """camel (or UPPER) names to the deal field names; errors keep the name as sent."""
    return [
        Group(_mapped(item.items), item.logic)
        if isinstance(item, Group)
        else Condition(upper_name(item.field) or item.field, item.op, item.value, item.field)
        for item in items
    ]


async def list_(call: Call) -> ListResult:
    """``contactIds`` filters by any linked contact, as Bitrix joins its contact bindings;
    ``contactId`` is the deal's own column, the primary contact."""
    require_deal_type(call)
    names = _select(resolve(call.params, "select"))
    with_contacts = "CONTACT_IDS" in names
    columns = [name for name in names if name != "CONTACT_IDS"]
    if with_contacts and "ID" not in columns:
        columns.insert(0, "ID")  # contacts are looked up by deal id, shown or not
    query = ListQuery(
        select=columns,
        conditions=_mapped(parse_filter(resolve(call.params, "filter"), upper=False)),
        order=[
            (upper_name(k) or k, d)
            for k, d in parse_order(resolve(call.params, "order"), upper=False)
        ],
        start=call.start,
        round_start=False,
    )
    page = await service.list_deals(call.conn, call.ctx, query, linked_contacts=True)
    if not with_contacts:
        items = [render_item(row, None, call.ctx.tz) for row in page.rows]
        return ListResult({"items": items}, total=page.total or 0, next=page.next)
    contacts = await service.contact_ids(call.conn, [row["ID"] for row in page.rows])
    items = []
    for row in page.rows:
        deal_contacts = contacts[row["ID"]]
        if "ID" not in names:
            del row["ID"]
        items.append(render_item(row, deal_contacts, call.ctx.tz))
    return ListResult({"items": items}, total=page.total or 0, next=page.next)


async def fields(call: Call) -> dict[str, Any]:
    require_deal_type(call)
    described: dict[str, Any] = {}
    for name, descriptor in service.describe_fields().items():
        with_upper: dict[str, Any] = {}
        for key, value in descriptor.items():
            with_upper[key] = value
            if key == "title":
                with_upper["upperName"] = name
        described[CAMEL[name]] = with_upper
    return {"fields": described}
