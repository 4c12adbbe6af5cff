"""Reading users: the caller's own record, and filtered pages of users.

Users are created by the CLI (``accounts.service``); the dialects only read them here.
The queryable names are the users table's columns in upper case, which are also the
Bitrix24 user field names; a dialect narrows them to what its caller may see.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, false, not_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.accounts.models import users
from relatecrm.errors import InvalidFilter
from relatecrm.listing import (
    NE,
    NOT_CONTAINS,
    NOT_IN,
    NOT_LIKE,
    Condition,
    ListQuery,
    Queryable,
    fetch_page,
)
from relatecrm.values import Unconvertible, to_flag

NEGATIONS = frozenset({NE, NOT_IN, NOT_CONTAINS, NOT_LIKE})


@dataclass(frozen=True)
class User:
    """One row of the users table."""

    id: int
    login: str
    name: str
    last_name: str
    email: str
    is_admin: bool
    active: bool
    date_register: dt.datetime


@dataclass(frozen=True)
class UserPage:
    """A page of users; ``total`` is None when the caller asked for no count."""

    users: list[User]
    total: int | None
    next: int | None


def _as_list(value: Any) -> list[Any]:
    """A filter value as a list of alternatives (form bodies send lists as maps)."""
    if isinstance(value, dict):
        return list(value.values())
    return value if isinstance(value, list) else [value]


def _flag(name: str, column: ColumnElement[Any]) -> Queryable:
    """A boolean column that clients write as Y/N, true/false or 1/0.

    Any operator but a negation means "is one of these": ``>ACTIVE`` means nothing else.
    """

    def clause(cond: Condition, tz: dt.tzinfo) -> ColumnElement[bool]:
        try:
            wanted = {to_flag(value) == "Y" for value in _as_list(cond.value)}
        except Unconvertible:
            raise InvalidFilter.bad_value(cond.label or name) from None
        matched = column.in_(sorted(wanted)) if wanted else false()
        return not_(matched) if cond.op in NEGATIONS else matched

    return Queryable(name, "char", column, likeable=False, nullable=False, clause=clause,
                     order_column=column)  # fmt: skip


def _text(name: str, column: ColumnElement[Any]) -> Queryable:
    return Queryable(name, "string", column, likeable=True, nullable=False)


FIELDS: dict[str, Queryable] = {
    "ID": Queryable("ID", "integer", users.c.id, likeable=False, nullable=False),
    "LOGIN": _text("LOGIN", users.c.login),
    "ACTIVE": _flag("ACTIVE", users.c.active),
    "NAME": _text("NAME", users.c.name),
    "LAST_NAME": _text("LAST_NAME", users.c.last_name),
    "EMAIL": _text("EMAIL", users.c.email),
    "IS_ADMIN": _flag("IS_ADMIN", users.c.is_admin),
    "DATE_REGISTER": Queryable(
        "DATE_REGISTER", "datetime", users.c.date_register, likeable=False, nullable=False
    ),
}


def _user(values: Mapping[str, Any]) -> User:
    """A user from a row whose keys are the :data:`FIELDS` names."""
    return User(
        id=int(values["ID"]),
        login=values["LOGIN"],
        name=values["NAME"],
        last_name=values["LAST_NAME"],
        email=values["EMAIL"],
        is_admin=bool(values["IS_ADMIN"]),
        active=bool(values["ACTIVE"]),
        date_register=values["DATE_REGISTER"],
    )


async def get_user(conn: AsyncConnection, user_id: int) -> User | None:
    """The user with this id, active or not; None if there is none."""
    columns = (spec.column.label(name) for name, spec in FIELDS.items())
    row = (await conn.execute(select(*columns).where(users.c.id == user_id))).first()
    return None if row is None else _user(dict(row._mapping))


async def list_users(conn: AsyncConnection, query: ListQuery, tz: dt.tzinfo) -> UserPage:
    """One page of 50 users; ``query`` names only :data:`FIELDS` (its ``select`` is ignored).

    The caller has already dropped the names its dialect does not allow, so an unknown
    name here is a bug and fails as an invalid filter or order.
    """
    full = replace(query, select=list(FIELDS))
    page = await fetch_page(conn, users, FIELDS, full, tz)
    return UserPage(users=[_user(row) for row in page.rows], total=page.total, next=page.next)
