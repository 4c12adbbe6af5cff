"""``crm.deal.productrows.set/get`` handlers (spec deals §4.1, §4.2)."""

from __future__ import annotations

from typing import Any

from relatecrm.bitrix.call import Call


async def set_(call: Call) -> Any:
    raise NotImplementedError  # placeholder until implemented


async def get(call: Call) -> Any:
    raise NotImplementedError  # placeholder until implemented
