"""``crm.status.*`` handlers (classic proxy): funnel stages, deal types and sources.

Values are strings (``"ID": "12"``, ``"SORT": "10"``) except where the docs show
otherwise, and errors have an empty code.
"""

from __future__ import annotations

from typing import Any

from relatecrm.bitrix.call import Call
from relatecrm.bitrix.envelope import ListResult
from relatecrm.bitrix.filters import ascii_upper, parse_filter, parse_order
from relatecrm.bitrix.params import resolve
from relatecrm.errors import InvalidParameter, InvalidStatusEntity
from relatecrm.pipelines import categories, statuses
from relatecrm.values import Unconvertible, to_flag


def _map_param(call: Call, name: str, *, required: bool) -> dict[str, Any]:
    value = resolve(call.params, name)
    if (value is None and not required) or value == []:
        return {}
    if not isinstance(value, dict):
        raise InvalidParameter.must_be_array(name)
    return value


def _fields(call: Call) -> dict[str, Any]:
    fields = _map_param(call, "fields", required=True)
    return {ascii_upper(str(key)): value for key, value in fields.items()}


def render(status: statuses.Status) -> dict[str, Any]:
    row: dict[str, Any] = {
        "ID": str(status.id),
        "ENTITY_ID": status.entity_id,
        "STATUS_ID": status.status_id,
        "NAME": status.name,
        # Only system rows keep their original name; the docs show "" for the others.
        "NAME_INIT": (status.name_init or "") if status.system else "",
        "SORT": str(status.sort),
        "SYSTEM": "Y" if status.system else "N",
        # The general funnel's stages have no CATEGORY_ID on Bitrix24.
        "CATEGORY_ID": str(status.category_id) if status.category_id else None,
        "COLOR": status.color,
        "SEMANTICS": status.semantics,
    }
    if status.role is not None:
        row["EXTRA"] = {"SEMANTICS": status.role, "COLOR": status.color}
    return row


async def add(call: Call) -> int:
    return await statuses.add_status(call.conn, fields=_fields(call))


async def update(call: Call) -> bool:
    status_id = statuses.check_status_id(resolve(call.params, "id"))
    await statuses.update_status(call.conn, status_id=status_id, fields=_fields(call))
    return True


async def get(call: Call) -> dict[str, Any]:
    status_id = statuses.check_status_id(resolve(call.params, "id"))
    return render(await statuses.get_status(call.conn, status_id=status_id))


async def list_(call: Call) -> ListResult:
    rows = await statuses.list_statuses(
        call.conn,
        conditions=parse_filter(resolve(call.params, "filter")),
        order=parse_order(resolve(call.params, "order")),
        tz=call.ctx.tz,
    )
    # Every row in one reply: crm.status.list has no pages.
    return ListResult([render(row) for row in rows], total=len(rows))


async def delete(call: Call) -> bool:
    status_id = statuses.check_status_id(resolve(call.params, "id"))
    try:
        forced = to_flag(resolve(_map_param(call, "params", required=False), "FORCED")) == "Y"
    except Unconvertible:
        forced = False
    await statuses.delete_status(call.conn, status_id=status_id, forced=forced)
    return True


async def fields(call: Call) -> dict[str, Any]:
    return statuses.describe_fields()


def _entity_type(directory: categories.Directory) -> dict[str, Any]:
    if directory.category_id is None:
        return {"ID": directory.entity_id, "NAME": directory.name}
    out: dict[str, Any] = {"ID": directory.entity_id, "NAME": directory.name}
    if directory.category_id:
        out["PARENT_ID"] = "DEAL_STAGE"
    out["SEMANTIC_INFO"] = {
        "START_FIELD": directory.start or "",
        "FINAL_SUCCESS_FIELD": directory.success or "",
        "FINAL_UNSUCCESS_FIELD": directory.failure or "",
        "FINAL_SORT": 0,
    }
    if directory.category_id:
        out["PREFIX"] = f"C{directory.category_id}"
    out["FIELD_ATTRIBUTE_SCOPE"] = (
        f"category_{directory.category_id}" if directory.category_id else ""
    )
    out["ENTITY_TYPE_ID"] = categories.DEAL
    # An int for the general funnel, a string for the others, as in the docs example.
    out["CATEGORY_ID"] = str(directory.category_id) if directory.category_id else 0
    return out


async def entity_types(call: Call) -> list[dict[str, Any]]:
    return [_entity_type(directory) for directory in await categories.list_directories(call.conn)]


async def entity_items(call: Call) -> list[dict[str, Any]]:
    entity_id = resolve(call.params, "entityId")
    if not isinstance(entity_id, str) or not entity_id.strip():
        raise InvalidStatusEntity()
    items = await statuses.directory_items(call.conn, entity_id=entity_id.strip())
    return [{"NAME": item.name, "SORT": item.sort, "STATUS_ID": item.status_id} for item in items]
