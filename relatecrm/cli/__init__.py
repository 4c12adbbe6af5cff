"""The ``relatecrm`` command: serve, worker, migrate, and manage users, roles, webhooks
and OAuth apps. Outgoing webhooks and deliveries (``hook``, ``events``) live in
``cli/events.py``; what all subcommands share in ``cli/common.py``."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Annotated

import typer

from relatecrm.accounts import oauth, permissions
from relatecrm.accounts import service as accounts
from relatecrm.cli.common import DatabaseUrl, PublicUrl, in_transaction, settings_for, utcnow
from relatecrm.cli.events import events_app, hook_app
from relatecrm.config import Settings
from relatecrm.db import create_engine, transaction
from relatecrm.errors import InvalidParameter, NotFound
from relatecrm.migrate import upgrade

app = typer.Typer(help="RelateCRM: a self-hosted CRM deals server speaking the Bitrix24 REST API.")
user_app = typer.Typer(help="Manage users.")
webhook_app = typer.Typer(help="Manage incoming webhooks (/rest/{user}/{code}/).")
app.add_typer(user_app, name="user")
app.add_typer(webhook_app, name="webhook")
oauth_app = typer.Typer(help="Manage OAuth 2.0 applications (/oauth/authorize/, /oauth/token/).")
app.add_typer(oauth_app, name="app")
role_app = typer.Typer(help="Manage roles: what users may do with deals, contacts and companies.")
app.add_typer(role_app, name="role")
app.add_typer(hook_app, name="hook")
app.add_typer(events_app, name="events")


async def _prepare(settings: Settings) -> str | None:
    """Migrate, create user 1 on an empty database; the bootstrap webhook code if created."""
    engine = create_engine(settings.resolved_database_url())
    try:
        await upgrade(engine)
        async with transaction(engine) as conn:
            admin = await accounts.ensure_admin(conn, now=utcnow())
            if admin is None:
                return None
            return await accounts.create_webhook(
                conn, user_id=admin, scopes=["crm"], title="bootstrap", now=utcnow()
            )
    finally:
        await engine.dispose()


def webhook_url(settings: Settings, user_id: int, code: str) -> str:
    return f"{settings.resolved_public_url()}/rest/{user_id}/{code}/"


@app.command()
def serve(
    host: Annotated[str, typer.Option(envvar="RELATECRM_HOST", help="Interface to bind.")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(envvar="RELATECRM_PORT", help="Port to bind.")] = 8000,
    ssl_certfile: Annotated[
        str | None, typer.Option(envvar="RELATECRM_SSL_CERTFILE", help="TLS certificate (PEM).")
    ] = None,
    ssl_keyfile: Annotated[
        str | None, typer.Option(envvar="RELATECRM_SSL_KEYFILE", help="TLS private key (PEM).")
    ] = None,
    workers: Annotated[int, typer.Option(envvar="RELATECRM_WORKERS", help="Server processes.")] = 1,
    database_url: DatabaseUrl = None,
    public_url: PublicUrl = None,
) -> None:
    """Apply migrations, create user 1 on an empty database, and serve."""
    import uvicorn

    settings = settings_for(
        database_url,
        public_url,
        host=host,
        port=port,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
    )
    code = asyncio.run(_prepare(settings))
    if code is not None:
        typer.echo(f"Webhook URL (shown once): {webhook_url(settings, 1, code)}")
    else:
        typer.echo(
            "Webhook codes are stored hashed and cannot be shown again; make a new one with "
            "`relatecrm webhook create --user 1 --scope crm`."
        )
    sys.stdout.flush()
    # Workers are separate processes: they read the same settings from the environment.
    for name, value in settings.model_dump().items():
        if value is not None:
            os.environ[f"RELATECRM_{name.upper()}"] = str(value)
    os.environ["RELATECRM_DATABASE_URL"] = settings.resolved_database_url()
    uvicorn.run(
        "relatecrm.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        access_log=False,  # the access log would print webhook codes, which are secrets
        log_level=settings.log_level,
        proxy_headers=False,
        # An idle keep-alive client must not hold a SIGTERM for uvicorn's 30 s default.
        timeout_graceful_shutdown=5,
    )


@app.command()
def worker(database_url: DatabaseUrl = None, public_url: PublicUrl = None) -> None:
    """Deliver events to their handlers until stopped (SIGTERM or Ctrl-C).

    Run one or more next to `relatecrm serve` on PostgreSQL; on SQLite the server runs
    one itself unless RELATECRM_DELIVERY_IN_SERVE=off. Waits for `serve` or `migrate`
    to bring the schema up to date rather than migrating itself."""
    from relatecrm.app import configure_logging

    settings = settings_for(database_url, public_url)
    configure_logging(settings.log_level)
    asyncio.run(_run_worker(settings))


async def _run_worker(settings: Settings) -> None:
    import signal

    from relatecrm.delivery.worker import Worker, report_status
    from relatecrm.migrate import is_pending

    engine = create_engine(settings.resolved_database_url())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        while await is_pending(engine):
            typer.echo("Waiting for the database schema (run `relatecrm migrate`)...", err=True)
            await asyncio.sleep(1)
        work = [Worker(engine, settings).run(stop)]
        if settings.status_interval > 0:
            work.append(report_status(engine, settings.status_interval, stop))
        await asyncio.gather(*work)
    finally:
        await engine.dispose()


@app.command()
def migrate(database_url: DatabaseUrl = None) -> None:
    """Apply pending migrations."""

    async def run() -> None:
        engine = create_engine(settings_for(database_url).resolved_database_url())
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())
    typer.echo("Database is up to date.")


@user_app.command("create")
def user_create(
    login: Annotated[str, typer.Option(envvar="RELATECRM_USER_LOGIN", help="Unique login.")],
    name: Annotated[str, typer.Option(envvar="RELATECRM_USER_NAME", help="First name.")] = "",
    last_name: Annotated[
        str, typer.Option(envvar="RELATECRM_USER_LAST_NAME", help="Last name.")
    ] = "",
    email: Annotated[str, typer.Option(envvar="RELATECRM_USER_EMAIL", help="E-mail.")] = "",
    admin: Annotated[
        bool, typer.Option(envvar="RELATECRM_USER_ADMIN", help="Make the user an administrator.")
    ] = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a user and print its id."""

    async def work(conn):  # type: ignore[no-untyped-def]
        return await accounts.create_user(
            conn,
            login=login,
            name=name,
            last_name=last_name,
            email=email,
            is_admin=admin,
            now=utcnow(),
        )

    typer.echo(asyncio.run(in_transaction(database_url, work)))


@webhook_app.command("create")
def webhook_create(
    user: Annotated[
        int, typer.Option(envvar="RELATECRM_WEBHOOK_USER", help="The user the webhook acts as.")
    ],
    scope: Annotated[
        list[str],
        typer.Option(envvar="RELATECRM_WEBHOOK_SCOPE", help="Scope to grant; repeat for several."),
    ],
    title: Annotated[
        str, typer.Option(envvar="RELATECRM_WEBHOOK_TITLE", help="A note for the list.")
    ] = "",
    database_url: DatabaseUrl = None,
    public_url: PublicUrl = None,
) -> None:
    """Create a webhook and print its full URL (the only time the code is shown)."""

    async def work(conn):  # type: ignore[no-untyped-def]
        return await accounts.create_webhook(
            conn, user_id=user, scopes=scope, title=title, now=utcnow()
        )

    try:
        code = asyncio.run(in_transaction(database_url, work))
    except NotFound as error:
        typer.echo(error.message, err=True)
        raise typer.Exit(1) from None
    typer.echo(webhook_url(settings_for(database_url, public_url), user, code))


@webhook_app.command("list")
def webhook_list(database_url: DatabaseUrl = None) -> None:
    """List webhooks (their codes cannot be shown: only hashes are stored)."""
    hooks = asyncio.run(in_transaction(database_url, accounts.list_webhooks))
    for hook in hooks:
        state = "revoked" if hook.revoked else "active"
        typer.echo(
            f"{hook.id}\tuser={hook.user_id}\tscopes={','.join(hook.scopes)}\t{state}\t"
            f"{hook.created_at:%Y-%m-%d %H:%M}\t{hook.title}"
        )


@webhook_app.command("revoke")
def webhook_revoke(
    webhook_id: Annotated[int, typer.Argument(help="Id from `webhook list`.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a webhook; calls with its code fail from now on."""

    async def work(conn):  # type: ignore[no-untyped-def]
        await accounts.revoke_webhook(conn, webhook_id, now=utcnow())

    try:
        asyncio.run(in_transaction(database_url, work))
    except NotFound as error:
        typer.echo(error.message, err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Webhook {webhook_id} revoked.")


@oauth_app.command("create")
def app_create(
    title: Annotated[
        str, typer.Option(envvar="RELATECRM_APP_TITLE", help="Shown on the consent page.")
    ],
    scope: Annotated[
        list[str],
        typer.Option(envvar="RELATECRM_APP_SCOPE", help="Scope to grant; repeat for several."),
    ],
    redirect_url: Annotated[
        str,
        typer.Option(
            envvar="RELATECRM_APP_REDIRECT_URL",
            help="Where the consent page sends the browser with the code (the only place).",
        ),
    ],
    database_url: DatabaseUrl = None,
    public_url: PublicUrl = None,
) -> None:
    """Register an app and print its client id and secret (the only time it is shown)."""

    async def work(conn):  # type: ignore[no-untyped-def]
        return await oauth.create_app(
            conn, title=title, scopes=scope, redirect_url=redirect_url, now=utcnow()
        )

    try:
        created, secret = asyncio.run(in_transaction(database_url, work))
    except InvalidParameter as error:
        typer.echo(error.message, err=True)
        raise typer.Exit(1) from None
    base = settings_for(database_url, public_url).resolved_public_url()
    typer.echo(f"Client ID: {created.client_id}")
    typer.echo(f"Client secret (shown once): {secret}")
    typer.echo(f"Authorization URL: {base}/oauth/authorize/?client_id={created.client_id}")


@oauth_app.command("list")
def app_list(database_url: DatabaseUrl = None) -> None:
    """List apps (their secrets cannot be shown: only hashes are stored)."""
    apps = asyncio.run(in_transaction(database_url, oauth.list_apps))
    for item in apps:
        state = "revoked" if item.revoked else "active"
        typer.echo(
            f"{item.id}\t{item.client_id}\tscopes={','.join(item.scopes)}\t{state}\t"
            f"{item.created_at:%Y-%m-%d %H:%M}\t{item.redirect_url}\t{item.title}"
        )


@oauth_app.command("revoke")
def app_revoke(
    app_ref: Annotated[str, typer.Argument(help="Id or client id from `app list`.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke an app: its tokens stop working and it can get no new ones."""

    async def work(conn):  # type: ignore[no-untyped-def]
        return await oauth.revoke_app(conn, app_ref, now=utcnow())

    try:
        revoked = asyncio.run(in_transaction(database_url, work))
    except NotFound as error:
        typer.echo(error.message, err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Application {revoked.client_id} revoked.")


@role_app.command("create")
def role_create(
    name: Annotated[str, typer.Argument(help="Unique role name.")],
    grant: Annotated[
        list[str],
        typer.Option(
            envvar="RELATECRM_ROLE_GRANT",
            help="ENTITY:ACTION:LEVEL, e.g. deal:read:own; entity deal, contact, company or *; "
            "action read, add, update, delete or *; level none, own or all. Repeat; a later "
            "grant overrides an earlier one; what no grant names is none.",
        ),
    ],
    database_url: DatabaseUrl = None,
) -> None:
    """Create a role and print its id. "own": records whose ASSIGNED_BY_ID is the user."""
    try:
        grants = permissions.expand(permissions.parse_grant(text) for text in grant)

        async def work(conn):  # type: ignore[no-untyped-def]
            return await permissions.create_role(conn, name, grants)

        role_id = asyncio.run(in_transaction(database_url, work))
    except InvalidParameter as error:
        typer.echo(error.message, err=True)
        raise typer.Exit(1) from None
    typer.echo(role_id)


@role_app.command("list")
def role_list(database_url: DatabaseUrl = None) -> None:
    """List roles with their grants (pairs not shown are none)."""
    for role in asyncio.run(in_transaction(database_url, permissions.list_roles)):
        grants = " ".join(f"{e}:{a}:{level}" for (e, a), level in sorted(role.grants.items()))
        typer.echo(f"{role.id}\t{role.name}\t{grants}")


@user_app.command("role")
def user_role(
    user_id: Annotated[int, typer.Argument(help="The user's id.")],
    role: Annotated[
        str | None,
        typer.Argument(help="Role name or id; leave out to take the role away (all rights)."),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Give a user a role (administrators keep all rights whatever their role)."""

    async def work(conn):  # type: ignore[no-untyped-def]
        await permissions.assign_role(conn, user_id, role)

    try:
        asyncio.run(in_transaction(database_url, work))
    except NotFound as error:
        typer.echo(error.message, err=True)
        raise typer.Exit(1) from None
    typer.echo(f"User {user_id}: {role or 'no role (all rights)'}.")


def main() -> None:
    app()
