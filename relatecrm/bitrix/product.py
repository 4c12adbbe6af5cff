"""``crm.product.*``, ``crm.measure.*`` and ``crm.vat.*`` handlers: the product catalog."""

from __future__ import annotations

from typing import Any

from relatecrm.bitrix.call import Call


async def add(call: Call) -> Any:
    raise NotImplementedError  # placeholder until implemented


async def update(call: Call) -> Any:
    raise NotImplementedError  # placeholder until implemented


async def get(call: Call) -> Any:
    raise NotImplementedError  # placeholder until implemented


async def list_(call: Call) -> Any:
    raise NotImplementedError  # placeholder until implemented


async def delete(call: Call) -> Any:
    raise NotImplementedError  # placeholder until implemented


async def fields(call: Call) -> Any:
    raise NotImplementedError  # placeholder until implemented


async def measure_list(call: Call) -> Any:
    raise NotImplementedError  # placeholder until implemented


async def measure_get(call: Call) -> Any:
    raise NotImplementedError  # placeholder until implemented


async def measure_fields(call: Call) -> Any:
    raise NotImplementedError  # placeholder until implemented


async def vat_list(call: Call) -> Any:
    raise NotImplementedError  # placeholder until implemented


async def vat_get(call: Call) -> Any:
    raise NotImplementedError  # placeholder until implemented


async def vat_fields(call: Call) -> Any:
    raise NotImplementedError  # placeholder until implemented
