"""Bitrix ``filter``/``order``/``select`` parameters parsed into dialect-neutral queries."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from relatecrm.bitrix.params import php_list
from relatecrm.errors import InvalidFilter, InvalidParameter
from relatecrm.listing import (
    CONTAINS,
    EQ,
    GE,
    GT,
    IN,
    LE,
    LIKE,
    LT,
    NE,
    NOT_CONTAINS,
    NOT_IN,
    NOT_LIKE,
    Condition,
)

# Longest prefixes first, so that "!@" is not read as "!" + "@FIELD".
PREFIXES: tuple[tuple[str, str], ...] = (
    ("!=%", NOT_LIKE),
    ("!%=", NOT_LIKE),
    ("!@", NOT_IN),
    (">=", GE),
    ("<=", LE),
    ("=%", LIKE),
    ("%=", LIKE),
    ("!=", NE),
    ("!%", NOT_CONTAINS),
    (">", GT),
    ("<", LT),
    ("@", IN),
    ("%", CONTAINS),
    ("=", EQ),
    ("!", NE),
)


def ascii_upper(name: str) -> str:
    """Upper-case ASCII names only: ``"tıtle".upper()`` is ``"TITLE"`` in Python."""
    return name.upper() if name.isascii() else name


def _as_mapping(value: Any, name: str) -> dict[str, Any]:
    """PHP sends an empty array as ``[]``; anything else that is not a map is refused."""
    if value is None or value == [] or value == "":
        return {}
    if isinstance(value, dict):
        return value
    raise InvalidParameter.must_be_array(name)


def split_key(key: str) -> tuple[str, str]:
    """``">=OPPORTUNITY"`` → (``">="``, ``"OPPORTUNITY"``)."""
    for prefix, op in PREFIXES:
        if key.startswith(prefix):
            return op, key[len(prefix) :]
    return EQ, key


def parse_filter(raw: Any, *, upper: bool = True) -> list[Condition]:
    conditions = []
    for key, value in _as_mapping(raw, "filter").items():
        op, name = split_key(str(key).strip())
        if not name:
            raise InvalidFilter.field_not_allowed(str(key))
        conditions.append(Condition(ascii_upper(name) if upper else name, op, value))
    return conditions


def parse_order(raw: Any, *, upper: bool = True) -> list[tuple[str, str]]:
    return [
        (ascii_upper(str(key)) if upper else str(key), value if isinstance(value, str) else "")
        for key, value in _as_mapping(raw, "order").items()
    ]


def parse_select(raw: Any) -> list[str] | None:
    """The requested names, or None for "not given" (the method's default applies)."""
    if raw is None or raw == "" or raw == []:
        return None
    if isinstance(raw, str):
        return [raw]
    items = php_list(raw)
    if items is None:
        items = list(raw.values()) if isinstance(raw, dict) else []
    names = [item for item in items if isinstance(item, str) and item]
    return names or None


def expand_select(
    requested: list[str] | None,
    star: Iterable[str],
    uf_star: Iterable[str],
    known: Iterable[str],
    output_order: Iterable[str],
) -> list[str]:
    """Masks expanded, unknown names dropped, in the entity's canonical output order."""
    wanted = ["*", "UF_*"] if requested is None else [ascii_upper(name) for name in requested]
    allowed = set(known)
    chosen: set[str] = set()
    for name in wanted:
        if name == "*":
            chosen.update(star)
        elif name == "UF_*":
            chosen.update(uf_star)
        elif name in allowed:
            chosen.add(name)
    return [name for name in output_order if name in chosen]
