"""Reference lists (Bitrix ``b_crm_status``): each funnel's stages, deal types and sources.

One table holds them all; ``ENTITY_ID`` names the list (``DEAL_STAGE``, ``DEAL_STAGE_{n}``,
``DEAL_TYPE``, ``SOURCE``) and ``STATUS_ID`` is the value deals store. The deal rules in
``pipelines.service`` read the same rows, so a stage added here is a valid deal stage.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.deals.models import deals
from relatecrm.errors import (
    DuplicateStatus,
    InvalidFieldValue,
    InvalidStatusCode,
    InvalidStatusEntity,
    InvalidStatusId,
    StageAfterFinal,
    StatusEntityNotSupported,
    StatusFieldRequired,
    StatusInUse,
    StatusNotFound,
    SystemStatusProtected,
)
from relatecrm.listing import EQ, Condition, Group, Queryable, compile_order, compile_where
from relatecrm.pipelines.categories import (
    Directory,
    find_directory,
    funnel_of,
    is_stage,
    stage_role,
)
from relatecrm.pipelines.models import statuses
from relatecrm.values import Unconvertible, is_null, to_int, to_string

# The stage tutorial's limit (the add docs say 22): the whole ID, "C{n}:" prefix included.
MAX_STAGE_ID = 21
MAX_STATUS_ID = 50
MAX_NAME = 255
STAGE_CODE = re.compile(r"[A-Za-z0-9_-]+")
COLOR = re.compile(r"#(?:[0-9A-Fa-f]{3}){1,2}")
# Kanban colours of stages added without one, by semantic group.
DEFAULT_COLORS = {"P": "#ACE9FB", "S": "#DBF199", "F": "#FFBEBD"}
# (name, type, title, flags: Q required, R read-only, I immutable), in crm.status.fields order.
FIELD_SPECS = (
    ("ID", "integer", "ID", "R"),
    ("ENTITY_ID", "string", "Entity ID", "QI"),
    ("STATUS_ID", "string", "Status", "QI"),
    ("SORT", "integer", "Sorting", ""),
    ("NAME", "string", "Name", "Q"),
    ("NAME_INIT", "string", "Default Name", "R"),
    ("SYSTEM", "char", "System", "R"),
    ("CATEGORY_ID", "integer", "CATEGORY_ID", "I"),
    ("COLOR", "string", "COLOR", ""),
    ("SEMANTICS", "char", "SEMANTICS", "I"),
    ("EXTRA", "crm_status_extra", "Additional Fields", ""),
)
TITLES = {name: title for name, _, title, _ in FIELD_SPECS}
# Filter and order allow-list of crm.status.list.
QUERYABLE = {
    name: Queryable(name, type_, statuses.c[name.lower()], likeable=type_ == "string",
                    nullable=bool(statuses.c[name.lower()].nullable))
    for name, type_ in (("ID", "integer"), ("ENTITY_ID", "string"), ("STATUS_ID", "string"),
                        ("NAME", "string"), ("SORT", "integer"), ("CATEGORY_ID", "integer"),
                        ("COLOR", "string"))
}  # fmt: skip


@dataclass(frozen=True)
class Status:
    """One list value. ``role`` (process/success/failure/apology) is set for stages only."""

    id: int
    entity_id: str
    status_id: str
    name: str
    name_init: str | None
    sort: int
    system: bool
    category_id: int | None
    color: str | None
    semantics: str | None
    role: str | None


def describe_fields() -> dict[str, dict[str, Any]]:
    return {
        name: {"type": type_, "isRequired": "Q" in flags, "isReadOnly": "R" in flags,
               "isImmutable": "I" in flags, "isMultiple": False, "isDynamic": False,
               "title": title}
        for name, type_, title, flags in FIELD_SPECS
    }  # fmt: skip


def check_status_id(value: Any) -> int:
    try:
        status_id = to_int(value)
    except Unconvertible:
        raise InvalidStatusId() from None
    if status_id <= 0:
        raise InvalidStatusId()
    return status_id


def _status(row: Any) -> Status:
    semantics = row.semantics if row.semantics in ("S", "F") else None
    role = stage_role(semantics, bool(row.system)) if is_stage(row.entity_id) else None
    return Status(row.id, row.entity_id, row.status_id, row.name, row.name_init, row.sort,
                  bool(row.system), row.category_id, row.color, semantics, role)  # fmt: skip


async def list_statuses(
    conn: AsyncConnection,
    *,
    conditions: Sequence[Condition | Group],
    order: Sequence[tuple[str, str]],
    tz: dt.tzinfo,
) -> list[Status]:
    """Every matching row (the list is not paged), by ``order`` or by SORT, then ID."""
    rows = await conn.execute(
        select(statuses)
        .where(compile_where(QUERYABLE, conditions, tz))
        .order_by(*compile_order(QUERYABLE, order or [("SORT", "ASC")], "ID"))
    )
    return [_status(row) for row in rows]


async def directory_items(conn: AsyncConnection, *, entity_id: str) -> list[Status]:
    directory = await find_directory(conn, entity_id)
    if directory is None:
        raise InvalidStatusEntity()
    condition = Condition("ENTITY_ID", EQ, directory.entity_id)
    return await list_statuses(conn, conditions=[condition], order=[], tz=dt.UTC)


async def get_status(conn: AsyncConnection, *, status_id: int) -> Status:
    found = await list_statuses(
        conn, conditions=[Condition("ID", EQ, status_id)], order=[], tz=dt.UTC
    )
    if not found:
        raise StatusNotFound()
    return found[0]


def _text(fields: Mapping[str, Any], name: str) -> str:
    value = fields.get(name)
    if is_null(value):
        return ""
    try:
        return to_string(value).strip()
    except Unconvertible:
        raise InvalidFieldValue(name, TITLES[name]) from None


def _name(fields: Mapping[str, Any]) -> str:
    name = _text(fields, "NAME")
    if not name:
        raise StatusFieldRequired("NAME")
    if len(name) > MAX_NAME:
        raise InvalidFieldValue("NAME", TITLES["NAME"])
    return name


def _sort(fields: Mapping[str, Any], default: int) -> int:
    value = fields.get("SORT")
    if is_null(value):
        return default
    try:
        return to_int(value)
    except Unconvertible:
        raise InvalidFieldValue("SORT", TITLES["SORT"]) from None


def _color(fields: Mapping[str, Any]) -> str | None:
    color = _text(fields, "COLOR")
    if color and not COLOR.fullmatch(color):
        raise InvalidFieldValue("COLOR", TITLES["COLOR"])
    return color or None


def _semantics(fields: Mapping[str, Any]) -> str:
    """S (success), F (failure) or P (in progress; sent as "" or omitted)."""
    value = _text(fields, "SEMANTICS").upper() or "P"
    if value not in ("P", "S", "F"):
        raise InvalidFieldValue("SEMANTICS", TITLES["SEMANTICS"])
    return value


def _code(directory: Directory, code: str) -> str:
    """The STATUS_ID to store: funnel stages get their "C{n}:" prefix and a strict shape."""
    if directory.category_id is None:
        if len(code) > MAX_STATUS_ID:
            raise InvalidStatusCode(f"STATUS_ID is longer than {MAX_STATUS_ID} characters.")
        return code
    prefix = f"C{directory.category_id}:" if directory.category_id else ""
    if not code.startswith(prefix):
        code = prefix + code
    if not STAGE_CODE.fullmatch(code[len(prefix) :]) or len(code) > MAX_STAGE_ID:
        raise InvalidStatusCode(
            f"A stage STATUS_ID has at most {MAX_STAGE_ID} characters, prefix included, "
            'and only Latin letters, digits, "-" and "_".'
        )
    return code


async def _check_before_final(conn: AsyncConnection, entity_id: str, sort: int) -> None:
    """In-progress stages sort before the success stage: nothing in progress comes after it."""
    final = await conn.execute(
        select(func.min(statuses.c.sort)).where(
            statuses.c.entity_id == entity_id, statuses.c.semantics == "S"
        )
    )
    final_sort = final.scalar()
    if final_sort is not None and sort >= final_sort:
        raise StageAfterFinal()


async def add_status(conn: AsyncConnection, *, fields: Mapping[str, Any]) -> int:
    """Add a list value (``fields`` keyed by UPPER names); returns its row ID."""
    entity_id = _text(fields, "ENTITY_ID")
    if not entity_id:
        raise StatusFieldRequired("ENTITY_ID")
    directory = await find_directory(conn, entity_id.upper() if entity_id.isascii() else "")
    if directory is None:
        raise StatusEntityNotSupported()
    code = _text(fields, "STATUS_ID")
    if not code:
        raise StatusFieldRequired("STATUS_ID")
    code = _code(directory, code)
    name, sort, color = _name(fields), _sort(fields, 10), _color(fields)
    semantics: str | None = None
    if directory.category_id is not None:
        semantics = _semantics(fields)
        color = color or DEFAULT_COLORS[semantics]
        if semantics == "P":
            await _check_before_final(conn, directory.entity_id, sort)
    taken = await conn.execute(
        select(statuses.c.id).where(
            statuses.c.entity_id == directory.entity_id, statuses.c.status_id == code
        )
    )
    if taken.first() is not None:
        raise DuplicateStatus()
    try:
        result = await conn.execute(
            insert(statuses)
            .values(entity_id=directory.entity_id, status_id=code, name=name, name_init=None,
                    sort=sort, system=False, color=color, semantics=semantics,
                    category_id=directory.category_id)
            .returning(statuses.c.id)
        )  # fmt: skip
    except IntegrityError:
        # A concurrent add of the same code won the race: the same answer as above.
        raise DuplicateStatus() from None
    return int(result.scalar_one())


async def update_status(
    conn: AsyncConnection, *, status_id: int, fields: Mapping[str, Any]
) -> None:
    """Change NAME, SORT and COLOR; every other field is immutable or read-only and ignored."""
    current = await get_status(conn, status_id=status_id)
    values: dict[str, Any] = {}
    if "NAME" in fields:
        values["name"] = _name(fields)
    if "SORT" in fields:
        values["sort"] = _sort(fields, current.sort)
    if "COLOR" in fields:
        values["color"] = _color(fields)
    if values:
        await conn.execute(update(statuses).where(statuses.c.id == status_id).values(**values))


async def _in_use(conn: AsyncConnection, status: Status) -> bool:
    """Does any deal hold this value (a stage in its own funnel, a type, a source)?"""
    funnel = funnel_of(status.entity_id)
    if funnel is not None:
        used: ColumnElement[bool] = (deals.c.category_id == funnel) & (
            deals.c.stage_id == status.status_id
        )
    elif status.entity_id == "DEAL_TYPE":
        used = deals.c.type_id == status.status_id
    elif status.entity_id == "SOURCE":
        used = deals.c.source_id == status.status_id
    else:
        return False
    return (await conn.execute(select(deals.c.id).where(used).limit(1))).first() is not None


async def delete_status(conn: AsyncConnection, *, status_id: int, forced: bool) -> None:
    status = await get_status(conn, status_id=status_id)
    if status.system and not forced:
        raise SystemStatusProtected()
    if await _in_use(conn, status):
        raise StatusInUse()
    await conn.execute(delete(statuses).where(statuses.c.id == status_id))
