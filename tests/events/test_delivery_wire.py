"""What a real worker puts on the wire (reliability.md §5.1 W5, W8, W9, W11).

Every test runs a real in-process worker against the real database (SQLite and
PostgreSQL) and a receiver on 127.0.0.1; changes go through the Bitrix REST API, so the
body is the one the outbox, the fan-out and the worker produce together.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import parse_qsl

import pytest
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncEngine
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from relatecrm.accounts import oauth
from relatecrm.db import transaction
from relatecrm.events import handlers, payload
from relatecrm.events.models import deliveries, delivery_attempts, event_handlers
from relatecrm.events.ssrf import parse_networks
from tests.bitrix.test_events import _new_app
from tests.conftest import RestClient
from tests.delivery import Canary
from tests.events.conftest import LOOPBACK, add_hook, delivery_settings, running_worker
from tests.events.receiver import Received, Receiver, Reply

# The key order of a real Bitrix body (bitrix24-protocol.md §6.2, b24phpsdk's capture).
HEAD = ["event", "event_handler_id", "data[FIELDS][ID]", "ts"]
WEBHOOK_AUTH = ["domain", "server_endpoint", "client_endpoint", "member_id", "application_token"]
APP_AUTH = [
    "access_token", "expires", "expires_in", "scope", "domain", "server_endpoint", "status",
    "client_endpoint", "member_id", "user_id", "application_token",
]  # fmt: skip


async def _until(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.03)


async def _deliveries(db: AsyncEngine) -> Sequence[Row[tuple[object, ...]]]:
    async with db.connect() as conn:
        return (await conn.execute(deliveries.select().order_by(deliveries.c.id))).all()


async def _attempts(db: AsyncEngine) -> Sequence[Row[tuple[object, ...]]]:
    async with db.connect() as conn:
        query = delivery_attempts.select().order_by(delivery_attempts.c.id)
        return (await conn.execute(query)).all()


async def _all_finished(db: AsyncEngine, count: int) -> bool:
    rows = await _deliveries(db)
    return len(rows) == count and all(row.status in ("delivered", "failed") for row in rows)


def _pairs(request: Received) -> list[tuple[str, str]]:
    return parse_qsl(request.body.decode("ascii"), keep_blank_values=True, strict_parsing=True)


async def _deal(rest: RestClient, title: str = "Wire") -> int:
    return int((await rest.call("crm.deal.add", {"fields": {"TITLE": title}})).result)


# --- W5 ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [308, 302])
async def test_w5_redirects_are_not_followed(
    db: AsyncEngine, rest: RestClient, status: int
) -> None:
    """W5: a 3xx to a canary is a failed attempt (outcome redirect, its status); the
    canary sees 0 TCP connections over the whole retry schedule."""
    with Canary() as canary:
        location = f"http://127.0.0.1:{canary.port}/canary"
        script = lambda _r: Reply(status, headers={"Location": location})  # noqa: E731
        async with Receiver(script) as receiver:
            await add_hook(db, receiver.url, ["onCrmDealAdd"])
            await _deal(rest)
            settings = delivery_settings(db, delivery_retry_schedule="0.1")
            async with running_worker(db, settings):
                await _until(lambda: _all_finished(db, 1))
        await asyncio.sleep(0.05)
        assert canary.connections() == 0
    [delivery] = await _deliveries(db)
    attempts = await _attempts(db)
    assert delivery.status == "failed"
    assert [(a.outcome, a.status_code) for a in attempts] == [("redirect", status)] * 2
    assert len(receiver.requests) == 2  # one request per attempt, nothing else
    assert delivery.last_status_code == status


# --- W8 ------------------------------------------------------------------------------


def _flip(body: bytes, at: int) -> bytes:
    return body[:at] + bytes([body[at] ^ 0x01]) + body[at + 1 :]


def _rejected(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(body, headers, json_parse=False)
    except WebhookVerificationError:
        return True
    return False


async def test_w8_every_delivery_verifies_and_every_forgery_fails(
    db: AsyncEngine, rest: RestClient
) -> None:
    """W8: with the handler's stored secret, standardwebhooks accepts 100 % of the real
    POSTs (first tries and retries) and rejects 100 % of a 1-byte flip, ±301 s, a wrong
    secret and another webhook-id. The id is the same on every try of one delivery; the
    timestamp is within ±2 s of each receipt and equals the body's ts."""
    failed_once: set[str] = set()

    def first_try_fails(request: Received) -> Reply:
        msg_id = request.headers["webhook-id"]
        if msg_id in failed_once:
            return Reply(200)
        failed_once.add(msg_id)
        return Reply(500)

    async with Receiver(first_try_fails) as receiver:
        await add_hook(db, receiver.url, ["onCrmDealAdd"])
        await add_hook(db, receiver.url + "?second", ["onCrmDealUpdate"])
        first = await _deal(rest, "one")
        await _deal(rest, "two")
        await rest.call("crm.deal.update", {"id": first, "fields": {"TITLE": "one!"}})
        async with running_worker(db, delivery_settings(db)):
            await _until(lambda: _all_finished(db, 3))
    async with db.connect() as conn:
        rows = await conn.execute(select(event_handlers.c.id, event_handlers.c.secret))
        secrets = {int(row.id): str(row.secret) for row in rows}
    assert len(set(secrets.values())) == 2
    got = receiver.requests
    assert len(got) == 6  # 3 deliveries × (500, then 200)
    by_id: dict[str, list[Received]] = {}
    for request in got:
        by_id.setdefault(request.headers["webhook-id"], []).append(request)
    outbox_handler = {(row.outbox_id, row.handler_id) for row in await _deliveries(db)}
    assert set(by_id) == {f"msg_{o}_{h}" for o, h in outbox_handler}
    assert all(len(tries) == 2 for tries in by_id.values())
    stamps = sorted(int(a.webhook_timestamp) for a in await _attempts(db))
    assert sorted(int(r.headers["webhook-timestamp"]) for r in got) == stamps

    checked = 0
    for request in got:
        fields = dict(_pairs(request))
        handler_id = int(fields["event_handler_id"])
        secret = secrets[handler_id]
        other = next(s for h, s in secrets.items() if h != handler_id)
        headers = {name: request.headers[name] for name in request.headers}
        stamp = int(headers["webhook-timestamp"])
        assert abs(stamp - request.at) <= 2, (stamp, request.at)
        assert fields["ts"] == str(stamp)
        Webhook(secret).verify(request.body, headers, json_parse=False)
        forgeries = [
            (secret, _flip(request.body, 0), headers),
            (secret, _flip(request.body, len(request.body) // 2), headers),
            (secret, _flip(request.body, len(request.body) - 1), headers),
            (secret, request.body, {**headers, "webhook-timestamp": str(stamp + 301)}),
            (secret, request.body, {**headers, "webhook-timestamp": str(stamp - 301)}),
            (other, request.body, headers),
            (secret, request.body, {**headers, "webhook-id": headers["webhook-id"] + "0"}),
            (secret, request.body, {**headers, "webhook-id": "msg_1_1"}),
        ]
        for key, body, forged in forgeries:
            assert _rejected(key, body, forged), forged
            checked += 1
    assert checked == 6 * 8


async def test_w8_a_re_signed_stale_timestamp_is_still_rejected(
    db: AsyncEngine, rest: RestClient
) -> None:
    """W8: ±301 s fails on the clock, not only on the signature: re-signed with the
    right secret, a body stamped 301 s off is refused, 299 s off is accepted."""
    async with Receiver() as receiver:
        [hook] = await add_hook(db, receiver.url, ["onCrmDealAdd"])
        await _deal(rest)
        async with running_worker(db, delivery_settings(db)):
            [request] = await receiver.wait_for(1)
    assert hook.secret is not None
    webhook = Webhook(hook.secret)
    msg_id = request.headers["webhook-id"]
    for offset, refused in ((301, True), (-301, True), (299, False), (-299, False)):
        when = dt.datetime.fromtimestamp(time.time() + offset, dt.UTC)
        signed = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(when.timestamp())),
            "webhook-signature": webhook.sign(msg_id, when, request.body.decode()),
        }
        assert _rejected(hook.secret, request.body, signed) is refused, offset


# --- W9 ------------------------------------------------------------------------------


def _parses_with_b24pysdk(request: Received) -> Any:
    """W9(d): the body as b24pysdk's event parser reads it (raises if it cannot)."""
    from b24pysdk.credentials.oauth_event_data import (  # type: ignore[import-untyped]
        OAuthEventData,
    )

    return OAuthEventData.from_dict(dict(_pairs(request)))


def _check_head(pairs: list[tuple[str, str]], event: str, handler_id: int, deal_id: int) -> None:
    fields = dict(pairs)
    assert fields["event"] == event
    assert fields["event_handler_id"] == str(handler_id)
    assert fields["data[FIELDS][ID]"] == str(deal_id)
    assert fields["ts"].isdigit() and abs(int(fields["ts"]) - time.time()) < 60
    assert len(fields) == len(pairs)  # no key twice
    assert all(isinstance(value, str) and value for value in fields.values())


async def test_w9_outgoing_webhook_body_key_order(db: AsyncEngine, rest: RestClient) -> None:
    """W9(a): an administrator's outgoing webhook gets exactly the §6.2 keys in order,
    auth without tokens, application_token always there; b24pysdk reads it (d)."""
    expected = HEAD + [f"auth[{key}]" for key in WEBHOOK_AUTH]
    assert [key for key in payload.AUTH_ORDER if key in WEBHOOK_AUTH] == WEBHOOK_AUTH
    async with Receiver() as receiver:
        hooks = await add_hook(db, receiver.url, ["onCrmDealAdd", "onCrmDealUpdate"])
        deal_id = await _deal(rest)
        await rest.call("crm.deal.update", {"id": deal_id, "fields": {"TITLE": "again"}})
        async with running_worker(db, delivery_settings(db)):
            got = await receiver.wait_for(2)
    assert len(got) == 2
    by_event = {dict(_pairs(r))["event"]: r for r in got}
    for hook in hooks:
        request = by_event[hook.event]
        pairs = _pairs(request)
        assert [key for key, _ in pairs] == expected
        _check_head(pairs, hook.event, hook.id, deal_id)
        fields = dict(pairs)
        assert fields["auth[application_token]"] == hook.application_token
        assert fields["auth[client_endpoint]"].endswith("/rest/")
        assert fields["auth[member_id]"].isalnum()
        # PHP's encoding: brackets percent-encoded, one line, nothing but key=value pairs.
        assert request.body.startswith(b"event=ONCRMDEAL")
        assert b"data%5BFIELDS%5D%5BID%5D=" in request.body and b"[" not in request.body
        parsed = _parses_with_b24pysdk(request)
        assert parsed.event_handler_id == hook.id and parsed.event == hook.event
        assert parsed.is_system is True  # no token: a webhook, not a user's app call


async def test_w9_app_binding_carries_a_working_token(db: AsyncEngine, rest: RestClient) -> None:
    """W9(b): an OAuth app's binding, change made by user 1: the captured auth order,
    no refresh_token, and the access_token reads the deal through /rest."""
    app = await _new_app(rest, db, ["crm"])
    async with Receiver() as receiver:
        async with transaction(db) as conn:
            registered = await oauth.find_app(conn, app.client_id)
            assert registered is not None
            handler = await handlers.bind(
                conn,
                handlers.Binding(user_id=1, app_id=registered.id),
                event="onCrmDealUpdate",
                handler=receiver.url,
                now=dt.datetime.now(dt.UTC),
                networks=parse_networks(LOOPBACK),
            )
        deal_id = await _deal(rest)
        await rest.call("crm.deal.update", {"id": deal_id, "fields": {"TITLE": "by user 1"}})
        async with running_worker(db, delivery_settings(db)):
            [request] = await receiver.wait_for(1)
    pairs = _pairs(request)
    assert [key for key, _ in pairs] == HEAD + [f"auth[{key}]" for key in APP_AUTH]
    assert [key for key in payload.AUTH_ORDER if key in APP_AUTH] == APP_AUTH
    _check_head(pairs, "ONCRMDEALUPDATE", handler.id, deal_id)
    auth = {key[5:-1]: value for key, value in pairs if key.startswith("auth[")}
    assert "refresh_token" not in auth
    assert auth["user_id"] == "1" and auth["scope"] == "crm" and auth["status"] == "L"
    assert auth["application_token"] == handler.application_token
    expires_in = int(auth["expires_in"])
    assert abs(int(auth["expires"]) - int(dict(pairs)["ts"]) - expires_in) <= 5
    response = await rest.http.post(
        "/rest/crm.deal.get", json={"id": deal_id, "auth": auth["access_token"]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["result"]["ID"] == str(deal_id)
    assert response.json()["result"]["TITLE"] == "by user 1"
    parsed = _parses_with_b24pysdk(request)
    assert parsed.is_system is False
    assert parsed.auth.oauth_token.access_token == auth["access_token"]


async def test_w9_move_to_category_data_order(db: AsyncEngine, rest: RestClient) -> None:
    """W9(c): onCrmDealMoveToCategory carries ID, CATEGORY_ID, STAGE_ID in that order."""
    added = await rest.call(
        "crm.category.add", {"entityTypeId": 2, "fields": {"name": "Second funnel"}}
    )
    category = int(added.result["category"]["id"])
    async with Receiver() as receiver:
        [hook] = await add_hook(db, receiver.url, ["onCrmDealMoveToCategory"])
        deal_id = await _deal(rest)
        moved = await rest.call(
            "crm.item.update",
            {"entityTypeId": 2, "id": deal_id, "fields": {"categoryId": category}},
        )
        assert moved.status == 200, moved.body
        async with running_worker(db, delivery_settings(db)):
            [request] = await receiver.wait_for(1)
    stage = (await rest.call("crm.deal.get", {"id": deal_id})).result["STAGE_ID"]
    assert stage.startswith(f"C{category}:")
    pairs = _pairs(request)
    data = ["data[FIELDS][ID]", "data[FIELDS][CATEGORY_ID]", "data[FIELDS][STAGE_ID]"]
    auth = [f"auth[{key}]" for key in WEBHOOK_AUTH]
    assert [key for key, _ in pairs] == ["event", "event_handler_id", *data, "ts", *auth]
    fields = dict(pairs)
    assert fields["event"] == "ONCRMDEALMOVETOCATEGORY"
    assert fields["event_handler_id"] == str(hook.id)
    assert [fields[key] for key in data] == [str(deal_id), str(category), stage]
    parsed = _parses_with_b24pysdk(request)
    assert parsed.data == {
        "FIELDS": {"ID": str(deal_id), "CATEGORY_ID": str(category), "STAGE_ID": stage}
    }


# --- W11 -----------------------------------------------------------------------------


TEN_MB = {
    "ascii": lambda: b"x" * 10_000_000,
    "multibyte": lambda: "€".encode() * 3_400_000,  # 20,000 bytes end inside a character
    "binary": lambda: b"\x00\xff" * 5_000_000,  # NUL and bytes that are no UTF-8 at all
}


@pytest.mark.parametrize("kind", sorted(TEN_MB))
async def test_w11_a_10_mb_answer_is_stored_bounded(
    db: AsyncEngine, rest: RestClient, kind: str
) -> None:
    """W11: a 10 MB answer: the delivery succeeds and ≤ 20,000 bytes are stored (UTF-8),
    whatever the bytes are (a NUL must not stop PostgreSQL from recording it)."""
    body = TEN_MB[kind]()
    async with Receiver(lambda _r: Reply(200, body=body)) as receiver:
        await add_hook(db, receiver.url, ["onCrmDealAdd"])
        await _deal(rest)
        settings = delivery_settings(db)
        assert settings.delivery_max_response == 20_000
        async with running_worker(db, settings):
            await _until(lambda: _all_finished(db, 1))
    [delivery] = await _deliveries(db)
    [attempt] = await _attempts(db)
    assert delivery.status == "delivered"
    assert (attempt.outcome, attempt.status_code) == ("success", 200)
    stored = str(attempt.response)
    assert 0 < len(stored.encode("utf-8")) <= 20_000
    assert len(receiver.requests) == 1
