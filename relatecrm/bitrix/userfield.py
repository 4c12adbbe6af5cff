"""``crm.deal.userfield.*`` and ``crm.userfield.*`` handlers: custom field definitions."""

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


async def types(call: Call) -> Any:
    raise NotImplementedError  # placeholder until implemented


async def fields(call: Call) -> Any:
    raise NotImplementedError  # placeholder until implemented


async def enumeration_fields(call: Call) -> Any:
    raise NotImplementedError  # placeholder until implemented


async def settings_fields(call: Call) -> Any:
    raise NotImplementedError  # placeholder until implemented
