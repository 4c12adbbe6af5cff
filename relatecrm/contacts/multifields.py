"""Multi-field input (``PHONE``, ``EMAIL``, ``WEB``, ``IM``) read into changes.

The rules of ``crm.contact.update`` ("Working with Multiple Fields"):

- an item without ``ID`` adds a value; one with an empty ``VALUE`` adds nothing;
- an item with ``ID`` and a ``VALUE`` changes that value (and its ``VALUE_TYPE``, if given);
- an item with ``ID`` and ``DELETE=Y``, or with an empty or missing ``VALUE``, deletes it;
- values the items do not name stay as they are.

On add there is nothing to refer to yet, so ``ID`` is ignored and every item is new
(a client may copy the arrays of one contact's ``get`` into another's ``add``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from relatecrm.contacts.fields import MULTI_TYPES, MultiType
from relatecrm.errors import InvalidFieldValue
from relatecrm.values import Unconvertible, is_null, to_flag, to_int, to_string

MAX_VALUE = 250
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


@dataclass(frozen=True)
class Change:
    """One item: ``value_id`` None adds, ``value`` None deletes, ``value_type`` None keeps."""

    type_id: str
    value_id: int | None
    value: str | None
    value_type: str | None


def read(name: str, raw: Any, *, creating: bool) -> list[Change]:
    """The changes one multi-field's items ask for; InvalidFieldValue if any is malformed."""
    kind = MULTI_TYPES[name]
    changes: list[Change] = []
    for item in _items(raw, kind):
        try:
            change = _read_item(kind, item, creating=creating)
        except Unconvertible:
            raise InvalidFieldValue(kind.name, kind.title) from None
        if change is not None:
            changes.append(change)
    return changes


def _items(raw: Any, kind: MultiType) -> list[Mapping[str, Any]]:
    if raw is None or raw == "":
        return []
    if isinstance(raw, Mapping):
        raw = list(raw.values())  # PHP arrays: {"0": {...}, "1": {...}} or {"n0": {...}}
    if not isinstance(raw, list):
        raise InvalidFieldValue(kind.name, kind.title)
    items: list[Mapping[str, Any]] = []
    for item in raw:
        if item is None or item == "":
            continue  # b24pysdk sends an empty list as PHONE[]=
        if not isinstance(item, Mapping):
            raise InvalidFieldValue(kind.name, kind.title)
        items.append({str(key).upper(): value for key, value in item.items()})
    return items


def _read_item(kind: MultiType, item: Mapping[str, Any], *, creating: bool) -> Change | None:
    value_id = None if is_null(item.get("ID")) or creating else to_int(item["ID"])
    if value_id is not None and value_id <= 0:
        raise Unconvertible(value_id)
    value = _value(kind, item.get("VALUE"))
    value_type = None if is_null(item.get("VALUE_TYPE")) else to_string(item["VALUE_TYPE"])
    if value_type is not None:
        value_type = value_type.strip().upper()
        if value_type not in kind.value_types:
            raise Unconvertible(value_type)
    removed = value is None or to_flag(item.get("DELETE")) == "Y"
    if value_id is None:
        return None if removed else Change(kind.name, None, value, value_type or kind.default)
    if removed:
        return Change(kind.name, value_id, None, None)
    return Change(kind.name, value_id, value, value_type)


def _value(kind: MultiType, raw: Any) -> str | None:
    if raw is None:
        return None
    text = to_string(raw).strip()
    if not text:
        return None
    if len(text) > MAX_VALUE or (kind.name == "EMAIL" and not EMAIL.fullmatch(text)):
        raise Unconvertible(raw)
    return text


@dataclass
class Plan:
    """What to write for a set of changes, and the values that remain afterwards."""

    added: list[dict[str, str]] = field(default_factory=list)
    changed: dict[int, dict[str, str]] = field(default_factory=dict)
    deleted: list[int] = field(default_factory=list)
    remaining: list[tuple[str, str]] = field(default_factory=list)  # (TYPE_ID, VALUE_TYPE)

    def flags(self) -> dict[str, str]:
        """The HAS_PHONE/HAS_EMAIL/HAS_IMOL columns the remaining values imply."""
        kinds = {type_id for type_id, _ in self.remaining}
        imol = ("IM", "IMOL") in self.remaining
        return {
            "has_phone": "Y" if "PHONE" in kinds else "N",
            "has_email": "Y" if "EMAIL" in kinds else "N",
            "has_imol": "Y" if imol else "N",
        }


def plan(existing: Sequence[Mapping[str, Any]], changes: Sequence[Change]) -> Plan:
    """Apply ``changes`` to the ``existing`` rows on paper; an ``ID`` that is not one of
    this entity's values of that type is an error, and nothing is written."""
    current = {int(row["id"]): dict(row) for row in existing}
    result = Plan()
    for change in changes:
        if change.value_id is None:
            assert change.value is not None and change.value_type is not None
            result.added.append(
                {"type_id": change.type_id, "value_type": change.value_type, "value": change.value}
            )
            continue
        row = current.get(change.value_id)
        if row is None or row["type_id"] != change.type_id:
            kind = MULTI_TYPES[change.type_id]
            raise InvalidFieldValue(kind.name, kind.title)
        if change.value is None:
            del current[change.value_id]
            result.changed.pop(change.value_id, None)
            result.deleted.append(change.value_id)
            continue
        update = {"value": change.value}
        if change.value_type is not None:
            update["value_type"] = change.value_type
        row.update(update)
        result.changed.setdefault(change.value_id, {}).update(update)
    result.remaining = [(row["type_id"], row["value_type"]) for row in current.values()]
    result.remaining += [(row["type_id"], row["value_type"]) for row in result.added]
    return result
