"""``relatecrm hook`` (outgoing webhooks) and ``relatecrm events`` (deliveries, attempts,
replays): the operator's side of event delivery (docs/operations.md)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Annotated

import typer

from relatecrm.cli.common import DatabaseUrl, in_transaction, utcnow
from relatecrm.errors import CrmError, NotFound
from relatecrm.events import handlers, operations, signing
from relatecrm.events.ssrf import parse_networks

hook_app = typer.Typer(
    help="Manage outgoing webhooks: URLs that receive RelateCRM events (event_handler_id)."
)
events_app = typer.Typer(
    help="Inspect event deliveries and their attempts; replay events to their handlers."
)


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
                now=utcnow(),
                networks=networks,
                application_token=token,
                secret=secret,
            )
            for name in event
        ]

    try:
        created = asyncio.run(in_transaction(database_url, work))
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

    for row in asyncio.run(in_transaction(database_url, work)):
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
        asyncio.run(in_transaction(database_url, work))
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

        rows = asyncio.run(in_transaction(database_url, work))
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
        rows = asyncio.run(in_transaction(database_url, work))
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
                conn, now=utcnow(), delivery_ids=delivery or (), outbox_id=event_id,
                handler_id=handler, since=start, until=end, status=status, enable=enable,
                max_count=max_count,
            )  # fmt: skip

        done = asyncio.run(in_transaction(database_url, work))
    except CrmError as error:
        typer.echo(error.message, err=True)
        raise typer.Exit(1) from None
    for handler_id in done.enabled:
        typer.echo(f"Handler {handler_id} enabled again.")
    count = len(done.queued)
    typer.echo(f"{count} {'delivery' if count == 1 else 'deliveries'} queued.")
    if done.skipped:
        typer.echo(f"{done.skipped} skipped: already pending or sending.")
