"""Users and incoming webhooks.

A webhook code is a random secret shown once; only its SHA-256 is stored, and a
presented code is compared with ``hmac.compare_digest`` so timing says nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.accounts.models import users, webhooks
from relatecrm.errors import NotFound


@dataclass(frozen=True)
class Principal:
    """Who is calling, and with which scopes."""

    user_id: int
    scopes: frozenset[str]
    is_admin: bool


@dataclass(frozen=True)
class WebhookInfo:
    """A webhook as listed to an administrator (never with its code)."""

    id: int
    user_id: int
    scopes: tuple[str, ...]
    title: str
    created_at: dt.datetime
    revoked: bool


def hash_code(code: str) -> str:
    return hashlib.sha256(code.encode("utf-8")).hexdigest()


async def create_user(
    conn: AsyncConnection,
    *,
    login: str,
    now: dt.datetime,
    name: str = "",
    last_name: str = "",
    email: str = "",
    is_admin: bool = False,
) -> int:
    result = await conn.execute(
        insert(users)
        .values(
            login=login,
            name=name,
            last_name=last_name,
            email=email,
            is_admin=is_admin,
            active=True,
            date_register=now,
        )
        .returning(users.c.id)
    )
    return int(result.scalar_one())


async def ensure_admin(conn: AsyncConnection, *, now: dt.datetime) -> int | None:
    """Create user 1, an administrator, when there are no users yet; its id, or None."""
    count = (await conn.execute(select(func.count()).select_from(users))).scalar_one()
    if count:
        return None
    return await create_user(conn, login="admin", name="Administrator", is_admin=True, now=now)


async def user_exists(conn: AsyncConnection, user_id: int) -> bool:
    row = await conn.execute(select(users.c.id).where(users.c.id == user_id, users.c.active))
    return row.first() is not None


async def create_webhook(
    conn: AsyncConnection,
    *,
    user_id: int,
    scopes: Sequence[str],
    now: dt.datetime,
    title: str = "",
) -> str:
    """Store a new webhook for ``user_id`` and return its code (shown only this once)."""
    if not await user_exists(conn, user_id):
        raise NotFound(f"User {user_id} not found.")
    code = secrets.token_hex(8)
    await conn.execute(
        insert(webhooks).values(
            user_id=user_id,
            code_hash=hash_code(code),
            scopes=",".join(sorted({s.strip().lower() for s in scopes if s.strip()})),
            title=title,
            created_at=now,
        )
    )
    return code


async def authenticate_webhook(conn: AsyncConnection, user_ref: str, code: str) -> Principal | None:
    """The principal for ``/rest/{user_ref}/{code}/``, or None if they do not match."""
    if "\x00" in user_ref or len(user_ref) > 255:
        return None
    if user_ref.isascii() and user_ref.isdigit():
        if len(user_ref) > 10 or int(user_ref) > 2**31 - 1:
            return None
        user_filter = users.c.id == int(user_ref)
    else:
        user_filter = users.c.login == user_ref
    rows = await conn.execute(
        select(webhooks.c.code_hash, webhooks.c.scopes, users.c.id, users.c.is_admin)
        .join(users, users.c.id == webhooks.c.user_id)
        .where(user_filter, users.c.active, webhooks.c.revoked_at.is_(None))
    )
    presented = hash_code(code)
    match: Principal | None = None
    for row in rows:
        # Compare every candidate so the time taken does not depend on which matched.
        if hmac.compare_digest(presented, row.code_hash):
            match = Principal(
                user_id=int(row.id),
                scopes=frozenset(filter(None, row.scopes.split(","))),
                is_admin=bool(row.is_admin),
            )
    return match


async def list_webhooks(conn: AsyncConnection) -> list[WebhookInfo]:
    rows = await conn.execute(select(webhooks).order_by(webhooks.c.id))
    return [
        WebhookInfo(
            id=row.id,
            user_id=row.user_id,
            scopes=tuple(filter(None, row.scopes.split(","))),
            title=row.title,
            created_at=row.created_at,
            revoked=row.revoked_at is not None,
        )
        for row in rows
    ]


async def revoke_webhook(conn: AsyncConnection, webhook_id: int, *, now: dt.datetime) -> None:
    result = await conn.execute(
        update(webhooks)
        .where(webhooks.c.id == webhook_id, webhooks.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    if not result.rowcount:
        raise NotFound(f"Webhook {webhook_id} not found or already revoked.")
