"""The items of enumeration fields (``LIST``, Bitrix ``uf_enum_element``).

A request's ``LIST`` is read into the field's whole next item set first (so every
check, XML_ID uniqueness included, runs before anything is written), then written as
the difference from the current set. The rules (b24restdocs crm-deal-userfield-add.md
and -update.md, "Parameter LIST"; the rest module's ``UserFieldProxy``):

* an element with an empty or missing ``VALUE`` is ignored when it would be new;
* on update an element with ``ID`` changes that item, ``DEL: "Y"`` deletes it, and an
  element without ``ID`` adds one; IDs of other fields are ignored;
* for a non-multiple field only the first ``DEF: "Y"`` counts;
* ``XML_ID`` is unique within the field, generated when absent.

Deal values point at item ids, so deleting an item deletes the values that chose it
and closes the gap it leaves in a multiple value's positions; other values stay.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.errors import DuplicateEnumXmlId, InvalidFieldValue
from relatecrm.userfields.models import uf_deal_values, user_field_enums
from relatecrm.userfields.registry import EnumItem
from relatecrm.values import Unconvertible, to_flag, to_int, to_string

DEFAULT_SORT = 500  # Bitrix's b_user_field_enum.SORT default
MAX_TEXT = 255  # VALUE and XML_ID are varchar(255)


@dataclass(frozen=True)
class Item:
    """One item of the next set; ``id`` is None for an item still to be inserted."""

    id: int | None
    value: str
    default: bool
    sort: int
    xml_id: str


@dataclass(frozen=True)
class Plan:
    """The next item set, and what changed from the current one."""

    items: tuple[Item, ...]
    deleted: tuple[int, ...] = ()

    def changes(self, current: Sequence[EnumItem]) -> bool:
        before = {(i.id, i.value, i.default, i.sort, i.xml_id) for i in current}
        after = {(i.id, i.value, i.default, i.sort, i.xml_id) for i in self.items}
        return bool(self.deleted) or before != after


def _invalid() -> InvalidFieldValue:
    return InvalidFieldValue("LIST", "LIST")


def _elements(raw: Any) -> list[dict[str, Any]]:
    """``LIST`` as sent: a JSON array, or a PHP array of any keys (form bodies)."""
    if raw is None or raw == "":
        return []
    if isinstance(raw, Mapping):
        raw = list(raw.values())
    if not isinstance(raw, list):
        raise _invalid()
    elements = []
    for element in raw:
        if not isinstance(element, Mapping):
            raise _invalid()
        elements.append({str(k).upper() if str(k).isascii() else str(k): v
                         for k, v in element.items()})  # fmt: skip
    return elements


def _text(value: Any) -> str:
    """VALUE or XML_ID: a string or a number; empty means "not given"."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _invalid()
    try:
        text = to_string(value)
    except Unconvertible:
        raise _invalid() from None
    if len(text) > MAX_TEXT:
        raise _invalid()
    return text


def _number(value: Any) -> int | None:
    if value is None or value == "":
        return None
    try:
        return to_int(value)
    except Unconvertible:
        raise _invalid() from None


def _flag(value: Any) -> bool | None:
    if value is None:
        return None
    try:
        return to_flag(value) == "Y"
    except Unconvertible:
        raise _invalid() from None


def _new_xml_id(taken: set[str]) -> str:
    while True:
        candidate = uuid.uuid4().hex
        if candidate not in taken:
            return candidate


def plan(raw: Any, current: Sequence[EnumItem], *, multiple: bool) -> Plan:
    """Read ``LIST`` against the current items (none on add) into the next item set."""
    items: dict[int | str, Item] = {
        i.id: Item(i.id, i.value, i.default, i.sort, i.xml_id) for i in current
    }
    deleted: list[int] = []
    chosen: int | str | None = None  # the first DEF=Y of a non-multiple field
    for position, element in enumerate(_elements(raw)):
        item_id = _number(element.get("ID"))
        value = _text(element.get("VALUE")).strip(" \t\n\r")
        sort, default = _number(element.get("SORT")), _flag(element.get("DEF"))
        xml_id = _text(element.get("XML_ID"))
        if item_id is not None and item_id > 0:
            key: int | str = item_id
            found = items.get(item_id)
            if found is None:
                continue  # not an item of this field
            if _flag(element.get("DEL")):
                del items[item_id]
                deleted.append(item_id)
                continue
            items[item_id] = replace(
                found,
                value=value or found.value,
                sort=sort if sort is not None and sort > 0 else found.sort,
                default=found.default if default is None else default,
                xml_id=xml_id or found.xml_id,
            )
        else:
            if not value or _flag(element.get("DEL")):
                continue
            key = f"n{position}"
            new_sort = sort if sort is not None and sort > 0 else DEFAULT_SORT
            items[key] = Item(None, value, bool(default), new_sort, xml_id)
        if default and chosen is None:
            chosen = key
    if not multiple and chosen is not None:
        items = {key: replace(item, default=key == chosen) for key, item in items.items()}
    return Plan(_with_xml_ids(list(items.values())), tuple(deleted))


def _with_xml_ids(items: list[Item]) -> tuple[Item, ...]:
    """Refuse a repeated XML_ID; give new items without one a fresh, unique one."""
    taken: set[str] = set()
    for item in items:
        if item.xml_id:
            if item.xml_id in taken:
                raise DuplicateEnumXmlId(item.xml_id)
            taken.add(item.xml_id)
    out = []
    for item in items:
        if not item.xml_id:
            item = replace(item, xml_id=_new_xml_id(taken))
            taken.add(item.xml_id)
        out.append(item)
    return tuple(out)


def _row(field_id: int, item: Item) -> dict[str, Any]:
    return {"field_id": field_id, "value": item.value, "def": "Y" if item.default else "N",
            "sort": item.sort, "xml_id": item.xml_id}  # fmt: skip


async def write(
    conn: AsyncConnection, field_id: int, current: Sequence[EnumItem], next_set: Plan
) -> None:
    """Turn the current items into ``next_set``: delete, update, then insert."""
    if next_set.deleted:
        await forget_values(conn, field_id, next_set.deleted)
        await conn.execute(
            delete(user_field_enums).where(
                user_field_enums.c.field_id == field_id,
                user_field_enums.c.id.in_(next_set.deleted),
            )
        )
    before = {(i.id, i.value, i.default, i.sort, i.xml_id) for i in current}
    old_xml_ids: dict[int | None, str] = {i.id: i.xml_id for i in current}
    changed = [
        item
        for item in next_set.items
        if item.id is not None
        and (item.id, item.value, item.default, item.sort, item.xml_id) not in before
    ]
    # Two items may swap XML_IDs: park the changing ones first so that no row update
    # meets the (field_id, xml_id) unique index half-way.
    for item in changed:
        if old_xml_ids.get(item.id) != item.xml_id:
            await _update(conn, field_id, item, xml_id=f"~{uuid.uuid4().hex}")
    for item in changed:
        await _update(conn, field_id, item, xml_id=item.xml_id)
    added = [_row(field_id, item) for item in next_set.items if item.id is None]
    if added:
        await conn.execute(insert(user_field_enums), added)


async def _update(conn: AsyncConnection, field_id: int, item: Item, *, xml_id: str) -> None:
    await conn.execute(
        update(user_field_enums)
        .where(user_field_enums.c.id == item.id, user_field_enums.c.field_id == field_id)
        .values(value=item.value, sort=item.sort, xml_id=xml_id)
        .values({"def": "Y" if item.default else "N"})
    )


async def forget_values(conn: AsyncConnection, field_id: int, item_ids: Sequence[int]) -> None:
    """Delete the deal values that chose these items; renumber what remains after them.

    A multiple value keeps positions 0..n-1: the rows after a deleted one move down,
    one row at a time in ascending order, so that each target position is already free.
    """
    values = uf_deal_values.c
    chose = and_(values.field_id == field_id, values.value_int.in_(item_ids))
    affected = select(values.deal_id).where(chose).distinct().scalar_subquery()
    rows = (
        await conn.execute(
            select(values.deal_id, values.position, values.value_int)
            .where(values.field_id == field_id, values.deal_id.in_(affected))
            .order_by(values.deal_id, values.position)
        )
    ).all()
    if not rows:
        return
    await conn.execute(delete(uf_deal_values).where(chose))
    gone = set(item_ids)
    moves: list[dict[str, int]] = []
    next_position: dict[int, int] = {}
    for deal_id, position, value in rows:
        if value in gone:
            continue
        target = next_position.get(deal_id, 0)
        next_position[deal_id] = target + 1
        if target != position:
            moves.append({"d": deal_id, "old": position, "new": target})
    if moves:
        await conn.execute(
            update(uf_deal_values)
            .where(values.field_id == field_id, values.deal_id == bindparam("d"),
                   values.position == bindparam("old"))
            .values(position=bindparam("new")),
            moves,
        )  # fmt: skip
