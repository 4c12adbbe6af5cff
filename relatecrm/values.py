"""Coercion of incoming field values to Python values, driven by a field's type name.

Clients send the same value in many spellings (``"Y"``, ``True``, ``"true"``, ``1``;
``"10000"`` or ``10000``; ``None``, ``"null"`` or ``""`` for "empty"), so the rules are
lenient about spelling and strict about meaning: a value that cannot mean anything of
the field's type raises :class:`Unconvertible` rather than being stored as garbage.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

# Field types that hold integer ids or counts.
INT_TYPES = frozenset(
    {"integer", "user", "crm_category", "crm_company", "crm_contact", "crm_lead", "crm_quote"}
)
TRUE_SPELLINGS = frozenset({"y", "yes", "true", "1", "on"})
FALSE_SPELLINGS = frozenset({"n", "no", "false", "0", "off", ""})
NULL_SPELLINGS = frozenset({"", "null", "none"})
MAX_INT = 2**31 - 1
MAX_MONEY = Decimal("9" * 16)
MAX_STRING = 65535


class Unconvertible(ValueError):
    """The value cannot be read as the field's type."""


def is_null(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip().lower() in NULL_SPELLINGS)


def to_flag(value: Any) -> str:
    """Any boolean spelling to ``"Y"``/``"N"``."""
    if isinstance(value, bool):
        return "Y" if value else "N"
    if value is None:
        return "N"
    if isinstance(value, int | float | str):
        text = str(value).strip().lower()
        if text in TRUE_SPELLINGS:
            return "Y"
        if text in FALSE_SPELLINGS:
            return "N"
    raise Unconvertible(value)


def to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise Unconvertible(value)
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = int(text)
        except ValueError:
            try:
                as_decimal = Decimal(text)
            except InvalidOperation as exc:
                raise Unconvertible(value) from exc
            if not as_decimal.is_finite() or as_decimal != as_decimal.to_integral_value():
                raise Unconvertible(value) from None
            number = int(as_decimal)
    else:
        raise Unconvertible(value)
    if abs(number) > MAX_INT:
        raise Unconvertible(value)
    return number


def to_decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise Unconvertible(value)
    try:
        number = (
            Decimal(str(value).strip().replace(",", "."))
            if isinstance(value, str)
            else (Decimal(str(value)))
        )
    except InvalidOperation as exc:
        raise Unconvertible(value) from exc
    if not number.is_finite() or abs(number) > MAX_MONEY:
        raise Unconvertible(value)
    return number


def to_string(value: Any) -> str:
    if isinstance(value, bool):
        return "Y" if value else "N"
    if isinstance(value, int | float | Decimal | str):
        text = str(value)
        if "\x00" in text or len(text) > MAX_STRING:
            raise Unconvertible(value)
        return text
    raise Unconvertible(value)


def parse_datetime(value: Any, tz: dt.tzinfo) -> dt.datetime:
    """ISO-8601 with an offset, with ``Z``, with a fraction, or a plain date.

    A value without an offset is read in the portal's zone, as Bitrix reads it.
    """
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, dt.date):
        parsed = dt.datetime.combine(value, dt.time())
    elif isinstance(value, str):
        text = value.strip()
        try:
            parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
        except ValueError as exc:
            raise Unconvertible(value) from exc
    else:
        raise Unconvertible(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    try:
        return parsed.astimezone(dt.UTC)
    except (OverflowError, ValueError) as exc:  # e.g. year 9999 at UTC-12
        raise Unconvertible(value) from exc


def parse_date(value: Any) -> dt.date:
    """The date part of a date or datetime, as written (``2024-08-30T23:00+02:00`` is the 30th)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            return dt.date.fromisoformat(text[:10])
        except ValueError as exc:
            raise Unconvertible(value) from exc
    raise Unconvertible(value)


def coerce(type_name: str, value: Any, tz: dt.tzinfo) -> Any:
    """The Python value for a field of ``type_name``; ``None`` for any empty spelling."""
    if type_name == "char":
        return to_flag(value)
    if is_null(value):
        return None
    if type_name in INT_TYPES:
        return to_int(value)
    if type_name == "double":
        return to_decimal(value)
    if type_name == "date":
        return parse_date(value)
    if type_name == "datetime":
        return parse_datetime(value, tz)
    return to_string(value)
