"""Parameters of Bitrix engine controllers (crm.item.*, crm.category.*, crm.stagehistory.*).

Their action parameters are bound by name and type; a missing or mistyped one is
refused with the binder's own ``ERROR_ARGUMENT`` messages.
"""

from __future__ import annotations

from typing import Any

from relatecrm.bitrix.call import Call
from relatecrm.bitrix.errors import ArgumentError, SmartProcessNotFound
from relatecrm.bitrix.params import resolve
from relatecrm.errors import ENTITY_TYPE_NAMES, UnsupportedEntityType
from relatecrm.values import Unconvertible, to_int

DEAL = 2


def missing(name: str) -> ArgumentError:
    return ArgumentError(f"Could not find value for parameter {{{name}}}", name)


def mismatch(name: str, raw: Any, type_name: str) -> ArgumentError:
    shown = raw if isinstance(raw, str | int | float) else "Array"
    return ArgumentError(
        f"Invalid value {{{shown}}} to match with parameter {{{name}}}. "
        f"Should be value of type {type_name}.",
        name,
    )


def int_param(call: Call, name: str) -> int:
    """A required int action parameter, refused as Bitrix's parameter binder refuses it."""
    raw = resolve(call.params, name)
    if raw is None:
        raise missing(name)
    try:
        return to_int(raw)
    except Unconvertible:
        raise mismatch(name, raw, "int") from None


def require_deal_type(call: Call) -> None:
    """Only deals (``entityTypeId=2``) have items here; other types fail as on Bitrix."""
    entity_type = int_param(call, "entityTypeId")
    if entity_type == DEAL:
        return
    if entity_type in ENTITY_TYPE_NAMES:
        raise UnsupportedEntityType(entity_type)
    raise SmartProcessNotFound()
