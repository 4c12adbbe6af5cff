"""event.bind offline and event.offline.get/list/clear/error on the wire (spec §6.1).

Plan A2 (function-level authorisation: webhooks get WRONG_AUTH_TYPE, non-admins
ACCESS_DENIED) and the outbox guarantee (every committed change is in the queue once;
what a get hands out is handed out once) through the real ASGI app, on both backends.
The portal runs in Asia/Tokyo so that TIMESTAMP_X shows it is rendered in the portal's
zone (+09:00).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.accounts import service as accounts
from relatecrm.bitrix.events import BIND_OFFLINE_DENIED
from relatecrm.config import Settings
from relatecrm.db import transaction
from relatecrm.events import outbox
from relatecrm.events.models import deliveries, event_handlers, offline_events
from tests.bitrix.test_events import App, _new_app, error
from tests.conftest import RestClient

TOKYO = dt.timezone(dt.timedelta(hours=9))
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+09:00")
HEX32 = re.compile(r"[0-9a-f]{32}")
BAD = "Invalid filter: field"
OFFLINE_METHODS = ("event.offline.get", "event.offline.list", "event.offline.clear",
                   "event.offline.error")  # fmt: skip


@pytest.fixture
async def settings(db: AsyncEngine) -> Settings:
    return Settings(
        database_url=db.url.render_as_string(hide_password=False), timezone="Asia/Tokyo"
    )


@pytest.fixture
async def app(rest: RestClient, db: AsyncEngine) -> App:
    return await _new_app(rest, db, ["crm"])


async def _bind(app: App, *events: str) -> None:
    for name in events:
        reply = await app.call("event.bind", {"event": name, "event_type": "offline"})
        assert reply.result is True


async def _changes(db: AsyncEngine, count: int, event: str = "onCrmDealAdd") -> None:
    """``count`` events of distinct objects 1..count, as the services record them."""
    async with transaction(db) as conn:
        for entity_id in range(1, count + 1):
            await outbox.record(
                conn,
                event,
                entity_type="deal",
                entity_id=entity_id,
                payload={"FIELDS": {"ID": entity_id}},
                now=dt.datetime.now(dt.UTC),
                user_id=1,
            )


async def _queue(app: App) -> list[dict[str, Any]]:
    """The whole queue through event.offline.list (which changes nothing)."""
    rows: list[dict[str, Any]] = []
    start = 0
    while True:
        reply = await app.call("event.offline.list", {"start": start})
        rows.extend(reply.result)
        if "next" not in reply.body:
            return rows
        start = reply.body["next"]


async def _count(db: AsyncEngine, table: Any) -> int:
    async with db.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def test_a2_offline_binding(app: App, db: AsyncEngine, rest: RestClient) -> None:
    """A2: an administrator binds offline without a handler (a URL given is dropped, no
    SSRF check applies); non-admins get 403; event.get shows the Bitrix offline shape;
    unbinding offline needs no handler."""
    async with transaction(db) as conn:
        bob = await accounts.create_user(conn, login="bob", now=dt.datetime.now(dt.UTC))
    params = {"event": "onCrmDealUpdate", "event_type": "offline"}
    error(await app.call("event.bind", params, user=bob), 403, "ACCESS_DENIED", BIND_OFFLINE_DENIED)
    assert (await app.call("event.bind", params)).result is True
    # The handler and auth_type are ignored for offline, so this is the same binding.
    reply = await app.call("event.bind", {**params, "handler": "http://127.0.0.1/", "auth_type": 5})
    error(reply, 400, "ERROR_HANDLER_ALREADY_EXIST")
    online = {"event": "onCrmDealAdd", "handler": "https://93.184.215.14/h"}
    assert (await app.call("event.bind", online)).result is True
    assert (await app.call("event.get")).result == [
        {"event": "ONCRMDEALUPDATE", "connector_id": "", "offline": 1},
        {"event": "ONCRMDEALADD", "handler": "https://93.184.215.14/h", "auth_type": "0",
         "offline": 0},
    ]  # fmt: skip
    async with db.connect() as conn:
        stored = (await conn.execute(select(event_handlers.c.handler, event_handlers.c.auth_type)
                                     .order_by(event_handlers.c.id))).all()  # fmt: skip
    assert stored[0] == ("", None)
    error(await app.call("event.unbind", params, user=bob), 403, "ACCESS_DENIED")
    assert (await app.call("event.unbind", params)).result == {"count": 1}
    # Unbound: a change no longer reaches the queue.
    await app.call("crm.deal.update", {"id": 1, "fields": {"TITLE": "x"}})
    assert await _count(db, offline_events) == 0


async def test_offline_deal_changes_are_queued_and_got_once(app: App, db: AsyncEngine) -> None:
    """real crm.deal.add + 20 crm.deal.update calls leave 2 records (latest state per
    object) and no deliveries; a default get returns them in TIMESTAMP_X order with the
    documented types and deletes them."""
    await _bind(app, "onCrmDealAdd", "onCrmDealUpdate")
    deal = (await app.call("crm.deal.add", {"fields": {"TITLE": "A"}})).result
    for number in range(20):
        await app.call("crm.deal.update", {"id": deal, "fields": {"TITLE": f"A{number}"}})
    assert await _count(db, offline_events) == 2
    assert await _count(db, deliveries) == 0
    reply = await app.call("event.offline.get")
    assert reply.result["process_id"] is None
    events = reply.result["events"]
    assert [e["EVENT_NAME"] for e in events] == ["ONCRMDEALADD", "ONCRMDEALUPDATE"]
    for event in events:
        assert list(event) == ["ID", "TIMESTAMP_X", "EVENT_NAME", "EVENT_DATA",
                               "EVENT_ADDITIONAL", "MESSAGE_ID"]  # fmt: skip
        assert isinstance(event["ID"], str) and event["ID"].isdigit()
        assert ISO.fullmatch(event["TIMESTAMP_X"]), event["TIMESTAMP_X"]
        stamp = dt.datetime.fromisoformat(event["TIMESTAMP_X"])
        assert abs(stamp - dt.datetime.now(TOKYO)) < dt.timedelta(minutes=5)
        assert event["EVENT_DATA"] == {"FIELDS": {"ID": str(deal)}}
        assert event["EVENT_ADDITIONAL"] == {"user_id": "1"}
        assert HEX32.fullmatch(event["MESSAGE_ID"])
    assert (await app.call("event.offline.get")).result == {"process_id": None, "events": []}
    assert await _count(db, offline_events) == 0


async def test_offline_reserve_continue_and_clear(app: App, db: AsyncEngine) -> None:
    """clear=0 reserves under a 32-character process_id (hidden from other gets);
    process_id continues the batch; event.offline.clear by id, by message_id, then all."""
    await _bind(app, "onCrmDealAdd")
    await _changes(db, 6)
    first = (await app.call("event.offline.get", {"clear": 0, "limit": 3})).result
    process = first["process_id"]
    assert HEX32.fullmatch(process) or re.fullmatch(r"[0-9a-z]{32}", process)
    assert len(first["events"]) == 3
    again = (await app.call("event.offline.get", {"CLEAR": "0", "process_id": process})).result
    assert again == first
    second = (await app.call("event.offline.get", {"clear": 0, "limit": 2})).result
    assert second["process_id"] != process
    assert not {e["ID"] for e in first["events"]} & {e["ID"] for e in second["events"]}
    queue = await _queue(app)
    assert [(r["PROCESS_ID"], r["ERROR"]) for r in queue] == (
        [(process, "0")] * 3 + [(second["process_id"], "0")] * 2 + [("", "0")]
    )
    assert list(queue[0]) == ["ID", "TIMESTAMP_X", "EVENT_NAME", "EVENT_DATA",
                              "EVENT_ADDITIONAL", "MESSAGE_ID", "PROCESS_ID", "ERROR"]  # fmt: skip
    ids = [e["ID"] for e in first["events"]]
    clear = {"process_id": process, "id": [int(ids[0])]}
    assert (await app.call("event.offline.clear", clear)).result is True
    # Another batch's process_id removes nothing of this one.
    clear = {"process_id": second["process_id"], "id": [int(ids[1])]}
    assert (await app.call("event.offline.clear", clear)).result is True
    clear = {"process_id": process, "message_id": [first["events"][1]["MESSAGE_ID"]],
             "id": [int(ids[2])]}  # fmt: skip
    assert (await app.call("event.offline.clear", clear)).result is True  # message_id wins
    assert [r["ID"] for r in await _queue(app)] == [ids[2], *[r["ID"] for r in queue[3:]]]
    assert (await app.call("event.offline.clear", {"process_id": process, "id": []})).result
    assert (await app.call("event.offline.clear", {"process_id": second["process_id"]})).result
    assert [r["PROCESS_ID"] for r in await _queue(app)] == [""]


async def test_offline_error_marks_leave_the_batch(app: App, db: AsyncEngine) -> None:
    """event.offline.error takes records out of their batch with ERROR "1"; a normal
    get skips them, an error=1 get returns them."""
    await _bind(app, "onCrmDealAdd")
    await _changes(db, 3)
    batch = (await app.call("event.offline.get", {"clear": 0})).result
    marked = [batch["events"][0]["MESSAGE_ID"], batch["events"][2]["MESSAGE_ID"]]
    reply = await app.call("event.offline.error", {"process_id": batch["process_id"],
                                                   "message_id": marked})  # fmt: skip
    assert reply.result is True
    queue = {r["MESSAGE_ID"]: (r["PROCESS_ID"], r["ERROR"]) for r in await _queue(app)}
    assert queue == {marked[0]: ("", "1"), marked[1]: ("", "1"),
                     batch["events"][1]["MESSAGE_ID"]: (batch["process_id"], "0")}  # fmt: skip
    assert (await app.call("event.offline.get")).result["events"] == []
    failed = (await app.call("event.offline.get", {"error": 1})).result["events"]
    assert [e["MESSAGE_ID"] for e in failed] == marked
    reply = await app.call("event.offline.error", {"process_id": "x", "message_id": []})
    assert reply.result is True


async def test_offline_parallel_gets_receive_disjoint_sets(app: App, db: AsyncEngine) -> None:
    """6 clients call event.offline.get concurrently (half clear=1, half clear=0)
    until the queue is empty: each of 40 records is handed out exactly once."""
    await _bind(app, "onCrmDealAdd")
    await _changes(db, 40)
    await app.token()

    async def client(clear: int) -> list[str]:
        got: list[str] = []
        while True:
            reply = await app.call("event.offline.get", {"clear": clear, "limit": 3})
            events = reply.result["events"]
            if not events:
                return got
            got.extend(e["MESSAGE_ID"] for e in events)

    results = await asyncio.gather(*(client(number % 2) for number in range(6)))
    handed = [key for result in results for key in result]
    assert len(handed) == 40 and len(set(handed)) == 40
    assert sum(1 for result in results if result) >= 2  # they really ran side by side


async def test_filter_order_and_limit(app: App, db: AsyncEngine) -> None:
    """filter with operator prefixes (any letter case, values as Bitrix compares
    them), order, limit; the get reserved only what it returned."""
    await _bind(app, "onCrmDealAdd", "onCrmDealDelete")
    await _changes(db, 4)
    await _changes(db, 2, "onCrmDealDelete")
    queue = await _queue(app)
    ids = [int(r["ID"]) for r in queue]
    where = {">id": ids[1], "=EVENT_NAME": "onCrmDealAdd"}
    params = {"clear": 0, "filter": where, "order": {"ID": "desc"}, "limit": 1}
    reply = await app.call("event.offline.get", params)
    assert [e["ID"] for e in reply.result["events"]] == [str(ids[3])]
    filters: list[tuple[dict[str, Any], list[int]]] = [
        ({"MESSAGE_ID": queue[4]["MESSAGE_ID"]}, [ids[4]]),
        ({"<=ID": ids[1]}, ids[:2]),
        ({"@EVENT_NAME": "ONCRMDEALDELETE"}, ids[4:]),
        ({">=TIMESTAMP_X": "2000-01-01T00:00:00+03:00", "<ID": ids[2]}, ids[:2]),
        ({"<TIMESTAMP_X": "2000-01-01"}, []),
    ]
    for where, expected in filters:  # list: the same filter code, and it reserves nothing
        reply = await app.call("event.offline.list", {"filter": where})
        assert [int(r["ID"]) for r in reply.result] == expected, where
    listed = await app.call("event.offline.list", {"filter": {"PROCESS_ID": "", "ERROR": 0},
                                                   "order": {"ID": "DESC"}})  # fmt: skip
    assert [int(r["ID"]) for r in listed.result] == [ids[5], ids[4], ids[2], ids[1], ids[0]]


async def test_list_pages_of_fifty(app: App, db: AsyncEngine) -> None:
    """event.offline.list pages by 50 with total and next, changing nothing."""
    await _bind(app, "onCrmDealAdd")
    await _changes(db, 55)
    page = await app.call("event.offline.list")
    assert len(page.result) == 50 and page.body["total"] == 55 and page.body["next"] == 50
    rest = await app.call("event.offline.list", {"start": 50})
    assert len(rest.result) == 5 and "next" not in rest.body
    assert await _count(db, offline_events) == 55


BAD_INPUT: list[tuple[str, dict[str, Any], str]] = [
    ("event.offline.get", {"limit": 0}, "Value must be positive integer"),
    ("event.offline.get", {"limit": "abc"}, "Value must be positive integer"),
    ("event.offline.get", {"limit": -5}, "Value must be positive integer"),
    ("event.offline.get", {"filter": "x"}, "The filter is not an array."),
    ("event.offline.get", {"filter": {"!ID": 1}}, "Filter operation not allowed: !"),
    ("event.offline.get", {"filter": {"><ID": 1}}, "Filter operation not allowed: ><"),
    ("event.offline.get", {"filter": {"PROCESS_ID": ""}}, "Filter field not allowed: PROCESS_ID"),
    ("event.offline.get", {"filter": {"=": 1}}, "Filter field not allowed: "),
    ("event.offline.get", {"filter": {"=ID": [1, 2]}},
     "The value of an argument '=ID' has an invalid type"),
    ("event.offline.get", {"filter": {">ID": "abc"}}, f"{BAD} '>ID' has invalid value"),
    ("event.offline.get", {"filter": {"TIMESTAMP_X": "yesterday"}},
     f"{BAD} 'TIMESTAMP_X' has invalid value"),
    ("event.offline.get", {"filter": {"ID": 10**20}}, f"{BAD} 'ID' has invalid value"),
    ("event.offline.get", {"order": "ID"}, "The order is not an array."),
    ("event.offline.get", {"order": {"EVENT_DATA": "ASC"}}, "Order field not allowed: EVENT_DATA"),
    ("event.offline.get", {"order": {"ID": "UP"}}, "Order direction should be one of {ASC|DESC}"),
    ("event.offline.get", {"order": {"ID": ["ASC"]}},
     "Order direction should be one of {ASC|DESC}"),
    ("event.offline.get", {"process_id": ["a"]}, "Argument 'PROCESS_ID' must be a string"),
    ("event.offline.list", {"filter": {"EVENT_DATA": 1}}, "Filter field not allowed: EVENT_DATA"),
    ("event.offline.list", {"filter": {">ERROR": [1]}}, f"{BAD} '>ERROR' has invalid value"),
    ("event.offline.list", {"order": {"ERROR": "sideways"}},
     "Order direction should be one of {ASC|DESC}"),
    ("event.offline.clear", {}, "Argument 'PROCESS_ID' is null or empty"),
    ("event.offline.clear", {"process_id": "  "}, "Argument 'PROCESS_ID' is null or empty"),
    ("event.offline.clear", {"process_id": "p", "message_id": "abc"},
     "Value must be array of MESSAGE_ID values"),
    ("event.offline.clear", {"process_id": "p", "message_id": ["short"]},
     "Value must be array of MESSAGE_ID values"),
    ("event.offline.clear", {"process_id": "p", "message_id": [{"a": 1}]},
     "Value must be array of MESSAGE_ID values"),
    ("event.offline.clear", {"process_id": "p", "id": 5}, "Value must be array of integers"),
    ("event.offline.clear", {"process_id": "p", "id": [1, 0]}, "Value must be array of integers"),
    ("event.offline.clear", {"process_id": "p", "id": ["x"]}, "Value must be array of integers"),
    ("event.offline.clear", {"process_id": "p", "id": [2**40]}, "Value must be array of integers"),
    ("event.offline.error", {"message_id": ["a"]}, "Argument 'PROCESS_ID' is null or empty"),
    ("event.offline.error", {"process_id": "p"}, "Value must be array of MESSAGE_ID values"),
    ("event.offline.error", {"process_id": "p", "message_id": "a"},
     "Value must be array of MESSAGE_ID values"),
]  # fmt: skip


async def test_bad_input_is_400_and_writes_nothing(app: App, db: AsyncEngine) -> None:
    """every documented refusal is 400 ERROR_ARGUMENT (never 500) and the queue, 3
    unreserved records, is untouched afterwards."""
    await _bind(app, "onCrmDealAdd")
    await _changes(db, 3)
    before = await _queue(app)
    for method, params, description in BAD_INPUT:
        error(await app.call(method, params), 400, "ERROR_ARGUMENT", description)
    assert await _queue(app) == before
    assert [r["PROCESS_ID"] for r in before] == ["", "", ""]


async def test_a2_permissions(app: App, rest: RestClient, db: AsyncEngine) -> None:
    """A2: webhooks get 403 WRONG_AUTH_TYPE, non-administrators 403 ACCESS_DENIED
    "Access denied!"; another app sees and clears nothing of this app's queue."""
    await _bind(app, "onCrmDealAdd")
    await _changes(db, 2)
    async with transaction(db) as conn:
        bob = await accounts.create_user(conn, login="bob", now=dt.datetime.now(dt.UTC))
    params: dict[str, Any] = {"process_id": "p", "message_id": []}
    for method in OFFLINE_METHODS:
        error(await rest.call(method, params), 403, "WRONG_AUTH_TYPE",
              "Current authorization type is denied for this method")  # fmt: skip
        error(await app.call(method, params, user=bob), 403, "ACCESS_DENIED", "Access denied!")
    other = await _new_app(app.rest, db, ["crm"])
    assert (await other.call("event.offline.list")).result == []
    assert (await other.call("event.offline.get")).result["events"] == []
    batch = (await app.call("event.offline.get", {"clear": 0})).result
    assert (await other.call("event.offline.clear", {"process_id": batch["process_id"]})).result
    assert (await other.call("event.offline.get", {"process_id": batch["process_id"]})).result[
        "events"
    ] == []
    assert len(await _queue(app)) == 2


async def test_get_inside_a_batch(app: App, db: AsyncEngine) -> None:
    """event.offline.get works as a batch command (its own transaction)."""
    await _bind(app, "onCrmDealAdd")
    await _changes(db, 2)
    cmd = {"a": "event.offline.get?clear=0&limit=1", "b": "event.offline.list"}
    result = (await app.call("batch", {"cmd": cmd})).result
    assert len(result["result"]["a"]["events"]) == 1
    assert [r["PROCESS_ID"] != "" for r in result["result"]["b"]] == [True, False]
