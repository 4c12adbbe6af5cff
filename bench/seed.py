"""Fill the deals table fast, with data shaped like a real funnel.

The statement is SQLAlchemy Core ``insert(deals)``, compiled once for the
connection's dialect, and run as one executemany per chunk with parameter tuples
that are already in the driver's form (cents as integers, naive UTC timestamps,
SQLite's text dates via SQLAlchemy's own SQLite formatters). Letting SQLAlchemy
convert every value per row cost ~70% of the load time; the table, columns and
storage formats are the same either way.

The spread matters more than the volume: filters and ORDER BY only exercise the
indexes honestly if stages, owners, amounts and dates are distributed the way a
two-year-old CRM's are.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

from sqlalchemy import bindparam, insert, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect

from bench.progress import Progress
from relatecrm.accounts import service as accounts
from relatecrm.contacts.models import companies
from relatecrm.db import create_engine, is_sqlite, transaction
from relatecrm.deals.models import deals

# Funnel 0 as seeded by the migrations: (STATUS_ID, semantics, share of deals).
STAGES = [
    ("NEW", "P", 0.15),
    ("PREPARATION", "P", 0.12),
    ("PREPAYMENT_INVOICE", "P", 0.10),
    ("EXECUTING", "P", 0.13),
    ("FINAL_INVOICE", "P", 0.08),
    ("WON", "S", 0.20),
    ("LOSE", "F", 0.17),
    ("APOLOGY", "F", 0.05),
]
USERS = 50
TYPES = ["SALE", "COMPLEX", "GOODS", "SERVICES", "SERVICE"]
SOURCES = ["CALL", "EMAIL", "WEB", "ADVERTISING", "PARTNER", "RECOMMENDATION", "WEBFORM"]
CURRENCIES = (["USD", "EUR", "GBP"], [0.80, 0.15, 0.05])
COMPANIES = [
    "Northwind Traders", "Contoso", "Fabrikam", "Adventure Works", "Tailspin Toys",
    "Wide World Importers", "Litware", "Proseware", "Woodgrove Bank", "Coho Winery",
    "Alpine Ski House", "Blue Yonder Airlines", "Fourth Coffee", "Lamna Healthcare",
    "Margie's Travel", "Trey Research", "Wingtip Toys", "Relecloud", "VanArsdel",
    "Humongous Insurance",
]  # fmt: skip
PRODUCTS = [
    "Annual licence", "Support renewal", "Onboarding", "Hardware refresh", "Consulting",
    "Pilot project", "Training", "Upsell: extra seats", "Integration", "Audit",
]  # fmt: skip
SPAN = dt.timedelta(days=730)
CLIENT_COMPANIES = 20_000  # companies 1..N, which 70% of the deals name


# Table order, which is the order SQLAlchemy compiles the INSERT's columns in.
COLUMNS = [
    "title", "type_id", "stage_id", "probability", "currency_id", "opportunity", "company_id",
    "begindate", "closedate", "assigned_by_id", "created_by_id", "modify_by_id", "date_create",
    "date_modify", "opened", "closed", "comments", "category_id", "stage_semantic_id", "is_new",
    "source_id", "moved_by_id", "moved_time", "last_activity_time", "last_activity_by",
]  # fmt: skip


def _identity(value: Any) -> Any:
    return value


def _converters(dialect: Dialect) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """(date, datetime) to driver form: SQLite stores text, asyncpg takes the objects."""
    if dialect.name != "sqlite":
        return _identity, _identity
    date = sqlite.DATE().bind_processor(dialect)  # type: ignore[no-untyped-call]
    stamp = sqlite.DATETIME().bind_processor(dialect)  # type: ignore[no-untyped-call]
    assert date is not None and stamp is not None
    return date, stamp


def deal_rows(
    count: int, rng: random.Random, now: dt.datetime, dialect: Dialect, chunk: int
) -> Iterator[list[tuple[Any, ...]]]:
    """Chunks of deal rows in ``COLUMNS`` order: funnel shares, skewed owners, log-normal money."""
    date, stamp = _converters(dialect)
    naive_now = now.astimezone(dt.UTC).replace(tzinfo=None)
    stages = [(code, sem) for code, sem, _ in STAGES]
    stage_weights = [share for *_, share in STAGES]
    owners = list(range(1, USERS + 1))
    owner_weights = [1 / (rank**0.7) for rank in owners]  # a few people own most deals
    span = SPAN.total_seconds()
    number = 0
    while number < count:
        size = min(chunk, count - number)
        picked = rng.choices(stages, stage_weights, k=size)
        owned = rng.choices(owners, owner_weights, k=size)
        money = rng.choices(*CURRENCIES, k=size)
        rows = []
        for (stage, semantics), owner, currency in zip(picked, owned, money, strict=True):
            number += 1
            age = span * rng.random()
            created = naive_now - dt.timedelta(seconds=age)
            modified = created + dt.timedelta(seconds=age * rng.random() * rng.random())
            amount = 0 if rng.random() < 0.05 else int(min(rng.lognormvariate(8.5, 1.2), 5e6) * 100)
            begin = created.date()
            touched = stamp(modified)
            rows.append(
                (
                    f"{rng.choice(COMPANIES)} - {rng.choice(PRODUCTS)} #{number}",
                    rng.choice(TYPES),
                    stage,
                    None if rng.random() < 0.7 else rng.randrange(0, 101, 10),  # probability
                    currency,
                    amount,  # opportunity, in cents as Money stores it
                    None if rng.random() < 0.3 else rng.randint(1, CLIENT_COMPANIES),
                    date(begin),
                    date(begin + dt.timedelta(days=rng.randint(7, 90))),  # closedate
                    owner,  # assigned_by_id
                    rng.choice(owners),  # created_by_id
                    owner,  # modify_by_id
                    stamp(created),
                    touched,  # date_modify
                    "Y",  # opened
                    "N" if semantics == "P" else "Y",  # closed
                    None if rng.random() < 0.8 else "Called, sent the proposal.",
                    0,  # category_id
                    semantics,
                    "Y" if stage == "NEW" else "N",  # is_new
                    rng.choice(SOURCES),
                    owner,  # moved_by_id
                    touched,  # moved_time
                    touched,  # last_activity_time
                    owner,  # last_activity_by
                )
            )
        yield rows


def insert_statement(dialect: Dialect) -> str:
    """``insert(deals)`` over ``COLUMNS`` as the driver sees it (no RETURNING: executemany)."""
    stmt = insert(deals).values({name: bindparam(name) for name in COLUMNS})
    compiled = stmt.compile(dialect=dialect, for_executemany=True)
    assert list(compiled.positiontup or []) == COLUMNS, compiled.positiontup
    return compiled.string


async def _add_users(url: str, now: dt.datetime) -> None:
    """Users 2..50 so that ASSIGNED_BY_ID values name real, active users; and the
    ``CLIENT_COMPANIES`` companies that COMPANY_ID values name (deals have a foreign key
    to companies since migration 0006)."""
    engine = create_engine(url)
    try:
        async with transaction(engine) as conn:
            for number in range(2, USERS + 1):
                await accounts.create_user(
                    conn, login=f"manager{number}", name=f"Manager {number}", now=now
                )
            rows = [
                {"title": f"{COMPANIES[n % len(COMPANIES)]} #{n}", "assigned_by_id": 1,
                 "created_by_id": 1, "modify_by_id": 1, "date_create": now, "date_modify": now}
                for n in range(1, CLIENT_COMPANIES + 1)
            ]  # fmt: skip
            await conn.execute(insert(companies), rows)
    finally:
        await engine.dispose()


async def fill(url: str, count: int, *, seed: int, chunk: int, plain: bool) -> float:
    """Insert users and ``count`` deals; returns the seconds spent (incl. ANALYZE)."""
    started = time.perf_counter()
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    await _add_users(url, now)
    engine = create_engine(url)
    sql = insert_statement(engine.dialect)
    try:
        with Progress("inserting deals", count, plain=plain) as progress:
            for batch in deal_rows(count, random.Random(seed), now, engine.dialect, chunk):
                async with transaction(engine) as conn:
                    await conn.exec_driver_sql(sql, batch)
                progress.advance(len(batch))
        await _after_load(engine)
    finally:
        await engine.dispose()
    return time.perf_counter() - started


async def _after_load(engine: Any) -> None:
    """Leave the database as a long-running server would find it.

    PostgreSQL: VACUUM ANALYZE, which autovacuum would have done by itself after a
    bulk load. SQLite: only a WAL checkpoint; no ANALYZE, because the server never
    runs one, so the planner works without sqlite_stat1 as it would in production.
    """
    if is_sqlite(engine):
        async with engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    async with autocommit.connect() as conn:
        await conn.execute(text("VACUUM ANALYZE"))
