"""The outbox (every change's event, in the change's own transaction) and the handlers
subscribed to events: ``event.bind`` bindings of OAuth applications and outgoing webhooks
registered by an administrator (``relatecrm hook create``)."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text

from relatecrm.db import UtcDateTime, metadata

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event", String(100), nullable=False),
    Column("entity_type", String(50), nullable=False),
    Column("entity_id", Integer, nullable=False),
    Column("payload", JSON, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    # Who made the change: an application's handler is authorised as this user (§6.2).
    Column("user_id", Integer, nullable=True),
    Index("ix_outbox_entity", "entity_type", "entity_id"),
    Index("ix_outbox_created_at", "created_at"),  # replays and listings by time range
    sqlite_autoincrement=True,
)

# One row per binding; its id is the ``event_handler_id`` of every POST (spec §6.2).
# ``app_id`` null: an outgoing webhook from the CLI. ``auth_type`` null: act as the user who
# made the change. The worker skips rows with ``disabled_at``.
event_handlers = Table(
    "event_handlers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event", String(100), nullable=False),  # upper case: ONCRMDEALADD
    Column("handler", String(2000), nullable=False),
    Column("event_type", String(10), nullable=False),  # online | offline
    Column("auth_type", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    # Who bound it: the user, and the OAuth app or webhook the call came through.
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=True),
    Column("app_id", Integer, ForeignKey("oauth_apps.id", ondelete="CASCADE"), nullable=True),
    Column("webhook_id", Integer, ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=True),
    # Sent as auth[application_token] so the handler can tell our POSTs from forgeries.
    Column("application_token", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("disabled_at", UtcDateTime, nullable=True),
    Column("disabled_reason", String(255), nullable=True),
    # Standard Webhooks signing secret (``whsec_...``) of this handler's deliveries.
    Column("secret", String(100), nullable=True),
    # First failed attempt since the last success; long enough ago, the worker disables.
    Column("failing_since", UtcDateTime, nullable=True),
    Index("ix_event_handlers_event", "event"),
    Index("ix_event_handlers_app_id", "app_id"),
    sqlite_autoincrement=True,
)

# One row per (outbox event, online handler), written with the event in the change's own
# transaction. ``lane`` (handler URL digest + "deal:7") orders deliveries per receiver and
# object: only the lowest unfinished id of a lane (of an enabled handler) is ever sent, so
# a URL bound to both onCrmDealAdd and onCrmDealUpdate gets a deal's add first.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("outbox_id", Integer, ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False),
    Column(
        "handler_id", Integer, ForeignKey("event_handlers.id", ondelete="CASCADE"), nullable=False
    ),
    Column("entity_key", String(80), nullable=False),
    Column("lane", String(100), nullable=False),
    # pending | sending | delivered | failed | cancelled
    Column("status", String(12), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    # A claimed delivery whose lease ran out belongs to a dead worker (kill -9).
    Column("lease_until", UtcDateTime, nullable=True),
    Column("claimed_by", String(64), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("last_status_code", Integer, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("replay_of", Integer, nullable=True),
    Index("ix_deliveries_due", "status", "next_attempt_at"),
    Index("ix_deliveries_order", "lane", "id"),
    Index("ix_deliveries_outbox_id", "outbox_id"),
    sqlite_autoincrement=True,
)

# Every HTTP try of a delivery: what was sent when, and what came back (truncated).
delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("delivery_id", Integer, ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    # success | http_error | redirect | timeout | network | blocked | gone
    Column("outcome", String(20), nullable=False),
    Column("status_code", Integer, nullable=True),
    Column("error", String(500), nullable=True),
    Column("response", Text, nullable=True),
    Column("webhook_timestamp", BigInteger, nullable=False),
    Column("address", String(64), nullable=True),
    Index("ix_delivery_attempts_delivery_id", "delivery_id"),
    sqlite_autoincrement=True,
)

# Bitrix's offline queue (spec §6.1): an app with an ``event_type=offline`` binding pulls
# these with ``event.offline.get``. One unreserved row per (app, MESSAGE_ID): a newer
# change of the same object replaces its data ("latest state per object").
offline_events = Table(
    "offline_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("app_id", Integer, ForeignKey("oauth_apps.id", ondelete="CASCADE"), nullable=False),
    Column("handler_id", Integer, nullable=True),
    Column("event_name", String(100), nullable=False),
    Column("event_data", JSON, nullable=False),
    Column("event_additional", JSON, nullable=False),
    Column("message_id", String(64), nullable=False),
    Column("timestamp_x", UtcDateTime, nullable=False),
    Column("process_id", String(64), nullable=True),
    Column("reserved_at", UtcDateTime, nullable=True),
    Column("error", Integer, nullable=False, default=0),
    Index("ix_offline_events_message", "app_id", "message_id", "process_id"),
    Index("ix_offline_events_process", "app_id", "process_id"),
    sqlite_autoincrement=True,
)
