"""The ``relatecrm`` command: serve, migrate, and manage users, roles, webhooks, outgoing
webhooks (event handlers) and OAuth apps."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
from typing import Annotated

import typer

from relatecrm.accounts import oauth, permissions
from relatecrm.accounts import service as accounts
from relatecrm.config import Settings
from relatecrm.db import create_engine, transaction
from relatecrm.errors import CrmError, InvalidParameter, NotFound
from relatecrm.events import handlers, operations, signing
from relatecrm.events.ssrf import parse_networks
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
hook_app = typer.Typer(
    help="Manage outgoing webhooks: URLs that receive RelateCRM events (event_handler_id)."
)
app.add_typer(hook_app, name="hook")
events_app = typer.Typer(
    help="Inspect event deliveries and their attempts; replay events to their handlers."
)
app.add_typer(events_app, name="events")

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


def _settings(database_url: str | None, public_url: str | None = None, **extra: object) -> Settings:
    values = {k: v for k, v in extra.items() if v is not None}
    if database_url:
        values["database_url"] = database_url
    if public_url:
        values["public_url"] = public_url
    return Settings(**values)  # type: ignore[arg-type]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _prepare(settings: Settings) -> str | None:
    """Migrate, create user 1 on an empty database; the bootstrap webhook code if created."""
    engine = create_engine(settings.resolved_database_url())
    try:
        await upgrade(engine)
        async with transaction(engine) as conn:
            admin = await accounts.ensure_admin(conn, now=_now())
            if admin is None:
                return None
            return await accounts.create_webhook(
                conn, user_id=admin, scopes=["crm"], title="bootstrap", now=_now()
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

    settings = _settings(
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

    settings = _settings(database_url, public_url)
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
        engine = create_engine(_settings(database_url).resolved_database_url())
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())
    typer.echo("Database is up to date.")


async def _in_transaction(database_url: str | None, work):  # type: ignore[no-untyped-def]
    engine = create_engine(_settings(database_url).resolved_database_url())
    try:
        await upgrade(engine)
        async with transaction(engine) as conn:
            return await work(conn)
    finally:
        await engine.dispose()


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
            now=_now(),
        )

    typer.echo(asyncio.run(_in_transaction(database_url, work)))


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
            conn, user_id=user, scopes=scope, title=title, now=_now()
        )

    try:
        code = asyncio.run(_in_transaction(database_url, work))
    except NotFound as error:
        typer.echo(error.message, err=True)
        raise typer.Exit(1) from None
    typer.echo(webhook_url(_settings(database_url, public_url), user, code))


@webhook_app.command("list")
def webhook_list(database_url: DatabaseUrl = None) -> None:
    """List webhooks (their codes cannot be shown: only hashes are stored)."""
    hooks = asyncio.run(_in_transaction(database_url, accounts.list_webhooks))
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
        await accounts.revoke_webhook(conn, webhook_id, now=_now())

    try:
        asyncio.run(_in_transaction(database_url, work))
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
            conn, title=title, scopes=scope, redirect_url=redirect_url, now=_now()
        )

    try:
        created, secret = asyncio.run(_in_transaction(database_url, work))
    except InvalidParameter as error:
        typer.echo(error.message, err=True)
        raise typer.Exit(1) from None
    base = _settings(database_url, public_url).resolved_public_url()
    typer.echo(f"Client ID: {created.client_id}")
    typer.echo(f"Client secret (shown once): {secret}")
    typer.echo(f"Authorization URL: {base}/oauth/authorize/?client_id={created.client_id}")


@oauth_app.command("list")
def app_list(database_url: DatabaseUrl = None) -> None:
    """List apps (their secrets cannot be shown: only hashes are stored)."""
    apps = asyncio.run(_in_transaction(database_url, oauth.list_apps))
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
        return await oauth.revoke_app(conn, app_ref, now=_now())

    try:
        revoked = asyncio.run(_in_transaction(database_url, work))
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

        role_id = asyncio.run(_in_transaction(database_url, work))
    except InvalidParameter as error:
        typer.echo(error.message, err=True)
        raise typer.Exit(1) from None
    typer.echo(role_id)


@role_app.command("list")
def role_list(database_url: DatabaseUrl = None) -> None:
    """List roles with their grants (pairs not shown are none)."""
    for role in asyncio.run(_in_transaction(database_url, permissions.list_roles)):
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
        asyncio.run(_in_transaction(database_url, work))
    except NotFound as error:
        typer.echo(error.message, err=True)
        raise typer.Exit(1) from None
    typer.echo(f"User {user_id}: {role or 'no role (all rights)'}.")


@hook_app.command("create")
def hook_create(
    event: Annotated[
        list[str],
        typer.Option(
            envvar="RELATECRM_HOOK_EVENT",
            help="Event name, any case (ONCRMDEALADD); repeat for several.",
        ),
    ],
    url: Annotated[
        str, typer.Option(envvar="RELATECRM_HOOK_URL", help="Handler URL (http or https).")
    ],
    allowed_networks: Annotated[
        str | None,
        typer.Option(
            envvar="RELATECRM_WEBHOOK_ALLOWED_NETWORKS",
            help="Comma-separated CIDRs of internal addresses the URL may resolve to.",
        ),
    ] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Register URL for each event; print the ids, the application_token that every
    POST to the handler carries, and the secret of its webhook-signature header (one of
    each for the whole registration)."""
    try:
        networks = parse_networks(allowed_networks or "")
    except ValueError as error:
        typer.echo(f"Bad --allowed-networks: {error}", err=True)
        raise typer.Exit(1) from None
    token = handlers.new_token()
    secret = signing.new_secret()

    async def work(conn):  # type: ignore[no-untyped-def]
        return [
            await handlers.bind(
                conn,
                handlers.Binding(user_id=None),
                event=name,
                handler=url,
                now=_now(),
                networks=networks,
                application_token=token,
                secret=secret,
            )
            for name in event
        ]

    try:
        created = asyncio.run(_in_transaction(database_url, work))
    except handlers.EventNotFound:
        typer.echo(
            f"Unknown event among {', '.join(event)}; see `relatecrm hook events`.", err=True
        )
        raise typer.Exit(1) from None
    except handlers.HandlerExists:
        typer.echo("This URL is already registered for that event.", err=True)
        raise typer.Exit(1) from None
    except CrmError as error:
        typer.echo(error.message, err=True)
        raise typer.Exit(1) from None
    for row in created:
        typer.echo(f"{row.id}\t{row.event}")
    typer.echo(f"application_token={token}")
    typer.echo(f"signing_secret={secret}")


@hook_app.command("list")
def hook_list(database_url: DatabaseUrl = None) -> None:
    """List outgoing webhooks: id, event, state, application_token, URL."""

    async def work(conn):  # type: ignore[no-untyped-def]
        return await handlers.list_handlers(conn, apps=False)

    for row in asyncio.run(_in_transaction(database_url, work)):
        state = "active" if row.disabled_at is None else f"disabled ({row.disabled_reason})"
        typer.echo(f"{row.id}\t{row.event}\t{state}\t{row.application_token}\t{row.handler}")


@hook_app.command("events")
def hook_events() -> None:
    """List the event names RelateCRM emits."""
    for name in handlers.EVENT_SCOPES:
        typer.echo(name)


@hook_app.command("delete")
def hook_delete(
    hook_id: Annotated[int, typer.Argument(help="Id from `hook list`.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Delete an outgoing webhook; it receives no more events."""

    async def work(conn):  # type: ignore[no-untyped-def]
        await handlers.delete_hook(conn, hook_id)

    try:
        asyncio.run(_in_transaction(database_url, work))
    except NotFound as error:
        typer.echo(error.message, err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Outgoing webhook {hook_id} deleted.")


Since = Annotated[
    str | None,
    typer.Option(
        envvar="RELATECRM_EVENTS_SINCE",
        help="Events recorded at or after this time (ISO 8601; no zone means UTC).",
    ),
]
Until = Annotated[
    str | None,
    typer.Option(
        envvar="RELATECRM_EVENTS_UNTIL",
        help="Events recorded before this time (ISO 8601; no zone means UTC).",
    ),
]
HandlerId = Annotated[
    int | None,
    typer.Option("--handler", envvar="RELATECRM_EVENTS_HANDLER", help="Only this handler id."),
]


def _range(since: str | None, until: str | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """Both bounds parsed before the database is touched; InvalidParameter if unreadable."""
    return (
        None if since is None else operations.parse_time(since, "--since"),
        None if until is None else operations.parse_time(until, "--until"),
    )


@events_app.command("list")
def events_list(
    status: Annotated[
        str | None,
        typer.Option(
            envvar="RELATECRM_EVENTS_STATUS",
            help="pending, sending, delivered, failed or cancelled.",
        ),
    ] = None,
    handler: HandlerId = None,
    event: Annotated[
        str | None,
        typer.Option(envvar="RELATECRM_EVENTS_EVENT", help="Event name, any case."),
    ] = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[
        int, typer.Option(envvar="RELATECRM_EVENTS_LIMIT", help="At most this many lines.")
    ] = operations.DEFAULT_LIMIT,
    database_url: DatabaseUrl = None,
) -> None:
    """List deliveries, newest first: id, outbox id, event, entity, handler, status,
    attempts, next attempt or finish time, last status code or error."""
    try:
        start, end = _range(since, until)

        async def work(conn):  # type: ignore[no-untyped-def]
            return await operations.list_deliveries(
                conn, status=status, handler_id=handler, event=event, since=start, until=end,
                limit=limit,
            )  # fmt: skip

        rows = asyncio.run(_in_transaction(database_url, work))
    except CrmError as error:
        typer.echo(error.message, err=True)
        raise typer.Exit(1) from None
    for row in rows:
        typer.echo(operations.delivery_line(row))


@events_app.command("attempts")
def events_attempts(
    delivery_id: Annotated[int, typer.Argument(help="Id from `events list`.")],
    database_url: DatabaseUrl = None,
) -> None:
    """Every attempt of a delivery: time, duration, outcome, status code, address, error,
    and the first 200 characters of the response."""

    async def work(conn):  # type: ignore[no-untyped-def]
        return await operations.attempts(conn, delivery_id)

    try:
        rows = asyncio.run(_in_transaction(database_url, work))
    except CrmError as error:
        typer.echo(error.message, err=True)
        raise typer.Exit(1) from None
    for row in rows:
        typer.echo(operations.attempt_line(row))


@events_app.command("replay")
def events_replay(
    delivery: Annotated[
        list[int] | None,
        typer.Option(
            envvar="RELATECRM_EVENTS_DELIVERY",
            help="Delivery id from `events list`; repeat for several.",
        ),
    ] = None,
    event_id: Annotated[
        int | None,
        typer.Option(
            envvar="RELATECRM_EVENTS_EVENT_ID",
            help="Outbox id: replay this event to all its handlers (or --handler).",
        ),
    ] = None,
    handler: HandlerId = None,
    since: Since = None,
    until: Until = None,
    status: Annotated[
        str | None,
        typer.Option(
            envvar="RELATECRM_EVENTS_STATUS",
            help="Only events whose last delivery ended so: failed (dead letters), "
            "delivered or cancelled.",
        ),
    ] = None,
    enable: Annotated[
        bool,
        typer.Option(
            envvar="RELATECRM_EVENTS_ENABLE",
            help="Switch disabled handlers back on instead of refusing.",
        ),
    ] = False,
    max_count: Annotated[
        int,
        typer.Option(
            "--max",
            envvar="RELATECRM_EVENTS_MAX",
            help="Refuse if more events than this match.",
        ),
    ] = operations.DEFAULT_MAX_REPLAY,
    database_url: DatabaseUrl = None,
) -> None:
    """Send events again: new deliveries, same webhook-id, new timestamp and signature.
    Past deliveries and attempts stay as they were."""
    try:
        start, end = _range(since, until)

        async def work(conn):  # type: ignore[no-untyped-def]
            return await operations.replay(
                conn, now=_now(), delivery_ids=delivery or (), outbox_id=event_id,
                handler_id=handler, since=start, until=end, status=status, enable=enable,
                max_count=max_count,
            )  # fmt: skip

        done = asyncio.run(_in_transaction(database_url, work))
    except CrmError as error:
        typer.echo(error.message, err=True)
        raise typer.Exit(1) from None
    for handler_id in done.enabled:
        typer.echo(f"Handler {handler_id} enabled again.")
    count = len(done.queued)
    typer.echo(f"{count} {'delivery' if count == 1 else 'deliveries'} queued.")
    if done.skipped:
        typer.echo(f"{done.skipped} skipped: already pending or sending.")


def main() -> None:
    app()
