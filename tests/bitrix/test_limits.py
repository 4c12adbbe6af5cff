"""Limits through the real ASGI app: the 503 and 429 envelopes and the ``time`` keys.

The server reads the real clock, so the numbers are chosen to make time irrelevant:
a bucket that drains one request in eleven days, a budget of zero seconds, or usage
seeded directly in the table (protocol spec §2.1, §2.4, §3).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import math
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
import requests
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.accounts import service as accounts
from relatecrm.app import create_app
from relatecrm.config import Settings
from relatecrm.db import transaction
from relatecrm.limits import operating
from relatecrm.limits.service import webhook_credential
from tests.conftest import RestClient, RestReply, count_rows

TOO_MANY = {"error": "QUERY_LIMIT_EXCEEDED", "error_description": "Too many requests"}
BLOCKED = {
    "error": "OPERATION_TIME_LIMIT",
    "error_description": "Method is blocked due to operation time limit.",
}
SLOW_DRAIN = 1e-6  # one request drains in about eleven days: no test ever sees it


@pytest.fixture
async def code(db: AsyncEngine) -> str:
    async with transaction(db) as conn:
        return await accounts.create_webhook(
            conn, user_id=1, scopes=["crm"], now=dt.datetime.now(dt.UTC)
        )


class Apps:
    """``await apps(**settings)``: a client of a new app, a new "process", on the test database."""

    def __init__(self, db: AsyncEngine, code: str, stack: AsyncExitStack) -> None:
        self.url = db.url.render_as_string(hide_password=False)
        self.code = code
        self.stack = stack
        self.engines: list[AsyncEngine] = []

    async def __call__(self, **overrides: Any) -> RestClient:
        app = create_app(Settings(database_url=self.url, **overrides))
        self.engines.append(app.state.engine)
        self.stack.push_async_callback(app.state.engine.dispose)
        transport = httpx.ASGITransport(app=app)
        client = httpx.AsyncClient(transport=transport, base_url="https://testserver")
        await self.stack.enter_async_context(client)
        return RestClient(client, f"/rest/1/{self.code}/")


@pytest.fixture
async def apps(db: AsyncEngine, code: str) -> AsyncIterator[Apps]:
    async with AsyncExitStack() as stack:
        yield Apps(db, code, stack)


def refused(reply: RestReply, status: int, body: dict[str, str]) -> None:
    assert reply.status == status, reply.body
    assert reply.body == body  # no `time`, no `result`
    assert reply.headers["content-type"] == "application/json; charset=utf-8"


async def test_the_request_after_the_burst_gets_503(apps: Apps) -> None:
    rest = await apps(
        rate_limit_enabled=True, rate_limit_burst=3, rate_limit_drain_per_second=SLOW_DRAIN
    )
    for _ in range(3):
        assert (await rest.call("crm.deal.list")).status == 200
    refused(await rest.call("crm.deal.list"), 503, TOO_MANY)
    refused(await rest.call("crm.deal.fields"), 503, TOO_MANY)  # any method: one bucket


async def test_write_methods_pass_the_bucket_too(apps: Apps, db: AsyncEngine) -> None:
    """Admission runs outside the method's transaction: a write on SQLite (which holds
    the database's only write lock) must not wait for its own admission."""
    rest = await apps(rate_limit_enabled=True, operating_limit_enabled=True, rate_limit_burst=3,
                      rate_limit_drain_per_second=SLOW_DRAIN)  # fmt: skip
    for title in ("a", "b", "c"):
        assert isinstance(
            (await rest.call("crm.deal.add", {"fields": {"TITLE": title}})).result, int
        )
    refused(await rest.call("crm.deal.add", {"fields": {"TITLE": "d"}}), 503, TOO_MANY)
    assert await count_rows(db, "deals") == 3


async def test_concurrent_writes_with_limits_on_all_succeed(apps: Apps, db: AsyncEngine) -> None:
    """More concurrent requests than the pool has connections, every one a write: the
    limits must neither hold a second connection per request nor wait for a lock that
    the request's own transaction holds."""
    rest = await apps(rate_limit_enabled=True, operating_limit_enabled=True, rate_limit_burst=1000)
    replies = await asyncio.gather(
        *(rest.call("crm.deal.add", {"fields": {"TITLE": f"t{n}"}}) for n in range(40))
    )
    assert [reply.status for reply in replies] == [200] * 40
    assert await count_rows(db, "deals") == 40


async def test_a_batch_counts_as_one_request(apps: Apps) -> None:
    rest = await apps(
        rate_limit_enabled=True, rate_limit_burst=2, rate_limit_drain_per_second=SLOW_DRAIN
    )
    commands = {str(n): "crm.deal.list?select[]=ID" for n in range(10)}
    batch = await rest.call("batch", {"halt": 0, "cmd": commands})
    assert batch.status == 200
    assert len(batch.result["result"]) == 10
    assert (await rest.call("crm.deal.list")).status == 200
    refused(await rest.call("batch", {"cmd": commands}), 503, TOO_MANY)


async def test_errors_count_and_each_webhook_has_its_own_bucket(
    apps: Apps, db: AsyncEngine
) -> None:
    rest = await apps(
        rate_limit_enabled=True, rate_limit_burst=2, rate_limit_drain_per_second=SLOW_DRAIN
    )
    assert (await rest.call("crm.deal.get", {"id": 999999})).status == 400  # an error counts
    assert (await rest.call("crm.deal.list")).status == 200
    refused(await rest.call("crm.deal.list"), 503, TOO_MANY)
    # A wrong code is no webhook at all: refused as before, not as limited.
    wrong = await rest.http.post("/rest/1/ffffffffffffffff/crm.deal.list", json={})
    assert wrong.status_code == 403
    async with transaction(db) as conn:
        other = await accounts.create_webhook(
            conn, user_id=1, scopes=["crm"], now=dt.datetime.now(dt.UTC)
        )
    for _ in range(2):
        assert (await rest.http.post(f"/rest/1/{other}/crm.deal.list", json={})).status_code == 200
    assert await count_rows(db, "rate_buckets") == 2


async def test_two_server_processes_share_the_bucket(apps: Apps) -> None:
    config = dict(
        rate_limit_enabled=True, rate_limit_burst=4, rate_limit_drain_per_second=SLOW_DRAIN
    )
    first, second = await apps(**config), await apps(**config)
    for rest in (first, second, first, second):
        assert (await rest.call("crm.deal.list")).status == 200
    refused(await first.call("crm.deal.list"), 503, TOO_MANY)
    refused(await second.call("crm.deal.list"), 503, TOO_MANY)


async def seed_usage(db: AsyncEngine, code: str, method: str, seconds: float, at: float) -> None:
    async with transaction(db) as conn:
        await operating.charge(conn, webhook_credential(code), method, seconds, now=at, window=600)


async def test_the_time_block_reports_the_methods_budget(
    apps: Apps, db: AsyncEngine, code: str
) -> None:
    seeded_at = time.time() - 30
    await seed_usage(db, code, "crm.deal.list", 100.0, seeded_at)
    rest = await apps(operating_limit_enabled=True)
    block = (await rest.call("crm.deal.list")).body["time"]
    assert list(block)[-2:] == ["operating_reset_at", "operating"]
    assert type(block["operating_reset_at"]) is int and type(block["operating"]) is float
    assert block["operating_reset_at"] == math.ceil(seeded_at + 600)
    assert 100.0 < block["operating"] < 100.0 + block["duration"]  # this call included
    again = (await rest.call("crm.deal.list")).body["time"]
    assert again["operating"] > block["operating"]  # the first call was charged
    other = (await rest.call("crm.deal.fields")).body["time"]
    assert other["operating"] < 100.0  # another method, another budget


async def test_an_exhausted_budget_gets_429_for_that_method_only(
    apps: Apps, db: AsyncEngine, code: str
) -> None:
    await seed_usage(db, code, "crm.deal.list", 481.0, time.time() - 30)
    rest = await apps(operating_limit_enabled=True)
    refused(await rest.call("crm.deal.list"), 429, BLOCKED)
    refused(await rest.call("CRM.DEAL.LIST.json"), 429, BLOCKED)
    assert (await rest.call("crm.deal.fields")).status == 200


async def test_the_call_that_crosses_the_budget_runs_the_next_gets_429(apps: Apps) -> None:
    rest = await apps(operating_limit_enabled=True, operating_limit_seconds=0.0)
    first = await rest.call("crm.deal.list")
    assert first.status == 200
    assert first.body["time"]["operating"] > 0.0
    refused(await rest.call("crm.deal.list"), 429, BLOCKED)
    assert (await rest.call("crm.deal.fields")).status == 200


async def test_operating_can_be_left_out_of_the_time_block(apps: Apps) -> None:
    rest = await apps(operating_limit_enabled=True, report_operating=False)
    block = (await rest.call("crm.deal.list")).body["time"]
    assert "operating" not in block and "operating_reset_at" not in block


async def test_limits_are_off_by_default_and_touch_no_table(apps: Apps, db: AsyncEngine) -> None:
    rest = await apps()
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(apps.engines[0].sync_engine, "before_cursor_execute", record)
    for _ in range(60):
        reply = await rest.call("crm.deal.list")
        assert reply.status == 200
        assert reply.body["time"]["operating"] == 0.0
    assert statements  # the listener does see the app's queries
    assert not [s for s in statements if "rate_buckets" in s or "operating_usage" in s]
    assert await count_rows(db, "rate_buckets") == 0
    assert await count_rows(db, "operating_usage") == 0


def as_requests_response(reply: RestReply, url: str) -> requests.Response:
    response = requests.Response()
    response.status_code = reply.status
    response._content = json.dumps(reply.body).encode()
    response.headers.update(reply.headers)
    response.url = url
    return response


async def test_b24pysdk_reads_our_refusals_as_its_limit_errors(apps: Apps, db: AsyncEngine) -> None:
    """The official SDK picks its exception by our ``error`` code (its 503 retry aside)."""
    from b24pysdk import errors
    from b24pysdk.api.requesters._utils.parse_response import parse_response

    limited = {"rate_limit_burst": 1, "rate_limit_drain_per_second": SLOW_DRAIN}
    rest = await apps(rate_limit_enabled=True, operating_limit_enabled=True, **limited)
    url = "https://testserver" + rest.prefix + "crm.deal.list"
    parse_response(as_requests_response(await rest.call("crm.deal.list"), url))
    with pytest.raises(errors.BitrixAPIQueryLimitExceeded):
        parse_response(as_requests_response(await rest.call("crm.deal.list"), url))
    rest = await apps(operating_limit_enabled=True, operating_limit_seconds=0.0)
    with pytest.raises(errors.BitrixAPIOperationTimeLimit):  # the first call was charged
        parse_response(as_requests_response(await rest.call("crm.deal.list"), url))
