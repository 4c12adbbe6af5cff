"""Bitrix ``filter``/``order``/``select`` parameters parsed into dialect-neutral queries."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from relatecrm.bitrix.params import php_list, resolve
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
    Group,
    ListQuery,
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


MAX_GROUP_DEPTH = 8


def parse_filter(raw: Any, *, upper: bool = True) -> list[Condition | Group]:
    """Conditions, with ``{"logic": "OR", "0": {...}}`` sub-filters as nested groups."""
    group = _parse_group(_as_mapping(raw, "filter"), upper, 0)
    return [group] if group.logic == "OR" else list(group.items)


def _parse_group(raw: dict[str, Any], upper: bool, depth: int) -> Group:
    if depth > MAX_GROUP_DEPTH:
        raise InvalidFilter("Invalid filter: sub-filters are nested too deeply")
    items: list[Condition | Group] = []
    logic = "AND"
    for key, value in raw.items():
        text = str(key).strip()
        if text.upper() == "LOGIC":
            logic = str(value).strip().upper()
            if logic not in ("AND", "OR"):
                raise InvalidFilter("Invalid filter: logic must be AND or OR")
        elif isinstance(value, dict) and (text.isdigit() or text.startswith("__INNER_FILTER")):
            items.append(_parse_group(value, upper, depth + 1))
        else:
            op, name = split_key(text)
            if not name:
                raise InvalidFilter.field_not_allowed(text)
            items.append(Condition(ascii_upper(name) if upper else name, op, value, label=name))
    return Group(items, logic)


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


def list_query(
    params: dict[str, Any], start: int, select: list[str], *, round_start: bool = True
) -> ListQuery:
    """A classic list call's ``filter`` and ``order`` with an already expanded ``select``."""
    return ListQuery(
        select=select,
        conditions=parse_filter(resolve(params, "filter")),
        order=parse_order(resolve(params, "order")),
        start=start,
        round_start=round_start,
    )
