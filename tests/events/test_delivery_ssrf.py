"""The SSRF guard end to end (reliability.md §5.2 X1, X2, X3): at registration and at
delivery, with a real worker, the real database and canary sockets on 127.0.0.1.

A canary is a listening socket nobody should reach; its backlog counts every TCP
connect (``tests.delivery.Canary``). Host names other than ``localhost`` never reach a
real resolver: ``FakeDns`` answers for them. X2 needs 127.0.0.2, which Linux routes to
loopback without any configuration.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import httpx
import pytest
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from relatecrm.app import create_app
from relatecrm.cli import app as cli
from relatecrm.config import Settings
from relatecrm.db import transaction
from relatecrm.events import handlers
from relatecrm.events.models import deliveries, delivery_attempts, event_handlers
from tests.bitrix.test_events import App, _new_app
from tests.conftest import RestClient, count_rows
from tests.delivery import Canary, FakeDns
from tests.events.conftest import add_hook, delivery_settings, running_worker
from tests.events.receiver import Receiver, Reply

# Everything loopback and unspecified may resolve to, for storing a handler "while allowed".
EVERY_LOOPBACK = "127.0.0.0/8,0.0.0.0/32,::1/128,::/128"


def hostile_urls(port: int) -> list[str]:
    """X1's forms; those that could reach this machine point at the canary's port."""
    p = port
    return [
        f"http://127.0.0.1:{p}/hook",
        f"https://127.0.0.1:{p}/hook",
        f"http://127.1:{p}/",
        f"http://127.0.1:{p}/",
        f"http://2130706433:{p}/",
        f"http://0177.0.0.1:{p}/",
        f"http://0x7f.1:{p}/",
        f"http://0x7f000001:{p}/",
        f"http://017700000001:{p}/",
        f"http://127.000.000.001:{p}/",
        f"http://localhost:{p}/",
        f"http://LocalHost:{p}/",
        f"http://[::1]:{p}/",
        f"http://[::ffff:127.0.0.1]:{p}/",
        f"http://[::ffff:7f00:1]:{p}/",
        f"http://[0:0:0:0:0:ffff:127.0.0.1]:{p}/",
        f"http://[2002:7f00:1::]:{p}/",  # 6to4 of 127.0.0.1
        f"http://[64:ff9b::7f00:1]:{p}/",  # NAT64 of 127.0.0.1
        f"http://0.0.0.0:{p}/",  # connect() to 0.0.0.0 reaches loopback on Linux
        f"http://0:{p}/",
        f"http://[::]:{p}/",
        "http://10.0.0.1/",
        "http://10.255.255.254:8080/",
        "http://172.16.0.1/",
        "http://172.31.255.254/",
        "http://192.168.0.1/",
        "http://192.168.255.255:8443/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/",
        "http://100.64.0.1/",
        "http://100.127.255.254/",
        "http://[fc00::1]/",
        "http://[fd12:3456::1]/",
        "http://198.18.0.1/",
        "http://198.19.255.254/",
        "http://240.0.0.1/",
        "http://255.255.255.255/",
        "http://224.0.0.1/",
        "http://192.0.0.8/",
        "http://[::ffff:10.0.0.1]/",
        "http://[::ffff:169.254.169.254]/",
        # userinfo tricks: the part before @ is not the host
        f"http://a@127.0.0.1:{p}/",
        f"http://93.184.215.14@127.0.0.1:{p}/",
        f"http://93.184.215.14:80@127.0.0.1:{p}/",
        "http://user:pass@93.184.215.14/",
        f"http://127.0.0.1:{p}\\@93.184.215.14/",
        # not http(s)
        "file:///etc/passwd",
        f"gopher://127.0.0.1:{p}/_POST%20/",
        f"ftp://127.0.0.1:{p}/",
        f"dict://127.0.0.1:{p}/",
        "javascript:alert(1)",
        f"//127.0.0.1:{p}/",
        # control characters that would split a request
        f"http://127.0.0.1:{p}/\r\nHost: x",
    ]


async def _until(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.03)


async def _rows(db: AsyncEngine, table: object) -> Sequence[Row[tuple[object, ...]]]:
    async with db.connect() as conn:
        query = table.select().order_by(table.c.id)  # type: ignore[attr-defined]
        return (await conn.execute(query)).all()


async def _all_finished(db: AsyncEngine, count: int) -> bool:
    rows = await _rows(db, deliveries)
    return len(rows) == count and all(row.status in ("delivered", "failed") for row in rows)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
async def loopback_app_rest(
    db: AsyncEngine, rest: RestClient
) -> AsyncIterator[Callable[[App], App]]:
    """The same OAuth app, called through a server whose allow-list is 127.0.0.1/32."""
    settings = Settings(
        database_url=db.url.render_as_string(hide_password=False),
        webhook_allowed_networks="127.0.0.1/32",
    )
    server = create_app(settings)
    transport = httpx.ASGITransport(app=server)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        other = RestClient(client, rest.prefix)

        def through(app: App) -> App:
            moved = App(other, db, app.client_id, app.secret)
            moved.tokens = app.tokens
            return moved

        yield through
    await server.state.engine.dispose()


# --- X1 ------------------------------------------------------------------------------


async def test_x1_event_bind_refuses_every_internal_form(db: AsyncEngine, rest: RestClient) -> None:
    """X1: event.bind through an OAuth app, default settings (no allow-list): 100 % of
    the forms get 400 ERROR_WRONG_HANDLER_URL, nothing is stored, the canary sees 0."""
    app = await _new_app(rest, db, ["crm"])
    with Canary() as canary:
        urls = hostile_urls(canary.port)
        assert len(urls) >= 30
        wrong = []
        for url in urls:
            reply = await app.call("event.bind", {"event": "onCrmDealAdd", "handler": url})
            answer = (reply.status, reply.body.get("error"))
            description = str(reply.body.get("error_description"))
            if answer != (400, "ERROR_WRONG_HANDLER_URL") or "handler URL" not in description:
                wrong.append((url, reply.status, reply.body))
        assert wrong == []
        assert canary.connections() == 0
    assert await count_rows(db, "event_handlers") == 0


async def test_x1_outgoing_webhook_registration_refuses_every_internal_form(
    db: AsyncEngine,
) -> None:
    """X1: handlers.bind as `relatecrm hook create` calls it, no --allowed-networks:
    100 % refused with WrongHandlerUrl; the real CLI for a few of them exits 1."""
    with Canary() as canary:
        urls = hostile_urls(canary.port)
        accepted = []
        for url in urls:
            try:
                async with transaction(db) as conn:
                    await handlers.bind(
                        conn, handlers.Binding(user_id=None), event="onCrmDealAdd",
                        handler=url, now=_now(), networks=(), application_token="t" * 32,
                    )  # fmt: skip
            except handlers.WrongHandlerUrl:
                continue
            accepted.append(url)
        assert accepted == []
        database_url = db.url.render_as_string(hide_password=False)
        no_allow_list: dict[str, str | None] = {"RELATECRM_WEBHOOK_ALLOWED_NETWORKS": None}
        for url in (urls[0], f"http://0x7f.1:{canary.port}/", f"http://a@127.0.0.1:{canary.port}/"):
            args = ["hook", "create", "--event", "onCrmDealAdd", "--url", url]
            result = await asyncio.to_thread(
                CliRunner().invoke, cli, [*args, "--database-url", database_url], env=no_allow_list
            )
            assert result.exit_code == 1, (url, result.output)
            assert "Wrong handler URL" in result.output
        assert canary.connections() == 0
    assert await count_rows(db, "event_handlers") == 0


async def test_x1_an_allowed_loopback_url_is_accepted_and_delivered(
    db: AsyncEngine, rest: RestClient, loopback_app_rest: Callable[[App], App]
) -> None:
    """X1: with webhook_allowed_networks 127.0.0.1/32, event.bind and the CLI path
    accept http://127.0.0.1:port/ and the worker delivers to both; 127.0.0.2 and [::1],
    loopback too but outside the /32, stay refused."""
    app = loopback_app_rest(await _new_app(rest, db, ["crm"]))
    async with Receiver() as receiver:
        bound = await app.call("event.bind", {"event": "onCrmDealAdd", "handler": receiver.url})
        assert bound.status == 200 and bound.body["result"] is True, bound.body
        for refused in (f"http://127.0.0.2:{receiver.port}/", f"http://[::1]:{receiver.port}/"):
            reply = await app.call("event.bind", {"event": "onCrmDealAdd", "handler": refused})
            assert (reply.status, reply.body["error"]) == (400, "ERROR_WRONG_HANDLER_URL")
        [hook] = await add_hook(db, receiver.url + "?cli", ["onCrmDealAdd"], "127.0.0.1/32")
        await rest.call("crm.deal.add", {"fields": {"TITLE": "allowed"}})
        settings = delivery_settings(db, webhook_allowed_networks="127.0.0.1/32")
        async with running_worker(db, settings):
            got = await receiver.wait_for(2)
    assert sorted(r.path for r in got) == ["/hook", "/hook?cli"]
    assert [a.outcome for a in await _rows(db, delivery_attempts)] == ["success"] * 2
    assert hook.id in {int(r.id) for r in await _rows(db, event_handlers)}


async def test_x1_a_worker_without_the_allowance_blocks_stored_handlers(
    db: AsyncEngine, rest: RestClient
) -> None:
    """X1 at delivery: handlers stored while loopback was allowed, sent by a worker whose
    settings allow nothing: every attempt is outcome blocked, the canary sees 0."""
    with Canary() as canary:
        p = canary.port
        forms = [
            f"http://127.0.0.1:{p}/", f"http://127.1:{p}/", f"http://2130706433:{p}/",
            f"http://0177.0.0.1:{p}/", f"http://0x7f.1:{p}/", f"http://localhost:{p}/",
            f"http://[::ffff:127.0.0.1]:{p}/", f"http://0.0.0.0:{p}/", f"http://[::1]:{p}/",
        ]  # fmt: skip
        for url in forms:
            await add_hook(db, url, ["onCrmDealAdd"], EVERY_LOOPBACK)
        await rest.call("crm.deal.add", {"fields": {"TITLE": "blocked"}})
        settings = delivery_settings(db, webhook_allowed_networks="", delivery_mode="at_most_once")
        async with running_worker(db, settings):
            await _until(lambda: _all_finished(db, len(forms)))
        await asyncio.sleep(0.05)
        assert canary.connections() == 0
    attempts = await _rows(db, delivery_attempts)
    assert len(attempts) == len(forms)
    assert {a.outcome for a in attempts} == {"blocked"}
    assert all(a.address is None and a.status_code is None for a in attempts)
    assert all("internal address" in str(a.error) for a in attempts)
    assert {d.status for d in await _rows(db, deliveries)} == {"failed"}


# --- X2 ------------------------------------------------------------------------------


async def _rebinding_run(
    db: AsyncEngine,
    rest: RestClient,
    monkeypatch: pytest.MonkeyPatch,
    answers: list[str],
) -> tuple[Receiver, Canary, FakeDns, int]:
    """A handler at rebind.test:P; receiver on 127.0.0.2:P, canary on 127.0.0.1:P; the
    name answers ``answers`` in turn from the first lookup of the delivery on."""
    canary = Canary("127.0.0.1")
    port = canary.port
    receiver = Receiver(host="127.0.0.2")
    await receiver.start(port)
    dns = FakeDns("rebind.test", ["127.0.0.2"])
    monkeypatch.setattr(socket, "getaddrinfo", dns)
    try:
        await add_hook(db, f"http://rebind.test:{port}/hook", ["onCrmDealAdd"], "127.0.0.2/32")
        dns.script(answers)
        await rest.call("crm.deal.add", {"fields": {"TITLE": "rebind"}})
        settings = delivery_settings(
            db, webhook_allowed_networks="127.0.0.2/32", delivery_mode="at_most_once"
        )
        async with running_worker(db, settings):
            await _until(lambda: _all_finished(db, 1))
        await asyncio.sleep(0.05)
    finally:
        await receiver.stop()
        canary.connections()
        canary.close()
    return receiver, canary, dns, port


async def test_x2_dns_rebinding_after_the_check_cannot_reach_loopback(
    db: AsyncEngine, rest: RestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """X2: rebind.test answers 127.0.0.2 (allowed) then 127.0.0.1. The POST goes to the
    checked 127.0.0.2 (pinned), Host stays rebind.test:P, the canary sees 0."""
    receiver, canary, dns, port = await _rebinding_run(
        db, rest, monkeypatch, ["127.0.0.2", "127.0.0.1"]
    )
    assert canary.accepted == 0
    assert dns.calls == 1  # one lookup per attempt: no second, rebindable answer
    [request] = receiver.requests
    assert request.address == "127.0.0.2"
    assert request.headers["host"] == f"rebind.test:{port}"
    [attempt] = await _rows(db, delivery_attempts)
    assert (attempt.outcome, attempt.address) == ("success", "127.0.0.2")


async def test_x2_a_first_answer_outside_the_allowance_is_blocked(
    db: AsyncEngine, rest: RestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """X2 reverse: the delivery's lookup says 127.0.0.1 while only 127.0.0.2 is allowed:
    outcome blocked, 0 connections at the canary (and at the receiver)."""
    receiver, canary, _dns, _port = await _rebinding_run(
        db, rest, monkeypatch, ["127.0.0.1", "127.0.0.2"]
    )
    assert canary.accepted == 0
    assert receiver.connections == 0
    [attempt] = await _rows(db, delivery_attempts)
    assert attempt.outcome == "blocked" and attempt.address is None
    assert "127.0.0.1" in str(attempt.error)
    assert [d.status for d in await _rows(db, deliveries)] == ["failed"]


# --- X3 ------------------------------------------------------------------------------


async def test_x3_a_redirect_to_the_metadata_address_is_not_followed(
    db: AsyncEngine, rest: RestClient
) -> None:
    """X3: an allowed receiver answers 302 → http://169.254.169.254/: the attempt is a
    redirect, and the receiver's one request is the only request made at all."""
    location = {"Location": "http://169.254.169.254/latest/meta-data/iam/"}
    async with Receiver(lambda _r: Reply(302, headers=location)) as receiver:
        await add_hook(db, receiver.url, ["onCrmDealAdd"])
        await rest.call("crm.deal.add", {"fields": {"TITLE": "x3"}})
        settings = delivery_settings(db, delivery_mode="at_most_once")
        async with running_worker(db, settings) as worker:
            await _until(lambda: _all_finished(db, 1))
    [attempt] = await _rows(db, delivery_attempts)
    assert (attempt.outcome, attempt.status_code) == ("redirect", 302)
    assert attempt.address == "127.0.0.1"
    assert len(receiver.requests) == 1 and receiver.connections == 1
    assert worker.sent == 1
    assert [d.status for d in await _rows(db, deliveries)] == ["failed"]
