"""Shared fixtures: every database test runs on SQLite and on PostgreSQL.

PostgreSQL comes from ``RELATECRM_TEST_PG_URL`` (default: the local ``test`` database
with trust auth). Each run creates its own throw-away databases next to it. If the
server cannot be reached the PostgreSQL half is skipped locally, and fails under CI.
"""

from __future__ import annotations

import importlib.util
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import delete, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.accounts import service as accounts
from relatecrm.app import create_app
from relatecrm.config import Settings
from relatecrm.db import create_engine, transaction
from relatecrm.migrate import MIGRATIONS, upgrade

PG_URL = os.environ.get(
    "RELATECRM_TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgresql"]


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(PG_URL), timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _pg_available() -> bool:
    try:
        await _pg_admin("SELECT 1")
    except (OSError, asyncpg.PostgresError):
        return False
    return True


def _require_pg_or_skip(available: bool) -> None:
    if available:
        return
    if os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required under CI but {PG_URL} is unreachable")
    pytest.skip("PostgreSQL is not reachable")


@pytest.fixture(scope="session")
async def pg_available() -> bool:
    return await _pg_available()


async def _new_database(backend: str, directory: Path, pg_ok: bool) -> tuple[str, str | None]:
    """(url, pg database name to drop) of a fresh empty database."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{directory / f'{uuid.uuid4().hex}.db'}", None
    _require_pg_or_skip(pg_ok)
    name = f"relatecrm_test_{uuid.uuid4().hex[:12]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False), name


async def _drop_database(name: str | None) -> None:
    if name:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
async def empty_database_url(
    request: pytest.FixtureRequest, tmp_path: Path, pg_available: bool
) -> AsyncIterator[str]:
    """A URL of a fresh, empty database (no migrations applied)."""
    url, name = await _new_database(request.param, tmp_path, pg_available)
    yield url
    await _drop_database(name)


@pytest.fixture(scope="session", params=BACKENDS)
async def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, pg_available: bool
) -> AsyncIterator[AsyncEngine]:
    """A migrated database shared by the session's tests on one backend."""
    url, name = await _new_database(request.param, tmp_path_factory.mktemp("db"), pg_available)
    eng = create_engine(url)
    await upgrade(eng)
    yield eng
    await eng.dispose()
    await _drop_database(name)


def _seed_migration() -> Any:
    path = next((MIGRATIONS / "versions").glob("*_0002_seed_reference_data.py"))
    spec = importlib.util.spec_from_file_location("seed_reference_data", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SEED = _seed_migration()


async def _reseed_reference_data(conn: Any) -> None:
    """Put funnels, stages, types, sources and currencies back to the migration's seed."""
    from relatecrm.pipelines.models import categories, currencies, statuses

    for table in (statuses, currencies, categories):
        await conn.execute(delete(table))

    def seed(sync_conn: Any) -> None:
        from alembic.migration import MigrationContext
        from alembic.operations import Operations

        with Operations.context(MigrationContext.configure(sync_conn)):
            SEED.upgrade()

    await conn.run_sync(seed)


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The shared database, back to its freshly migrated state before the test."""
    from relatecrm.accounts.models import (
        oauth_apps,
        oauth_codes,
        oauth_tokens,
        role_grants,
        roles,
        user_roles,
        users,
        webhooks,
    )
    from relatecrm.contacts.models import companies, contacts, multifields
    from relatecrm.deals.models import deal_contacts, deals, product_rows
    from relatecrm.events.models import (
        deliveries,
        delivery_attempts,
        event_handlers,
        offline_events,
        outbox,
    )
    from relatecrm.limits.models import operating_usage, rate_buckets
    from relatecrm.pipelines.history import stage_history
    from relatecrm.products.models import products
    from relatecrm.userfields.models import uf_deal_values, uf_files, user_field_enums, user_fields

    async with transaction(engine) as conn:
        for table in (delivery_attempts, deliveries, offline_events,
                      event_handlers, uf_deal_values, user_field_enums, user_fields, uf_files,
                      stage_history, product_rows, deal_contacts, deals, outbox, webhooks,
                      oauth_tokens, oauth_codes, oauth_apps, multifields,
                      contacts, companies, products, rate_buckets, operating_usage,
                      user_roles, role_grants, roles):  # fmt: skip
            await conn.execute(delete(table))
        await conn.execute(delete(users).where(users.c.id != 1))
        await accounts.ensure_admin(conn, now=_now())
        await _reseed_reference_data(conn)
    yield engine


def _now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC)


@dataclass
class RestReply:
    """One HTTP answer of the /rest endpoint."""

    status: int
    body: Any
    headers: httpx.Headers

    @property
    def result(self) -> Any:
        assert self.status == 200, (self.status, self.body)
        return self.body["result"]


class RestClient:
    """Calls Bitrix methods through the real ASGI app, as a webhook of user 1."""

    def __init__(self, client: httpx.AsyncClient, prefix: str) -> None:
        self.http = client
        self.prefix = prefix

    async def call(
        self, method: str, params: Any = None, *, form: str | None = None, get: bool = False
    ) -> RestReply:
        url = f"{self.prefix}{method}"
        if get:
            response = await self.http.get(url + (f"?{form}" if form else ""))
        elif form is not None:
            response = await self.http.post(
                url, content=form, headers={"content-type": "application/x-www-form-urlencoded"}
            )
        else:
            response = await self.http.post(url, json=params if params is not None else {})
        return RestReply(response.status_code, response.json(), response.headers)


@pytest.fixture
async def settings(db: AsyncEngine) -> Settings:
    return Settings(database_url=db.url.render_as_string(hide_password=False))


@pytest.fixture
async def rest(db: AsyncEngine, settings: Settings) -> AsyncIterator[RestClient]:
    app = create_app(settings)
    async with transaction(db) as conn:
        code = await accounts.create_webhook(conn, user_id=1, scopes=["crm"], now=_now())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        yield RestClient(client, f"/rest/1/{code}/")
    await app.state.engine.dispose()


@pytest.fixture
def anyio_backend() -> Iterator[str]:
    yield "asyncio"


async def count_rows(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text(f"SELECT COUNT(*) FROM {table}"))).scalar_one())
