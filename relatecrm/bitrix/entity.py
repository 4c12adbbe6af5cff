"""The ``entityTypeId`` parameter of engine controllers (crm.item.*, crm.category.* ...)."""

from __future__ import annotations

from typing import Any

from relatecrm.bitrix.errors import EntityTypeNotSupported, SmartProcessNotFound
from relatecrm.bitrix.params import resolve
from relatecrm.values import Unconvertible, to_int

DEAL = 2
# Bitrix's own CRM types: they exist there, but RelateCRM keeps deals only.
KNOWN_TYPES = {1: "LEAD", 3: "CONTACT", 4: "COMPANY", 5: "INVOICE", 7: "QUOTE", 31: "SMART_INVOICE"}


def require_deal_type(params: dict[str, Any]) -> None:
    """Only deals (``entityTypeId=2``) are served; anything else fails like Bitrix does."""
    raw = resolve(params, "entityTypeId")
    try:
        entity_type = to_int(raw)
    except Unconvertible:
        raise SmartProcessNotFound() from None
    if entity_type == DEAL:
        return
    if entity_type in KNOWN_TYPES:
        raise EntityTypeNotSupported(f"Entity type {KNOWN_TYPES[entity_type]} is not supported")
    raise SmartProcessNotFound()
