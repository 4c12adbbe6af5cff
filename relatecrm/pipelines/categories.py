"""Deal funnels (Bitrix "categories") and the reference lists they imply.

Funnel 0 is the general funnel; users add more. Adding funnel ``n`` also creates its
stage list ``DEAL_STAGE_{n}`` (the eight default stages, IDs prefixed ``C{n}:``) in the
same transaction; deleting it removes that list. The lists that exist ("directories")
are one stage list per funnel, plus ``SOURCE`` and ``DEAL_TYPE``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.deals.models import deals
from relatecrm.errors import (
    CategoryNotEmpty,
    CategoryNotFound,
    CategoryRemovalDisabled,
    InvalidCategoryField,
    UnsupportedEntityType,
)
from relatecrm.pipelines.models import categories, statuses
from relatecrm.pipelines.service import stage_entity_id
from relatecrm.values import Unconvertible, to_int, to_string

DEAL = 2
DEFAULT_NAME = "-"
DEFAULT_SORT = 500
MAX_TEXT = 255
# Bitrix cuts stage IDs at 21 characters: funnel 10 gets "C10:PREPAYMENT_INVOIC".
MAX_STAGE_ID = 21
FUNNEL_STAGES = re.compile(r"DEAL_STAGE_([1-9][0-9]{0,8})")
# The reference lists that are not stages, with their crm.status.entity.types names.
PLAIN_LISTS = {"SOURCE": "Sources", "DEAL_TYPE": "Deal type"}
# The stages every new funnel starts with: the seed's rows of the general funnel
# (migration 0002). (code, name, sort, semantics, colour, system)
DEFAULT_STAGES = (
    ("NEW", "New", 10, "P", "#39A8EF", True),
    ("PREPARATION", "Preparing documents", 20, "P", "#2FC6F6", False),
    ("PREPAYMENT_INVOICE", "Prepayment invoice", 30, "P", "#55D0E0", False),
    ("EXECUTING", "In progress", 40, "P", "#47E4C2", False),
    ("FINAL_INVOICE", "Final invoice", 50, "P", "#FFA900", False),
    ("WON", "Deal won", 60, "S", "#7BD500", True),
    ("LOSE", "Deal lost", 70, "F", "#FF5752", True),
    ("APOLOGY", "Analyze failure", 80, "F", "#FF5752", False),
)


@dataclass(frozen=True)
class CategoryField:
    """One funnel field as ``crm.category.fields`` describes it, and its column."""

    name: str
    upper_name: str
    type: str
    read_only: bool = False

    @property
    def column(self) -> str:
        return self.upper_name.lower()

    def describe(self) -> dict[str, Any]:
        return {"type": self.type, "isRequired": False, "isReadOnly": self.read_only,
                "isImmutable": False, "isMultiple": False, "isDynamic": False,
                "title": self.upper_name, "upperName": self.upper_name}  # fmt: skip


FIELDS = (
    CategoryField("id", "ID", "integer", read_only=True),
    CategoryField("name", "NAME", "string"),
    CategoryField("sort", "SORT", "integer"),
    # For deals the type and the default flag are read-only (one default funnel: 0).
    CategoryField("entityTypeId", "ENTITY_TYPE_ID", "integer", read_only=True),
    CategoryField("isDefault", "IS_DEFAULT", "boolean", read_only=True),
    CategoryField("originId", "ORIGIN_ID", "string"),
    CategoryField("originatorId", "ORIGINATOR_ID", "string"),
)
# Input names are matched case-insensitively, as camelCase or as UPPER_SNAKE.
BY_KEY = {key: f for f in FIELDS for key in (f.name.lower(), f.upper_name.lower())}


@dataclass(frozen=True)
class Category:
    id: int
    name: str
    sort: int
    entity_type_id: int
    is_default: bool
    origin_id: str | None
    originator_id: str | None


@dataclass(frozen=True)
class Directory:
    """One reference list; ``category_id`` is its funnel, None for lists that are not stages."""

    entity_id: str
    name: str
    category_id: int | None
    start: str | None = None
    success: str | None = None
    failure: str | None = None


def check_entity_type(entity_type_id: int) -> None:
    """Only deals have funnels here."""
    if entity_type_id != DEAL:
        raise UnsupportedEntityType(entity_type_id)


def describe_fields(*, entity_type_id: int) -> dict[str, dict[str, Any]]:
    check_entity_type(entity_type_id)
    return {field.name: field.describe() for field in FIELDS}


def _category(row: Row[Any]) -> Category:
    return Category(row.id, row.name, row.sort, row.entity_type_id, bool(row.is_default),
                    row.origin_id, row.originator_id)  # fmt: skip


async def list_categories(conn: AsyncConnection, *, entity_type_id: int) -> list[Category]:
    """Every funnel, by sort then ID."""
    check_entity_type(entity_type_id)
    rows = await conn.execute(
        select(categories)
        .where(categories.c.entity_type_id == entity_type_id)
        .order_by(categories.c.sort, categories.c.id)
    )
    return [_category(row) for row in rows]


async def find_category(
    conn: AsyncConnection, category_id: int, *, for_update: bool = False
) -> Category | None:
    query = select(categories).where(
        categories.c.id == category_id, categories.c.entity_type_id == DEAL
    )
    row = (await conn.execute(query.with_for_update() if for_update else query)).first()
    return None if row is None else _category(row)


async def get_category(
    conn: AsyncConnection, *, entity_type_id: int, category_id: int, for_update: bool = False
) -> Category:
    check_entity_type(entity_type_id)
    category = await find_category(conn, category_id, for_update=for_update)
    if category is None:
        raise CategoryNotFound()
    return category


def _text(field: CategoryField, value: Any) -> str:
    try:
        text = to_string(value)
    except Unconvertible:
        raise InvalidCategoryField(field.upper_name) from None
    if len(text) > MAX_TEXT or (field.name == "name" and not text.strip()):
        raise InvalidCategoryField(field.upper_name)
    return text


def _values(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Column values of the writable fields given; unknown and read-only ones are ignored."""
    values: dict[str, Any] = {}
    for key, value in fields.items():
        field = BY_KEY.get(str(key).lower())
        if field is None or field.read_only or value is None:
            continue
        if field.name == "sort":
            try:
                # A negative sort is stored as 0, as Bitrix does.
                values["sort"] = max(0, to_int(value))
            except Unconvertible:
                raise InvalidCategoryField(field.upper_name) from None
        else:
            values[field.column] = _text(field, value)
    return values


async def add_category(
    conn: AsyncConnection, *, entity_type_id: int, fields: Mapping[str, Any], now: dt.datetime
) -> Category:
    check_entity_type(entity_type_id)
    values = {"name": DEFAULT_NAME, "sort": DEFAULT_SORT, **_values(fields)}
    result = await conn.execute(
        insert(categories)
        .values(entity_type_id=entity_type_id, is_default=False, created_at=now, **values)
        .returning(categories.c.id)
    )
    category_id = int(result.scalar_one())
    await create_stages(conn, category_id=category_id)
    return await get_category(conn, entity_type_id=entity_type_id, category_id=category_id)


async def create_stages(conn: AsyncConnection, *, category_id: int) -> None:
    """The funnel's stage list with the default stages (system flags as in the seed)."""
    await conn.execute(
        insert(statuses),
        [
            {"entity_id": stage_entity_id(category_id),
             "status_id": f"C{category_id}:{code}"[:MAX_STAGE_ID], "name": name,
             "name_init": name, "sort": sort, "system": system, "color": color,
             "semantics": semantics, "category_id": category_id}
            for code, name, sort, semantics, color, system in DEFAULT_STAGES
        ],
    )  # fmt: skip


async def update_category(
    conn: AsyncConnection, *, entity_type_id: int, category_id: int, fields: Mapping[str, Any]
) -> Category:
    await get_category(conn, entity_type_id=entity_type_id, category_id=category_id)
    values = _values(fields)
    if values:
        await conn.execute(
            update(categories).where(categories.c.id == category_id).values(**values)
        )
    return await get_category(conn, entity_type_id=entity_type_id, category_id=category_id)


async def delete_category(conn: AsyncConnection, *, entity_type_id: int, category_id: int) -> None:
    """Delete an empty funnel and its stage list; the default funnel stays."""
    category = await get_category(
        conn, entity_type_id=entity_type_id, category_id=category_id, for_update=True
    )
    if category.is_default:
        raise CategoryRemovalDisabled()
    has_deals = await conn.execute(
        select(deals.c.id).where(deals.c.category_id == category_id).limit(1)
    )
    if has_deals.first() is not None:
        raise CategoryNotEmpty()
    await conn.execute(delete(statuses).where(statuses.c.entity_id == stage_entity_id(category_id)))
    try:
        await conn.execute(delete(categories).where(categories.c.id == category_id))
    except IntegrityError:  # deals arrived after the check: the key keeps them
        raise CategoryNotEmpty() from None


async def find_directory(conn: AsyncConnection, entity_id: str) -> Directory | None:
    """The list named ``entity_id``, or None when RelateCRM has no such list."""
    if entity_id in PLAIN_LISTS:
        return Directory(entity_id, PLAIN_LISTS[entity_id], None)
    category_id = funnel_of(entity_id)
    funnel = None if category_id is None else await find_category(conn, category_id)
    return None if funnel is None else Directory(entity_id, _title(funnel), funnel.id)


def _title(funnel: Category) -> str:
    return f"{funnel.name} deal stages"


def funnel_of(entity_id: str) -> int | None:
    """The funnel of a stage list (``DEAL_STAGE`` → 0, ``DEAL_STAGE_7`` → 7), else None."""
    if entity_id == "DEAL_STAGE":
        return 0
    match = FUNNEL_STAGES.fullmatch(entity_id)
    return int(match.group(1)) if match else None


def is_stage(entity_id: str) -> bool:
    return funnel_of(entity_id) is not None


def stage_role(semantics: str | None, system: bool) -> str:
    """EXTRA.SEMANTICS: the system F stage (LOSE) is "failure", other F stages "apology"."""
    if semantics == "S":
        return "success"
    if semantics == "F":
        return "failure" if system else "apology"
    return "process"


async def list_directories(conn: AsyncConnection) -> list[Directory]:
    """Every list: each funnel's stages (general funnel first), then sources and deal types."""
    rows = await conn.execute(
        select(statuses.c.entity_id, statuses.c.status_id, statuses.c.semantics,
               statuses.c.system)
        .where(statuses.c.entity_id.like("DEAL\\_STAGE%", "\\"))
        .order_by(statuses.c.sort, statuses.c.id)
    )  # fmt: skip
    stages: dict[str, list[Any]] = {}
    for row in rows:
        stages.setdefault(row.entity_id, []).append(row)
    result = []
    for funnel in sorted(await list_categories(conn, entity_type_id=DEAL), key=lambda c: c.id != 0):
        own = stages.get(stage_entity_id(funnel.id), [])
        # The first stage of each role, by sort; "failure" falls back to an "apology" stage.
        roles = {stage_role(row.semantics, row.system): row.status_id for row in reversed(own)}
        start = own[0].status_id if own else None
        failure = roles.get("failure") or roles.get("apology")
        result.append(Directory(stage_entity_id(funnel.id), _title(funnel), funnel.id, start,
                                roles.get("success"), failure))  # fmt: skip
    return result + [Directory(entity_id, name, None) for entity_id, name in PLAIN_LISTS.items()]
