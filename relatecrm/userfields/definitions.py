"""Custom field definitions: add, update, get, list and delete the deal's ``UF_CRM_*``.

The rules are Bitrix's REST proxy for user fields (rest module ``UserFieldProxy``) and
the main module's ``CUserTypeEntity`` checks, as the docs describe them (b24restdocs
crm-deal-userfield-*.md; protocol spec §9.5):

* ``FIELD_NAME`` always gets the ``UF_CRM_`` prefix, is upper-cased (ASCII only: PHP's
  ``strtoupper``), at most 50 characters and only ``A-Z 0-9 _``;
* a missing ``FIELD_NAME``/``USER_TYPE_ID`` is reported first, one line each, then the
  name and type checks, then a taken name (the ``UNIQUE(entity_id, field_name)`` index
  decides, so two concurrent adds of one name cannot both succeed);
* ``USER_TYPE_ID``, ``FIELD_NAME`` and ``MULTIPLE`` never change after add;
* every change records its event in the same transaction.

Everything a request asks is read and checked before the first write, so a refused
call writes nothing even before the transaction rolls back.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete as sql_delete
from sqlalchemy import insert, select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.context import Context
from relatecrm.errors import (
    DuplicateUserField,
    InvalidFieldValue,
    InvalidId,
    UserFieldNameInvalid,
    UserFieldNameTooLong,
    UserFieldNotFound,
    UserFieldRequired,
    UserFieldTypeInvalid,
)
from relatecrm.events import outbox
from relatecrm.userfields import enums, files, labels, registry, settings
from relatecrm.userfields.catalog import TYPES
from relatecrm.userfields.models import uf_deal_values, user_fields
from relatecrm.userfields.registry import DEAL, PREFIX, UserField
from relatecrm.values import Unconvertible, to_flag, to_int, to_string

MAX_NAME = 50
NAME_CHARS = re.compile(r"[0-9A-Z_]+")
_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
MAX_XML_ID = 255
DEFAULT_SORT = 100
EVENT_ENTITY = "deal_userfield"
# Y/N columns a client sets on add and update: (field, column, default on add).
FLAGS = (
    ("MANDATORY", "mandatory", "N"),
    ("SHOW_IN_LIST", "show_in_list", "Y"),
    ("EDIT_IN_LIST", "edit_in_list", "Y"),
    ("IS_SEARCHABLE", "is_searchable", "N"),
)
SHOW_FILTER_LETTERS = ("N", "I", "E", "S")  # no, exact match, mask, substring


def check_id(value: Any) -> int:
    """``id`` of get/update/delete: a positive integer, else "ID is not defined or invalid."."""
    try:
        field_id = to_int(value)
    except Unconvertible:
        raise InvalidId() from None
    if field_id <= 0:
        raise InvalidId()
    return field_id


def _scalar(value: Any) -> str | None:
    """A string parameter, trimmed; None for an object or a list ("" when absent)."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    return str(value).strip()


def field_name(raw: str) -> str:
    """``MANAGER_NOTE`` and ``UF_MANAGER_NOTE`` → ``UF_CRM_MANAGER_NOTE``; checked."""
    name = raw.translate(_UPPER)
    if not name.startswith(PREFIX):
        name = PREFIX + (name[3:] if name.startswith("UF_") else name)
    if len(name) > MAX_NAME:
        raise UserFieldNameTooLong()
    if not NAME_CHARS.fullmatch(name):
        raise UserFieldNameInvalid()
    return name


def _flag(fields: Mapping[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    try:
        return to_flag(value)
    except Unconvertible:
        raise InvalidFieldValue(name, name) from None


def _show_filter(fields: Mapping[str, Any], type_id: str) -> str | None:
    """N, I, E or S; a yes is E ("By mask is default") and an employee field filters
    by exact match (I), as the REST proxy sets them."""
    value = fields.get("SHOW_FILTER")
    if value is None:
        return None
    letter = value.strip().upper() if isinstance(value, str) else None
    if letter not in SHOW_FILTER_LETTERS:
        letter = "E" if _flag(fields, "SHOW_FILTER") == "Y" else "N"
    if type_id == "employee" and letter != "N":
        letter = "I"
    return letter


def _sort(fields: Mapping[str, Any], *, adding: bool) -> int | None:
    """SORT: an integer above zero; on add anything else becomes 100, as Bitrix does."""
    value = fields.get("SORT")
    if value is None or value == "":
        return DEFAULT_SORT if adding else None
    try:
        sort = to_int(value)
    except Unconvertible:
        raise InvalidFieldValue("SORT", "SORT") from None
    if sort <= 0:
        if adding:
            return DEFAULT_SORT
        raise InvalidFieldValue("SORT", "SORT")
    return sort


def _xml_id(fields: Mapping[str, Any]) -> str | None:
    value = fields.get("XML_ID")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InvalidFieldValue("XML_ID", "XML_ID")
    try:
        text = to_string(value)
    except Unconvertible:
        raise InvalidFieldValue("XML_ID", "XML_ID") from None
    if len(text) > MAX_XML_ID:
        raise InvalidFieldValue("XML_ID", "XML_ID")
    return text


async def _record(
    conn: AsyncConnection, ctx: Context, action: str, field_id: int, name: str
) -> None:
    """``onCrmDealUserField{Add,Update,Delete,SetEnumValues}`` with the docs' payload."""
    await outbox.record(
        conn,
        f"onCrmDealUserField{action}",
        entity_type=EVENT_ENTITY,
        entity_id=field_id,
        payload={"FIELDS": {"ID": field_id, "ENTITY_ID": DEAL, "FIELD_NAME": name}},
        now=ctx.now,
        user_id=ctx.user_id,
    )


async def add(conn: AsyncConnection, ctx: Context, fields: Mapping[str, Any]) -> int:
    """Create a field from UPPER-keyed ``fields``; returns its id."""
    type_id, name = _scalar(fields.get("USER_TYPE_ID")), _scalar(fields.get("FIELD_NAME"))
    missing = [key for key, got in (("USER_TYPE_ID", type_id), ("FIELD_NAME", name)) if got == ""]
    if missing:
        raise UserFieldRequired(missing)
    if name is None:
        raise UserFieldNameInvalid()
    name = field_name(name)
    if type_id not in TYPES:
        raise UserFieldTypeInvalid()
    multiple = _flag(fields, "MULTIPLE") == "Y" and type_id != "boolean"
    default_label = labels.default_label(fields.get("LABEL")) or name
    row: dict[str, Any] = {
        "entity_id": DEAL,
        "field_name": name,
        "user_type_id": type_id,
        "xml_id": _xml_id(fields) or None,
        "sort": _sort(fields, adding=True),
        "multiple": "Y" if multiple else "N",
        "show_filter": _show_filter(fields, type_id) or "N",
        "settings": settings.normalize(type_id, fields.get("SETTINGS"), ctx.tz),
        "labels": {k: labels.prepare(k, fields.get(k), default_label) for k in labels.KINDS},
        "created_at": ctx.now,
    }
    for key, column, default in FLAGS:
        row[column] = _flag(fields, key) or default
    items = None
    if type_id == "enumeration":
        items = enums.plan(fields.get("LIST"), (), multiple=multiple)
    try:
        result = await conn.execute(insert(user_fields).values(**row).returning(user_fields.c.id))
    except IntegrityError:
        # The unique (entity_id, field_name) index: the name is taken, perhaps by a
        # concurrent add that committed first.
        raise DuplicateUserField(name, DEAL) from None
    field_id = int(result.scalar_one())
    await _record(conn, ctx, "Add", field_id, name)
    if items is not None and items.items:
        await enums.write(conn, field_id, (), items)
        await _record(conn, ctx, "SetEnumValues", field_id, name)
    return field_id


async def _current(conn: AsyncConnection, field_id: int, *, lock: bool = False) -> UserField:
    """The deal field ``field_id``; with ``lock`` its row is held until the end of the
    transaction, so concurrent changes of one field take turns."""
    query = select(user_fields.c.id).where(
        user_fields.c.id == field_id, user_fields.c.entity_id == DEAL
    )
    if lock:
        query = query.with_for_update()
    if (await conn.execute(query)).first() is not None:
        for field in (await registry.load(conn, DEAL)).values():
            if field.id == field_id:
                return field
    raise UserFieldNotFound(field_id)


async def get(conn: AsyncConnection, field_id: int) -> UserField:
    return await _current(conn, field_id)


async def update(
    conn: AsyncConnection, ctx: Context, field_id: int, fields: Mapping[str, Any]
) -> None:
    """Change what may change; ``USER_TYPE_ID``, ``FIELD_NAME`` and ``MULTIPLE`` are ignored.

    Labels sent replace that label in every language (languages not named become "",
    update docs); ``SETTINGS`` sent overwrite only the settings named.
    """
    current = await _current(conn, field_id, lock=True)
    values: dict[str, Any] = {}
    for key, column, _ in FLAGS:
        if (flag := _flag(fields, key)) is not None:
            values[column] = flag
    if (show_filter := _show_filter(fields, current.user_type_id)) is not None:
        values["show_filter"] = show_filter
    if (sort := _sort(fields, adding=False)) is not None:
        values["sort"] = sort
    if (xml_id := _xml_id(fields)) is not None:
        values["xml_id"] = xml_id or None
    sent = {kind: fields[kind] for kind in labels.KINDS if fields.get(kind) is not None}
    if sent:
        values["labels"] = {**current.labels,
                            **{k: labels.prepare(k, v, "") for k, v in sent.items()}}  # fmt: skip
    if fields.get("SETTINGS") is not None:
        values["settings"] = settings.normalize(
            current.user_type_id, fields["SETTINGS"], ctx.tz, current.settings
        )
    items = None
    if current.user_type_id == "enumeration" and fields.get("LIST") is not None:
        items = enums.plan(fields["LIST"], current.items, multiple=current.multiple)
    if values:
        await conn.execute(
            sql_update(user_fields).where(user_fields.c.id == field_id).values(**values)
        )
    await _record(conn, ctx, "Update", field_id, current.field_name)
    if items is not None and items.changes(current.items):
        await enums.write(conn, field_id, current.items, items)
        await _record(conn, ctx, "SetEnumValues", field_id, current.field_name)


async def delete(conn: AsyncConnection, ctx: Context, field_id: int) -> None:
    """Remove the field; its items and every deal's values go with it (foreign keys
    cascade), and so do the uploaded files only its values held."""
    current = await _current(conn, field_id, lock=True)
    file_ids: list[int] = []
    if current.user_type_id == "file":
        held = select(uf_deal_values.c.value_int).where(uf_deal_values.c.field_id == field_id)
        file_ids = [int(v) for v in (await conn.execute(held)).scalars() if v is not None]
    await conn.execute(sql_delete(user_fields).where(user_fields.c.id == field_id))
    if file_ids:
        await files.delete(conn, file_ids)
    await _record(conn, ctx, "Delete", field_id, current.field_name)


# crm.deal.userfield.list: Bitrix's CUserTypeEntity::GetList compares each filter key
# with "=" (case-insensitively, MySQL collation) and ignores unknown keys, arrays and
# empty values; it sorts on five keys, anything but ASC meaning DESC.


def _number(text: str) -> int | None:
    try:
        return to_int(text)
    except Unconvertible:
        return None


def _flag_text(value: bool) -> str:
    return "Y" if value else "N"


FILTERS: dict[str, Callable[[UserField], str]] = {
    "ID": lambda f: str(f.id),
    "ENTITY_ID": lambda f: f.entity_id,
    "FIELD_NAME": lambda f: f.field_name,
    "USER_TYPE_ID": lambda f: f.user_type_id,
    "XML_ID": lambda f: f.xml_id or "",
    "SORT": lambda f: str(f.sort),
    "MULTIPLE": lambda f: _flag_text(f.multiple),
    "MANDATORY": lambda f: _flag_text(f.mandatory),
    "SHOW_FILTER": lambda f: f.show_filter,
    "SHOW_IN_LIST": lambda f: _flag_text(f.show_in_list),
    "EDIT_IN_LIST": lambda f: _flag_text(f.edit_in_list),
    "IS_SEARCHABLE": lambda f: _flag_text(f.is_searchable),
}
NUMERIC = frozenset({"ID", "SORT"})
ORDERS: dict[str, Callable[[UserField], Any]] = {
    "ID": lambda f: f.id,
    "ENTITY_ID": lambda f: f.entity_id,
    "FIELD_NAME": lambda f: f.field_name,
    "USER_TYPE_ID": lambda f: f.user_type_id,
    "XML_ID": lambda f: None if f.xml_id is None else f.xml_id.casefold(),
    "SORT": lambda f: f.sort,
}


def _matches(field: UserField, key: str, wanted: str) -> bool:
    have = FILTERS[key](field)
    if key in NUMERIC:
        return _number(wanted) == int(have)
    return have.casefold() == wanted.casefold()


def _sorted(found: list[UserField], order: Sequence[tuple[str, str]]) -> list[UserField]:
    """Stable sorts from the last key to the first; ID ascending breaks ties. NULLs come
    last ascending and first descending, as in the rest of RelateCRM."""
    terms = [(key, direction.strip().upper() == "ASC") for key, direction in order
             if key in ORDERS] or [("SORT", True)]  # fmt: skip
    found = sorted(found, key=lambda f: f.id)
    for key, ascending in reversed(terms):
        found.sort(key=_null_last(ORDERS[key]), reverse=not ascending)
    return found


def _null_last(get: Callable[[UserField], Any]) -> Callable[[UserField], tuple[bool, Any]]:
    """A sort key with NULLs after every value (reversed, before them)."""

    def key(field: UserField) -> tuple[bool, Any]:
        value = get(field)
        return (True, 0) if value is None else (False, value)

    return key


async def list_fields(
    conn: AsyncConnection, *, filter: Mapping[str, Any], order: Sequence[tuple[str, str]]
) -> list[UserField]:
    """The deal's fields matching ``filter`` (UPPER keys), in ``order``."""
    conditions = [
        (key, str(value).strip() if isinstance(value, str) else str(value))
        for key, value in filter.items()
        if key in FILTERS
        and isinstance(value, str | int | float)
        and not isinstance(value, bool)
        and str(value) != ""
    ]
    found = [
        field
        for field in (await registry.load(conn, DEAL)).values()
        if all(_matches(field, key, wanted) for key, wanted in conditions)
    ]
    return _sorted(found, order)
