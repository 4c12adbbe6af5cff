"""Tokens minted for event POSTs to an application's handler (accounts.oauth.event_grant):
they work like any access token, and leave no long-lived rows behind."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.accounts import oauth
from relatecrm.accounts import service as accounts
from relatecrm.accounts.models import oauth_tokens, users
from relatecrm.db import transaction
from tests.accounts.test_oauth import LIFE, T0, URL, at


async def test_an_event_token_acts_as_the_user_and_expires_with_its_access(
    db: AsyncEngine,
) -> None:
    async with transaction(db) as conn:
        app, _secret = await oauth.create_app(
            conn, title="App", scopes=["crm"], redirect_url=URL, now=T0
        )
        grant = await oauth.event_grant(conn, app.id, user_id=1, now=T0, lifetimes=LIFE)
        assert grant is not None and grant.user_id == 1 and grant.scopes == ("crm",)
        found = await oauth.authenticate_token(conn, grant.access_token, now=at(60))
        assert isinstance(found, oauth.AppPrincipal) and found.user_id == 1
        row = (await conn.execute(select(oauth_tokens))).one()
        assert row.refresh_expires_at == row.access_expires_at == T0 + LIFE.access
        # A day after it expired, the worker's purge removes it.
        await oauth.purge_expired(conn, T0 + LIFE.access + dt.timedelta(days=1, seconds=1))
        assert await conn.scalar(select(func.count()).select_from(oauth_tokens)) == 0


async def test_no_event_token_for_a_revoked_app_or_an_inactive_user(db: AsyncEngine) -> None:
    async with transaction(db) as conn:
        app, _secret = await oauth.create_app(
            conn, title="App", scopes=["crm"], redirect_url=URL, now=T0
        )
        bob = await accounts.create_user(conn, login="bob", now=T0)
        await conn.execute(update(users).where(users.c.id == bob).values(active=False))
        assert await oauth.event_grant(conn, app.id, user_id=bob, now=T0, lifetimes=LIFE) is None
        await oauth.revoke_app(conn, str(app.id), now=T0)
        assert await oauth.event_grant(conn, app.id, user_id=1, now=T0, lifetimes=LIFE) is None
