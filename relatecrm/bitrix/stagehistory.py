"""``crm.stagehistory.list`` for deals: where each deal was created and moved."""

from __future__ import annotations

from relatecrm.bitrix.call import Call
from relatecrm.bitrix.controller import require_deal_type
from relatecrm.bitrix.envelope import ListResult
from relatecrm.bitrix.filters import (
    expand_select,
    list_query,
    parse_select,
)
from relatecrm.bitrix.params import resolve
from relatecrm.bitrix.render import render_value
from relatecrm.pipelines import history

FIELDS = history.FIELD_ORDER


async def list_(call: Call) -> ListResult:
    require_deal_type(call)
    requested = parse_select(resolve(call.params, "select"))
    select = expand_select(requested, FIELDS, (), FIELDS, FIELDS)
    query = list_query(call.params, call.start, select, round_start=False)
    page = await history.list_page(call.conn, query, call.ctx.tz, call.ctx.rights)
    rows = [
        {
            name: render_value("datetime", value, call.ctx.tz) if name == "CREATED_TIME" else value
            for name, value in row.items()
        }
        for row in page.rows
    ]
    return ListResult({"items": rows}, total=page.total or 0, next=page.next)
