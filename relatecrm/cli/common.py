"""What every ``relatecrm`` subcommand shares: the database option, settings, the clock,
and one transaction on a migrated database."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from relatecrm.config import Settings
from relatecrm.db import create_engine, transaction
from relatecrm.migrate import upgrade

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        envvar="RELATECRM_DATABASE_URL",
        help="SQLAlchemy URL; default sqlite+aiosqlite:///./var/relatecrm.db.",
    ),
]
PublicUrl = Annotated[
    str | None,
    typer.Option(envvar="RELATECRM_PUBLIC_URL", help="Base URL printed in webhook URLs."),
]


def settings_for(
    database_url: str | None, public_url: str | None = None, **extra: object
) -> Settings:
    values = {k: v for k, v in extra.items() if v is not None}
    if database_url:
        values["database_url"] = database_url
    if public_url:
        values["public_url"] = public_url
    return Settings(**values)  # type: ignore[arg-type]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def in_transaction(database_url: str | None, work):  # type: ignore[no-untyped-def]
    engine = create_engine(settings_for(database_url).resolved_database_url())
    try:
        await upgrade(engine)
        async with transaction(engine) as conn:
            return await work(conn)
    finally:
        await engine.dispose()
