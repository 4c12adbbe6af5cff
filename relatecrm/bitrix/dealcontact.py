"""``crm.deal.contact.*`` handlers: one deal's contact links (spec deals §5)."""

from __future__ import annotations

from typing import Any

from relatecrm.bitrix.call import Call


async def fields(call: Call) -> Any:
    raise NotImplementedError  # placeholder until implemented


async def add(call: Call) -> Any:
    raise NotImplementedError  # placeholder until implemented


async def delete(call: Call) -> Any:
    raise NotImplementedError  # placeholder until implemented


async def items_get(call: Call) -> Any:
    raise NotImplementedError  # placeholder until implemented


async def items_set(call: Call) -> Any:
    raise NotImplementedError  # placeholder until implemented


async def items_delete(call: Call) -> Any:
    raise NotImplementedError  # placeholder until implemented
