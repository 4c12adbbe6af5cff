"""``crm.product.*``, ``crm.measure.*`` and ``crm.vat.*`` handlers: the product catalog.

All three are classic proxies like ``crm.deal.*``: ``fields``/``params``, ``id``,
``select``/``filter``/``order``/``start``, string values (money with two decimals) and
errors with an empty code. Measures and VAT rates are read-only here.
"""

from __future__ import annotations

from typing import Any

from relatecrm.bitrix.call import Call
from relatecrm.bitrix.deal import fields_param
from relatecrm.bitrix.envelope import ListResult
from relatecrm.bitrix.filters import expand_select, list_query, parse_select
from relatecrm.bitrix.params import resolve
from relatecrm.bitrix.render import render_row
from relatecrm.deals.service import check_id
from relatecrm.errors import InvalidId, VatRateNotFound
from relatecrm.listing import Page
from relatecrm.products import service
from relatecrm.products.fields import MEASURE, PRODUCT, VAT, Table


def _types(table: Table) -> dict[str, str]:
    return {name: spec.type for name, spec in table.fields.items()}


PRODUCT_TYPES, MEASURE_TYPES, VAT_TYPES = _types(PRODUCT), _types(MEASURE), _types(VAT)


def _select(call: Call, table: Table) -> list[str]:
    """The requested fields in descriptor order; ``*`` or nothing means all of them."""
    names = tuple(table.fields)
    return expand_select(parse_select(resolve(call.params, "select")), names, (), names, names)


def _page(page: Page, types: dict[str, str], call: Call) -> ListResult:
    rows = [render_row(row, types, call.ctx.tz) for row in page.rows]
    return ListResult(rows, total=page.total or 0, next=page.next)


async def add(call: Call) -> int:
    return await service.add(call.conn, call.ctx, fields_param(call))


async def update(call: Call) -> bool:
    product_id = check_id(resolve(call.params, "id"))
    await service.update(call.conn, call.ctx, product_id, fields_param(call))
    return True


async def get(call: Call) -> dict[str, Any]:
    product_id = check_id(resolve(call.params, "id"))
    product = await service.get(call.conn, call.ctx, product_id)
    return render_row(product, PRODUCT_TYPES, call.ctx.tz)


async def list_(call: Call) -> ListResult:
    query = list_query(call.params, call.start, _select(call, PRODUCT))
    return _page(await service.list_products(call.conn, call.ctx, query), PRODUCT_TYPES, call)


async def delete(call: Call) -> bool:
    product_id = check_id(resolve(call.params, "id"))
    await service.delete(call.conn, call.ctx, product_id)
    return True


async def fields(call: Call) -> dict[str, Any]:
    return service.describe_fields()


async def measure_list(call: Call) -> ListResult:
    query = list_query(call.params, call.start, _select(call, MEASURE))
    return _page(await service.list_measures(call.conn, call.ctx, query), MEASURE_TYPES, call)


async def measure_get(call: Call) -> dict[str, Any]:
    measure = await service.get_measure(call.conn, check_id(resolve(call.params, "id")))
    return render_row(measure, MEASURE_TYPES, call.ctx.tz)


async def measure_fields(call: Call) -> dict[str, Any]:
    return service.describe_measure_fields()


async def vat_list(call: Call) -> ListResult:
    query = list_query(call.params, call.start, _select(call, VAT))
    return _page(await service.list_vat_rates(call.conn, call.ctx, query), VAT_TYPES, call)


async def vat_get(call: Call) -> dict[str, Any]:
    # Bitrix looks any id up and reports every miss, a malformed id included, the same way.
    try:
        vat_id = check_id(resolve(call.params, "id"))
    except InvalidId:
        raise VatRateNotFound() from None
    return render_row(await service.get_vat_rate(call.conn, vat_id), VAT_TYPES, call.ctx.tz)


async def vat_fields(call: Call) -> dict[str, Any]:
    return service.describe_vat_fields()
