"""``crm.stagehistory.list`` for deals: where each deal was created and moved."""

from __future__ import annotations

from relatecrm.bitrix.call import Call
from relatecrm.bitrix.controller import require_deal_type
from relatecrm.bitrix.envelope import ListResult
from relatecrm.bitrix.filters import expand_select, parse_filter, parse_order, parse_select
from relatecrm.bitrix.params import resolve
from relatecrm.bitrix.render import render_value
from relatecrm.listing import ListQuery
from relatecrm.pipelines import history

FIELDS = history.FIELD_ORDER


async def list_(call: Call) -> ListResult:
    require_deal_type(call)
    query = ListQuery(
        select=expand_select(
            parse_select(resolve(call.params, "select")), FIELDS, (), FIELDS, FIELDS
        ),
        conditions=parse_filter(resolve(call.params, "filter")),
        order=parse_order(resolve(call.params, "order")),
        start=call.start,
        round_start=False,
    )
    page = await history.list_page(call.conn, query, call.ctx.tz)
    rows = [
        {
            name: render_value("datetime", value, call.ctx.tz) if name == "CREATED_TIME" else value
            for name, value in row.items()
        }
        for row in page.rows
    ]
    return ListResult({"items": rows}, total=page.total or 0, next=page.next)
