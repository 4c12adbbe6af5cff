"""Values as classic CRM methods render them: strings, Y/N, 2-decimal money, ISO dates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.userfields import files
from relatecrm.userfields.registry import UserField

CENTS = Decimal("0.01")


def render_value(type_name: str, value: Any, tz: dt.tzinfo) -> Any:
    if value is None:
        return None
    if type_name == "double":
        return str(Decimal(value).quantize(CENTS))
    if type_name == "datetime":
        return value.astimezone(tz).replace(microsecond=0).isoformat()
    if type_name == "date":
        # A date is midnight UTC of that day shown in the portal's offset (seed example).
        midnight = dt.datetime.combine(value, dt.time(), dt.UTC)
        return midnight.astimezone(tz).isoformat()
    return str(value)


def render_row(
    row: Mapping[str, Any],
    types: Mapping[str, str],
    tz: dt.tzinfo,
    custom: Mapping[str, UserField] | None = None,
    links: Mapping[int, Any] | None = None,
) -> dict[str, Any]:
    """System fields by ``types``; custom fields (``custom``) by ``render_custom``."""
    custom = custom or {}
    return {
        name: render_custom(custom[name], value, tz, links or {})
        if name in custom
        else render_value(types[name], value, tz)
        for name, value in row.items()
    }


def plain_number(value: float) -> str:
    """A double as PHP prints a float column: ``10`` and ``3.14``, never ``1e+20``."""
    number = Decimal(repr(float(value)))
    if number == number.to_integral_value():
        return str(int(number))
    return format(number.normalize(), "f")


def _custom_value(field: UserField, value: Any, tz: dt.tzinfo, links: Mapping[int, Any]) -> Any:
    kind = field.user_type_id
    if kind == "file":
        return links.get(int(value))
    if kind in ("date", "datetime"):
        return render_value(kind, value, tz)
    if kind == "double":
        return plain_number(value)
    return str(value)


def render_custom(field: UserField, value: Any, tz: dt.tzinfo, links: Mapping[int, Any]) -> Any:
    """A custom field value of crm.deal.get/list: every value a string, as Bitrix reads
    them from its tables (booleans ``"1"``/``"0"``, enumerations their item id, money
    ``"amount|CUR"``), dates as system dates, files as ``{id, showUrl, downloadUrl}``;
    a multiple field is an array (``[]`` when empty), an empty single field ``null``."""
    if field.multiple:
        shown = [_custom_value(field, item, tz, links) for item in value or []]
        return [item for item in shown if item is not None]
    return None if value is None else _custom_value(field, value, tz, links)


def file_ids(rows: Iterable[Mapping[str, Any]], custom: Mapping[str, UserField]) -> list[int]:
    """The file ids the rows' ``file`` fields hold."""
    found: list[int] = []
    for row in rows:
        for name, value in row.items():
            if name in custom and custom[name].user_type_id == "file" and value is not None:
                found.extend(value if isinstance(value, list) else [value])
    return found


async def file_links(
    conn: AsyncConnection, rows: Iterable[Mapping[str, Any]], custom: Mapping[str, UserField]
) -> dict[int, dict[str, Any]]:
    """The download links of every file the rows show, in one query (none if no files)."""
    ids = file_ids(rows, custom)
    return await files.links(conn, ids) if ids else {}
