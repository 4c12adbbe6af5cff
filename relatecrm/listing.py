"""List queries as data, and their translation to SQL.

A dialect parses its own filter syntax into :class:`Condition` objects; this module
checks every field name against the entity's allow-list, coerces every value to the
field's type (values are always bound, never spliced) and builds the WHERE and
ORDER BY clauses. Pages are fixed at 50 rows, as on Bitrix24.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    and_,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import UnaryExpression

from relatecrm.errors import InvalidFilter, InvalidOrder
from relatecrm.values import Unconvertible, coerce, is_null

PAGE_SIZE = 50

# Operators a Condition may carry.
EQ, NE, GT, GE, LT, LE = "=", "!=", ">", ">=", "<", "<="
IN, NOT_IN = "in", "not_in"
CONTAINS, NOT_CONTAINS = "contains", "not_contains"
LIKE, NOT_LIKE = "like", "not_like"
OPERATORS = frozenset({EQ, NE, GT, GE, LT, LE, IN, NOT_IN, CONTAINS, NOT_CONTAINS, LIKE, NOT_LIKE})


@dataclass(frozen=True)
class Condition:
    """``field op value``; ``label`` is the name as the client wrote it, for errors."""

    field: str
    op: str
    value: Any
    label: str = ""


@dataclass(frozen=True)
class Group:
    """Conditions joined by AND or OR (``{"logic": "OR", ...}`` sub-filters); groups nest."""

    items: Sequence[Condition | Group]
    logic: str = "AND"


@dataclass(frozen=True)
class ListQuery:
    """What a list call asks for; ``start < 0`` means "no count, no offset"."""

    select: Sequence[str]
    conditions: Sequence[Condition | Group] = ()
    order: Sequence[tuple[str, str]] = ()
    start: int = 0
    # Classic methods round ``start`` down to a page; engine controllers use it exactly.
    round_start: bool = True


@dataclass
class Page:
    """One page of rows and, unless the caller opted out, the total count."""

    rows: list[dict[str, Any]]
    total: int | None
    start: int = 0
    next: int | None = field(default=None)


@dataclass(frozen=True)
class Queryable:
    """How one field is filtered and sorted: its type, its column, whether LIKE applies."""

    name: str
    type: str
    column: ColumnElement[Any]
    likeable: bool
    nullable: bool = True
    # A field kept in another table (a deal's linked contacts, custom field values): builds
    # its own condition, and sorts by ``order_column`` if it has one (else not at all).
    clause: Callable[[Condition, dt.tzinfo], ColumnElement[bool]] | None = None
    order_column: ColumnElement[Any] | None = None


def escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_pattern(text: str) -> str:
    """A Bitrix LIKE pattern: ``%`` is the only wildcard, ``_`` is literal."""
    return text.replace("\\", "\\\\").replace("_", "\\_")


def _coerce_value(spec: Queryable, value: Any, tz: dt.tzinfo, label: str) -> Any:
    if is_null(value) and spec.type != "char":
        return None
    try:
        # Dates compare as dates: a datetime value is read by its date part.
        return coerce(spec.type, value, tz)
    except Unconvertible:
        raise InvalidFilter.bad_value(label) from None


def _values_list(spec: Queryable, value: Any, tz: dt.tzinfo, label: str) -> list[Any]:
    items = list(value.values()) if isinstance(value, dict) else value
    if not isinstance(items, list):
        items = [items]
    if any(isinstance(item, dict | list) for item in items):
        raise InvalidFilter.bad_value(label)
    return [_coerce_value(spec, item, tz, label) for item in items]


def _equals(column: ColumnElement[Any], value: Any) -> ColumnElement[bool]:
    if value is None:
        return column.is_(None)
    matched: ColumnElement[bool] = column == value
    return matched


def _in(column: ColumnElement[Any], values: list[Any]) -> ColumnElement[bool]:
    present = [v for v in values if v is not None]
    clauses: list[ColumnElement[bool]] = []
    if present:
        clauses.append(column.in_(present))
    if len(present) != len(values):
        clauses.append(column.is_(None))
    return or_(*clauses) if clauses else false()


def compile_condition(spec: Queryable, cond: Condition, tz: dt.tzinfo) -> ColumnElement[bool]:
    """One condition as SQL. "Not" operators keep NULLs, as users mean "anything else"."""
    column, op, label = spec.column, cond.op, cond.label or spec.name
    if op in (CONTAINS, NOT_CONTAINS, LIKE, NOT_LIKE) and not spec.likeable:
        op = EQ if op in (CONTAINS, LIKE) else NE
    if op in (EQ, NE) and isinstance(cond.value, list | dict):
        op = IN if op == EQ else NOT_IN
    if op in (IN, NOT_IN):
        matched = _in(column, _values_list(spec, cond.value, tz, label))
        return matched if op == IN else not_(matched)
    if isinstance(cond.value, dict | list):
        raise InvalidFilter.bad_value(label)
    if op in (CONTAINS, NOT_CONTAINS, LIKE, NOT_LIKE):
        text = "" if cond.value is None else str(cond.value)
        if "\x00" in text:
            raise InvalidFilter.bad_value(label)
        pattern = (
            "%" + escape_like(text) + "%" if op in (CONTAINS, NOT_CONTAINS) else like_pattern(text)
        )
        # Both sides fold with the database's lower(): Python folds Σ and İ differently.
        matched = func.lower(column).like(func.lower(literal(pattern)), escape="\\")
        if op in (NOT_CONTAINS, NOT_LIKE):
            return or_(column.is_(None), not_(matched))
        return matched
    value = _coerce_value(spec, cond.value, tz, label)
    if op == EQ:
        return _equals(column, value)
    if op == NE:
        if value is None:
            return column.is_not(None)
        return or_(column.is_(None), column != value)
    if value is None:
        raise InvalidFilter.bad_value(label)
    comparisons: dict[str, Callable[[Any], ColumnElement[bool]]] = {
        GT: column.__gt__,
        GE: column.__ge__,
        LT: column.__lt__,
        LE: column.__le__,
    }
    return comparisons[op](value)


def compile_where(
    fields: Mapping[str, Queryable], conditions: Sequence[Condition | Group], tz: dt.tzinfo
) -> ColumnElement[bool]:
    return _compile_group(fields, Group(conditions), tz)


def _compile_group(
    fields: Mapping[str, Queryable], group: Group, tz: dt.tzinfo
) -> ColumnElement[bool]:
    clauses = []
    for item in group.items:
        if isinstance(item, Group):
            clauses.append(_compile_group(fields, item, tz))
            continue
        spec = fields.get(item.field)
        if spec is None:
            raise InvalidFilter.field_not_allowed(item.label or item.field)
        clauses.append(spec.clause(item, tz) if spec.clause else compile_condition(spec, item, tz))
    if group.logic == "OR":
        return or_(false(), *clauses) if clauses else true()
    return and_(true(), *clauses)


def compile_order(
    fields: Mapping[str, Queryable], order: Sequence[tuple[str, str]], id_field: str
) -> list[UnaryExpression[Any]]:
    """ORDER BY terms with an ID tie-breaker.

    NULLs sort last ascending and first descending on both backends: that is
    PostgreSQL's native index order, so an index still serves the ORDER BY there.
    """
    terms: list[UnaryExpression[Any]] = []
    seen_id = False
    for name, direction in order:
        spec = fields.get(name)
        column = None if spec is None else spec.order_column if spec.clause else spec.column
        if spec is None or column is None:
            raise InvalidOrder.field_not_allowed(name)
        normalized = direction.strip().upper() if isinstance(direction, str) else ""
        if normalized not in ("ASC", "DESC"):
            raise InvalidOrder.bad_direction(name, str(direction))
        seen_id = seen_id or name == id_field
        term = column.asc() if normalized == "ASC" else column.desc()
        if spec.nullable:
            term = term.nulls_last() if normalized == "ASC" else term.nulls_first()
        terms.append(term)
    if not seen_id:
        terms.append(fields[id_field].column.asc())
    return terms


def page_window(start: int, round_start: bool = True) -> tuple[int, bool]:
    """(offset, count?) for a Bitrix ``start``; a negative start skips the count."""
    if start < 0:
        return 0, False
    return ((start // PAGE_SIZE) * PAGE_SIZE if round_start else start), True


async def fetch_page(
    conn: AsyncConnection,
    source: FromClause,
    fields: Mapping[str, Queryable],
    query: ListQuery,
    tz: dt.tzinfo,
    *,
    id_field: str = "ID",
    restrict: ColumnElement[bool] | None = None,
) -> Page:
    """One page of 50 selected fields, counted only when ``start`` asks for it.

    ``restrict`` (the caller's permissions) is ANDed to the filter, so the page and its
    count both see only the rows the caller may read.
    """
    where = compile_where(fields, query.conditions, tz)
    if restrict is not None:
        where = and_(where, restrict)
    order = compile_order(fields, query.order, id_field)
    offset, counted = page_window(query.start, query.round_start)
    names = list(query.select) or [id_field]
    stmt = (
        select(*(fields[name].column.label(name) for name in names))
        .select_from(source)
        .where(where)
        .order_by(*order)
        .limit(PAGE_SIZE)
        .offset(offset)
    )
    rows = [dict(row) for row in (await conn.execute(stmt)).mappings()]
    if not query.select:
        rows = [{} for _ in rows]
    total: int | None = None
    if counted:
        if len(rows) < PAGE_SIZE and (offset == 0 or rows):
            total = offset + len(rows)  # this is the last page: no COUNT needed
        else:
            count = select(func.count()).select_from(source).where(where)
            total = int((await conn.execute(count)).scalar_one())
    return finish_page(rows, offset, total)


def finish_page(rows: list[dict[str, Any]], offset: int, total: int | None) -> Page:
    page = Page(rows=rows, total=total, start=offset)
    if total is not None and offset + PAGE_SIZE < total:
        page.next = offset + PAGE_SIZE
    return page
