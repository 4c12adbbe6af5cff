"""Values as classic CRM methods render them: strings, Y/N, 2-decimal money, ISO dates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

CENTS = Decimal("0.01")


def render_value(type_name: str, value: Any, tz: dt.tzinfo) -> Any:
    if value is None:
        return None
    if type_name == "double":
        return str(Decimal(value).quantize(CENTS))
    if type_name == "datetime":
        return value.astimezone(tz).replace(microsecond=0).isoformat()
    if type_name == "date":
        # A date is midnight UTC of that day shown in the portal's offset (seed example).
        midnight = dt.datetime.combine(value, dt.time(), dt.UTC)
        return midnight.astimezone(tz).isoformat()
    return str(value)


def render_row(row: Mapping[str, Any], types: Mapping[str, str], tz: dt.tzinfo) -> dict[str, Any]:
    return {name: render_value(types[name], value, tz) for name, value in row.items()}
