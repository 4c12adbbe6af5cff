"""``crm.deal.*`` handlers: decode parameters, call ``deals.service``, shape the result."""

from __future__ import annotations

from typing import Any

from relatecrm.bitrix.call import Call
from relatecrm.bitrix.envelope import ListResult
from relatecrm.bitrix.filters import (
    ascii_upper,
    expand_select,
    list_query,
    parse_select,
)
from relatecrm.bitrix.params import resolve
from relatecrm.bitrix.render import file_links, render_row
from relatecrm.deals import service
from relatecrm.deals.fields import FIELDS, OUTPUT_ORDER
from relatecrm.errors import InvalidParameter

TYPES = {name: spec.type for name, spec in FIELDS.items()}
# `*` means every system field except multiple ones (CONTACT_IDS).
STAR = [name for name in OUTPUT_ORDER if not FIELDS[name].multiple]


def _map_param(call: Call, name: str, *, required: bool) -> dict[str, Any]:
    value = resolve(call.params, name)
    if value is None and not required:
        return {}
    if value == []:
        return {}
    if not isinstance(value, dict):
        raise InvalidParameter.must_be_array(name)
    return value


def fields_param(call: Call) -> dict[str, Any]:
    _map_param(call, "params", required=False)
    fields = _map_param(call, "fields", required=True)
    return {ascii_upper(str(key)): value for key, value in fields.items()}


async def add(call: Call) -> int:
    return await service.add(call.conn, call.ctx, fields_param(call))


async def update(call: Call) -> bool:
    deal_id = service.check_id(resolve(call.params, "id"))
    await service.update(call.conn, call.ctx, deal_id, fields_param(call))
    return True


async def get(call: Call) -> dict[str, Any]:
    deal_id = service.check_id(resolve(call.params, "id"))
    known = await service.user_fields(call.conn)
    deal = await service.get(call.conn, call.ctx, deal_id, known)
    links = await file_links(call.conn, [deal], known)
    return render_row(deal, TYPES, call.ctx.tz, known, links)


async def list_(call: Call) -> ListResult:
    """``UF_*`` (and the default select) means the single-valued custom fields; a multiple
    one is returned only when named (deals spec §3.4)."""
    requested = parse_select(resolve(call.params, "select"))
    known = await service.user_fields(call.conn)
    uf_star = [name for name, field in known.items() if not field.multiple]
    select = expand_select(requested, STAR, uf_star, [*FIELDS, *known], [*OUTPUT_ORDER, *known])
    query = list_query(call.params, call.start, select)
    page = await service.list_deals(call.conn, call.ctx, query, known=known)
    links = await file_links(call.conn, page.rows, known)
    rows = [render_row(row, TYPES, call.ctx.tz, known, links) for row in page.rows]
    return ListResult(rows, total=page.total or 0, next=page.next)


async def delete(call: Call) -> bool:
    deal_id = service.check_id(resolve(call.params, "id"))
    await service.delete(call.conn, call.ctx, deal_id)
    return True


async def fields(call: Call) -> dict[str, Any]:
    return await service.describe_fields(call.conn)
