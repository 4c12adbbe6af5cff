"""``crm.category.*`` handlers (engine controller): deal funnels with ``entityTypeId=2``.

Results are wrapped (``{"category": …}``, ``{"categories": […]}``), values are JSON
numbers and errors carry codes (``NOT_FOUND``, ``ENTITY_TYPE_NOT_SUPPORTED`` …).
"""

from __future__ import annotations

from typing import Any

from relatecrm.bitrix.call import Call
from relatecrm.bitrix.controller import int_param, mismatch, missing
from relatecrm.bitrix.envelope import ListResult
from relatecrm.bitrix.params import resolve
from relatecrm.pipelines import categories


def _fields(call: Call) -> dict[str, Any]:
    raw = resolve(call.params, "fields")
    if raw is None:
        raise missing("fields")
    if raw == []:
        return {}
    if not isinstance(raw, dict):
        raise mismatch("fields", raw, "array")
    return raw


def render(category: categories.Category) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": category.id,
        "name": category.name,
        "sort": category.sort,
        "entityTypeId": category.entity_type_id,
        "isDefault": "Y" if category.is_default else "N",
    }
    # The default deal funnel has no origin keys at all (real capture, protocol spec §9.1).
    if not category.is_default:
        out["originId"] = category.origin_id or ""
        out["originatorId"] = category.originator_id or ""
    return out


async def list_(call: Call) -> ListResult:
    found = await categories.list_categories(
        call.conn, entity_type_id=int_param(call, "entityTypeId")
    )
    return ListResult({"categories": [render(c) for c in found]}, total=len(found))


async def get(call: Call) -> dict[str, Any]:
    category = await categories.get_category(
        call.conn,
        entity_type_id=int_param(call, "entityTypeId"),
        category_id=int_param(call, "id"),
    )
    return {"category": render(category)}


async def add(call: Call) -> dict[str, Any]:
    entity_type_id = int_param(call, "entityTypeId")
    category = await categories.add_category(
        call.conn, entity_type_id=entity_type_id, fields=_fields(call), now=call.ctx.now
    )
    return {"category": render(category)}


async def update(call: Call) -> dict[str, Any]:
    entity_type_id, category_id = int_param(call, "entityTypeId"), int_param(call, "id")
    category = await categories.update_category(
        call.conn, entity_type_id=entity_type_id, category_id=category_id, fields=_fields(call)
    )
    return {"category": render(category)}


async def delete(call: Call) -> None:
    entity_type_id, category_id = int_param(call, "entityTypeId"), int_param(call, "id")
    await categories.delete_category(
        call.conn, entity_type_id=entity_type_id, category_id=category_id
    )


async def fields(call: Call) -> dict[str, Any]:
    entity_type_id = int_param(call, "entityTypeId")
    return {"fields": categories.describe_fields(entity_type_id=entity_type_id)}
