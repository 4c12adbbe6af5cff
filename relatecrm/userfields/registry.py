"""The custom fields of an entity as the rest of the code reads them.

Definitions are written by ``userfields.definitions``; deal reads and writes, the field
descriptors and the list filters all look them up here, once per call, in one query
each for fields and enumeration items.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.userfields.models import user_field_enums, user_fields

DEAL = "CRM_DEAL"
PREFIX = "UF_CRM_"


@dataclass(frozen=True)
class EnumItem:
    """One item of an enumeration field; deal values store its ``id``."""

    id: int
    value: str
    default: bool
    sort: int
    xml_id: str


@dataclass(frozen=True)
class UserField:
    """One custom field definition."""

    id: int
    entity_id: str
    field_name: str
    user_type_id: str
    xml_id: str | None
    sort: int
    multiple: bool
    mandatory: bool
    show_filter: str
    show_in_list: bool
    edit_in_list: bool
    is_searchable: bool
    settings: dict[str, Any]
    labels: dict[str, dict[str, str]]  # EDIT_FORM_LABEL → {"en": "...", ...}
    items: tuple[EnumItem, ...] = field(default=())


def _user_field(row: Any, items: tuple[EnumItem, ...]) -> UserField:
    return UserField(
        id=int(row.id),
        entity_id=row.entity_id,
        field_name=row.field_name,
        user_type_id=row.user_type_id,
        xml_id=row.xml_id,
        sort=int(row.sort),
        multiple=row.multiple == "Y",
        mandatory=row.mandatory == "Y",
        show_filter=row.show_filter,
        show_in_list=row.show_in_list == "Y",
        edit_in_list=row.edit_in_list == "Y",
        is_searchable=row.is_searchable == "Y",
        settings=dict(row.settings or {}),
        labels={k: dict(v) for k, v in (row.labels or {}).items()},
        items=items,
    )


async def load(conn: AsyncConnection, entity_id: str = DEAL) -> dict[str, UserField]:
    """Every field of ``entity_id`` by FIELD_NAME, in SORT, ID order, with its items."""
    rows = (
        await conn.execute(
            select(user_fields)
            .where(user_fields.c.entity_id == entity_id)
            .order_by(user_fields.c.sort, user_fields.c.id)
        )
    ).all()
    if not rows:
        return {}
    items: dict[int, list[EnumItem]] = {}
    enum_ids = [row.id for row in rows if row.user_type_id == "enumeration"]
    if enum_ids:
        for item in await conn.execute(
            select(user_field_enums)
            .where(user_field_enums.c.field_id.in_(enum_ids))
            .order_by(user_field_enums.c.sort, user_field_enums.c.id)
        ):
            items.setdefault(int(item.field_id), []).append(
                EnumItem(
                    id=int(item.id),
                    value=item.value,
                    default=item._mapping["def"] == "Y",
                    sort=int(item.sort),
                    xml_id=item.xml_id,
                )
            )
    return {row.field_name: _user_field(row, tuple(items.get(int(row.id), ()))) for row in rows}
