"""``crm.contact.*`` handlers, and the class ``crm.company.*`` shares with them.

Both are classic proxies like ``crm.deal.*``: the same ``fields``/``params`` rules, string
values, errors with an empty code. Multi-fields (``PHONE``, ``EMAIL``, ``WEB``, ``IM``) are
arrays of ``{"ID", "VALUE_TYPE", "VALUE", "TYPE_ID"}``, present only when they have values;
``list`` returns them only when ``select`` names them (``*`` does not).
"""

from __future__ import annotations

from typing import Any

from relatecrm.bitrix.call import Call
from relatecrm.bitrix.deal import fields_param
from relatecrm.bitrix.envelope import ListResult
from relatecrm.bitrix.filters import (
    expand_select,
    list_query,
    parse_select,
)
from relatecrm.bitrix.params import resolve
from relatecrm.bitrix.render import render_value
from relatecrm.contacts import service
from relatecrm.contacts.fields import CONTACT, MULTI_NAMES, Entity
from relatecrm.deals.service import check_id


class ClientMethods:
    """The six handlers of one client entity (contacts or companies)."""

    def __init__(self, entity: Entity) -> None:
        self.entity = entity
        self.types = {name: spec.type for name, spec in entity.fields.items()}
        # Output and select order: the get example's, then the multi-fields.
        self.order = (*entity.output_order, *MULTI_NAMES)

    def render(self, row: dict[str, Any], call: Call) -> dict[str, Any]:
        return {
            name: (
                [{**item, "ID": str(item["ID"])} for item in value]
                if name in MULTI_NAMES
                else render_value(self.types[name], value, call.ctx.tz)
            )
            for name, value in row.items()
        }

    async def add(self, call: Call) -> int:
        return await service.add(call.conn, call.ctx, self.entity, fields_param(call))

    async def update(self, call: Call) -> bool:
        row_id = check_id(resolve(call.params, "id"))
        await service.update(call.conn, call.ctx, self.entity, row_id, fields_param(call))
        return True

    async def get(self, call: Call) -> dict[str, Any]:
        row_id = check_id(resolve(call.params, "id"))
        return self.render(await service.get(call.conn, call.ctx, self.entity, row_id), call)

    async def list_(self, call: Call) -> ListResult:
        # `*` is every single-valued field (the output order holds no multi-field).
        requested = parse_select(resolve(call.params, "select"))
        select = expand_select(requested, self.entity.output_order, (), self.order, self.order)
        query = list_query(call.params, call.start, select)
        page = await service.list_rows(call.conn, call.ctx, self.entity, query)
        rows = [self.render(row, call) for row in page.rows]
        return ListResult(rows, total=page.total or 0, next=page.next)

    async def delete(self, call: Call) -> bool:
        row_id = check_id(resolve(call.params, "id"))
        await service.delete(call.conn, call.ctx, self.entity, row_id)
        return True

    async def fields(self, call: Call) -> dict[str, Any]:
        return service.describe_fields(self.entity)


CONTACTS = ClientMethods(CONTACT)
