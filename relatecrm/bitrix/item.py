"""``crm.item.*`` for deals (``entityTypeId=2``): camelCase names over the same deal service.

Names map through ``deals.fields.CAMEL``; UPPER_SNAKE names are accepted too, since
b24pysdk and fast_bitrix24 send ``order[ID]`` to crm.item.list. Values are JSON numbers
here, not the strings of crm.deal.*. Custom fields are ``ufCrm…`` (Bitrix's conversion,
``deals.fields.uf_camel_name``), or their ``UF_CRM_…`` names with ``useOriginalUfNames=Y``;
input accepts either form, and ``ufCrm_<rest>``, whatever the flag.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from relatecrm.bitrix.call import Call
from relatecrm.bitrix.controller import int_param, require_deal_type
from relatecrm.bitrix.envelope import ListResult
from relatecrm.bitrix.errors import (
    ControllerAccessDenied,
    ExpectedIterable,
    FieldRequired,
    FieldValueNotValid,
    ItemNotFound,
)
from relatecrm.bitrix.filters import parse_filter, parse_order, parse_select
from relatecrm.bitrix.params import resolve
from relatecrm.bitrix.render import file_links, render_value
from relatecrm.deals import service
from relatecrm.deals.fields import CAMEL, FIELDS, FROM_CAMEL, OUTPUT_ORDER, uf_camel_name
from relatecrm.errors import (
    AccessDenied,
    InvalidFieldValue,
    InvalidId,
    InvalidParameter,
    NotFound,
    RequiredFieldMissing,
)
from relatecrm.listing import Condition, Group, ListQuery
from relatecrm.userfields.registry import UserField
from relatecrm.userfields.values import label
from relatecrm.values import INT_TYPES

ITEM_ORDER = [*OUTPUT_ORDER, "CONTACT_IDS"]


@dataclass(frozen=True)
class Names:
    """The names of one call: deal field → name shown, and every accepted name → field."""

    known: Mapping[str, UserField] = field(default_factory=dict)
    shown: dict[str, str] = field(default_factory=lambda: dict(CAMEL))
    upper: dict[str, str] = field(default_factory=dict)

    def field_of(self, name: str) -> str | None:
        """``stageId``, ``STAGE_ID``, ``ufCrm_1``, ``UF_CRM_1`` → the deal field; None if
        deals have no such field."""
        if name in FROM_CAMEL:
            return FROM_CAMEL[name]
        if name in FIELDS:
            return name
        return self.upper.get(name)


async def names_of(call: Call) -> Names:
    """Custom field names as Bitrix converts them; a converted name that another field
    already has keeps its UPPER form (Bitrix's collision rule)."""
    known = await service.user_fields(call.conn)
    original = str(resolve(call.params, "useOriginalUfNames") or "").strip().upper() == "Y"
    names = Names(known)
    taken = set(CAMEL.values())
    for name in known:
        camel = uf_camel_name(name)
        if camel in taken or camel in FIELDS:
            camel = name
        taken.add(camel)
        names.shown[name] = name if original else camel
        names.upper[camel] = names.upper[name] = name
    for name in known:
        if name.startswith("UF_CRM_"):
            names.upper.setdefault("ufCrm_" + name[7:], name)
    return names


@contextmanager
def item_errors(names: Names | None = None) -> Iterator[None]:
    """crm.item.* reports the errors of crm.deal.* with its own codes and camel names."""
    shown = names.shown if names is not None else CAMEL
    try:
        yield
    except (NotFound, InvalidId):
        raise ItemNotFound() from None
    except AccessDenied:
        raise ControllerAccessDenied() from None
    except InvalidFieldValue as error:
        name = shown.get(error.field, error.field)
        raise FieldValueNotValid(f'Invalid value for field "{name}"') from None
    except RequiredFieldMissing as error:
        raise FieldRequired(f'The field "{error.title}" is required.') from None


def _is_multiple(name: str, names: Names) -> bool:
    return names.known[name].multiple if name in names.known else FIELDS[name].multiple


def _item_fields(call: Call, names: Names) -> dict[str, Any]:
    raw = resolve(call.params, "fields")
    if not isinstance(raw, dict):
        raise InvalidParameter.must_be_array("fields")
    fields: dict[str, Any] = {}
    for key, value in raw.items():
        name = names.field_of(str(key))
        if name is None:
            continue  # unknown fields are ignored, as documented
        if _is_multiple(name, names) and not isinstance(value, list | dict):
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


ITEM_INT_TYPES = frozenset({"integer", "enumeration", "employee"})


def _custom_one(custom: UserField, value: Any, tz: Any, links: Mapping[int, Any]) -> Any:
    kind = custom.user_type_id
    if kind in ITEM_INT_TYPES:
        return int(value)
    if kind == "double":
        return float(value)
    if kind == "boolean":  # the item converter turns booleans into Y/N
        return "Y" if value else "N"
    if kind == "file":
        link = links.get(int(value))
        return None if link is None else {"id": link["id"], "url": link["showUrl"],
                                          "urlMachine": link["downloadUrl"]}  # fmt: skip
    if kind in ("date", "datetime"):
        return render_value(kind, value, tz)
    return str(value)


def render_custom(custom: UserField, value: Any, tz: Any, links: Mapping[int, Any]) -> Any:
    """A custom value as crm.item.* shows it: numbers as JSON numbers, booleans Y/N, files
    as ``{id, url, urlMachine}``, multiple fields as arrays."""
    if custom.multiple:
        shown = [_custom_one(custom, item, tz, links) for item in value or []]
        return [item for item in shown if item is not None]
    return None if value is None else _custom_one(custom, value, tz, links)


def render_item(
    row: dict[str, Any],
    contacts: list[int] | None,
    tz: Any,
    names: Names | None = None,
    links: Mapping[int, Any] | None = None,
) -> dict[str, Any]:
    names = names or Names()
    item = {
        names.shown[name]: render_custom(names.known[name], value, tz, links or {})
        if name in names.known
        else _value(name, value, tz)
        for name, value in row.items()
    }
    if contacts is not None:
        item["contactIds"] = contacts
    return item


async def _load(call: Call, deal_id: int, names: Names) -> dict[str, Any]:
    deal = await service.get(call.conn, call.ctx, deal_id, names.known)
    contacts = await service.contact_ids(call.conn, [deal_id])
    links = await file_links(call.conn, [deal], names.known)
    return render_item(deal, contacts[deal_id], call.ctx.tz, names, links)


def _id(call: Call) -> int:
    deal_id = int_param(call, "id")
    if deal_id <= 0:
        raise ItemNotFound()
    return deal_id


async def add(call: Call) -> dict[str, Any]:
    require_deal_type(call)
    names = await names_of(call)
    with item_errors(names):
        deal_id = await service.add(call.conn, call.ctx, _item_fields(call, names), names.known)
        return {"item": await _load(call, deal_id, names)}


async def update(call: Call) -> dict[str, Any]:
    require_deal_type(call)
    deal_id = _id(call)
    names = await names_of(call)
    with item_errors(names):
        await service.update(
            call.conn,
            call.ctx,
            deal_id,
            _item_fields(call, names),
            move_category=True,
            known=names.known,
        )
        return {"item": await _load(call, deal_id, names)}


async def get(call: Call) -> dict[str, Any]:
    require_deal_type(call)
    deal_id = _id(call)
    names = await names_of(call)
    with item_errors(names):
        return {"item": await _load(call, deal_id, names)}


async def delete(call: Call) -> list[Any]:
    require_deal_type(call)
    deal_id = _id(call)
    with item_errors():
        await service.delete(call.conn, call.ctx, deal_id)
    return []


def _select(raw: Any, names: Names) -> list[str]:
    """``*`` is every field, custom ones included; ``UF_*`` every custom field."""
    order = [*ITEM_ORDER, *names.known]
    requested = parse_select(raw)
    if requested is None or "*" in requested:
        return order
    chosen = {names.field_of(name) for name in requested}
    if "UF_*" in requested:
        chosen.update(names.known)
    return [name for name in order if name in chosen]


def _mapped(items: Sequence[Condition | Group], names: Names) -> list[Condition | Group]:
    """camel (or UPPER) names to the deal field names; errors keep the name as sent."""
    return [
        Group(_mapped(item.items, names), item.logic)
        if isinstance(item, Group)
        else Condition(names.field_of(item.field) or item.field, item.op, item.value, item.field)
        for item in items
    ]


async def list_(call: Call) -> ListResult:
    """``contactIds`` filters by any linked contact, as Bitrix joins its contact bindings;
    ``contactId`` is the deal's own column, the primary contact."""
    require_deal_type(call)
    names = await names_of(call)
    selected = _select(resolve(call.params, "select"), names)
    with_contacts = "CONTACT_IDS" in selected
    columns = [name for name in selected if name != "CONTACT_IDS"]
    if with_contacts and "ID" not in columns:
        columns.insert(0, "ID")  # contacts are looked up by deal id, shown or not
    query = ListQuery(
        select=columns,
        conditions=_mapped(parse_filter(resolve(call.params, "filter"), upper=False), names),
        order=[
            (names.field_of(k) or k, d)
            for k, d in parse_order(resolve(call.params, "order"), upper=False)
        ],
        start=call.start,
        round_start=False,
    )
    with item_errors(names):
        page = await service.list_deals(
            call.conn, call.ctx, query, linked_contacts=True, known=names.known
        )
    links = await file_links(call.conn, page.rows, names.known)
    if not with_contacts:
        items = [render_item(row, None, call.ctx.tz, names, links) for row in page.rows]
        return ListResult({"items": items}, total=page.total or 0, next=page.next)
    contacts = await service.contact_ids(call.conn, [row["ID"] for row in page.rows])
    items = []
    for row in page.rows:
        deal_contacts = contacts[row["ID"]]
        if "ID" not in selected:
            del row["ID"]
        items.append(render_item(row, deal_contacts, call.ctx.tz, names, links))
    return ListResult({"items": items}, total=page.total or 0, next=page.next)


def _custom_descriptor(descriptor: dict[str, Any], custom: UserField) -> dict[str, Any]:
    """crm.item.fields titles a custom field with its label, and ends with ``upperName``."""
    return {**descriptor, "title": label(custom), "upperName": custom.field_name}


async def fields(call: Call) -> dict[str, Any]:
    require_deal_type(call)
    names = await names_of(call)
    described: dict[str, Any] = {}
    for name, descriptor in (await service.describe_fields(call.conn, names.known)).items():
        if name in names.known:
            described[names.shown[name]] = _custom_descriptor(descriptor, names.known[name])
            continue
        with_upper: dict[str, Any] = {}
        for key, value in descriptor.items():
            with_upper[key] = value
            if key == "title":
                with_upper["upperName"] = name
        described[names.shown[name]] = with_upper
    return {"fields": described}
