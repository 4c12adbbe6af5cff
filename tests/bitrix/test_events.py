"""event.bind / event.unbind / event.get / events on the wire (protocol spec §6.1).

OAuth applications bind; webhooks are refused with 403 WRONG_AUTH_TYPE. Both backends.
Handler URLs use public IP literals (no DNS in tests); internal ones are refused.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.accounts import oauth
from relatecrm.accounts import service as accounts
from relatecrm.bitrix.events import BIND_AUTH_TYPE_DENIED, BIND_OFFLINE_DENIED
from relatecrm.config import Settings
from relatecrm.db import transaction
from relatecrm.events.handlers import EVENT_SCOPES
from relatecrm.events.models import event_handlers
from tests.conftest import RestClient, RestReply

URL = "https://93.184.215.14/handler"
# The texts of spec §6.1, exactly.
assert BIND_AUTH_TYPE_DENIED == (
    "Access denied! Event binding with AUTH_TYPE requires administrator access rights"
)
assert BIND_OFFLINE_DENIED == (
    "Access denied! Offline events binding requires administrator access rights"
)
OTHER = "https://93.184.215.15/other"
REDIRECT = "https://app.example.com/callback"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class App:
    """One OAuth application; ``token`` calls /rest as a given user through it."""

    def __init__(self, rest: RestClient, engine: AsyncEngine, client_id: str, secret: str) -> None:
        self.rest = rest
        self.engine = engine
        self.client_id = client_id
        self.secret = secret
        self.tokens: dict[int, str] = {}

    async def token(self, user_id: int = 1) -> str:
        if user_id not in self.tokens:
            async with transaction(self.engine) as conn:
                found = await oauth.find_app(conn, self.client_id)
                assert found is not None
                code = await oauth.issue_code(
                    conn, found, user_id=user_id, now=_now(), lifetimes=oauth.Lifetimes()
                )
                grant = await oauth.exchange_code(
                    conn,
                    client_id=self.client_id,
                    client_secret=self.secret,
                    code=code,
                    now=_now(),
                    lifetimes=oauth.Lifetimes(),
                )
            assert isinstance(grant, oauth.TokenGrant), grant
            self.tokens[user_id] = grant.access_token
        return self.tokens[user_id]

    async def call(self, method: str, params: Any = None, *, user: int = 1) -> RestReply:
        body = {**(params or {}), "auth": await self.token(user)}
        response = await self.rest.http.post(f"/rest/{method}", json=body)
        return RestReply(response.status_code, response.json(), response.headers)


async def _new_app(rest: RestClient, db: AsyncEngine, scopes: list[str]) -> App:
    async with transaction(db) as conn:
        created, secret = await oauth.create_app(
            conn, title="Events app", scopes=scopes, redirect_url=REDIRECT, now=_now()
        )
    return App(rest, db, created.client_id, secret)


@pytest.fixture
async def app(rest: RestClient, db: AsyncEngine) -> AsyncIterator[App]:
    yield await _new_app(rest, db, ["crm"])


@pytest.fixture
async def plain_user(db: AsyncEngine) -> int:
    async with transaction(db) as conn:
        return await accounts.create_user(conn, login="bob", now=_now())


def error(reply: RestReply, status: int, code: str, description: str | None = None) -> None:
    assert reply.status == status, (reply.status, reply.body)
    assert reply.body["error"] == code, reply.body
    if description is not None:
        assert reply.body["error_description"] == description, reply.body


async def test_bind_get_unbind(app: App) -> None:
    reply = await app.call("event.bind", {"event": "onCrmDealAdd", "handler": URL})
    assert reply.result is True
    assert (await app.call("event.bind", {"EVENT": "ONCRMDEALUPDATE", "HANDLER": URL})).result
    listed = (await app.call("event.get")).result
    assert listed == [
        {"event": "ONCRMDEALADD", "handler": URL, "auth_type": "0", "offline": 0},
        {"event": "ONCRMDEALUPDATE", "handler": URL, "auth_type": "0", "offline": 0},
    ]
    reply = await app.call("event.unbind", {"event": "oncrmdealadd", "handler": URL})
    assert reply.result == {"count": 1}
    reply = await app.call("event.unbind", {"event": "onCrmDealAdd", "handler": URL})
    assert reply.result == {"count": 0}
    assert [row["event"] for row in (await app.call("event.get")).result] == ["ONCRMDEALUPDATE"]


async def test_event_names_are_case_insensitive_and_duplicates_refused(app: App) -> None:
    assert (await app.call("event.bind", {"event": "onCrmDealAdd", "handler": URL})).result
    for spelling in ("ONCRMDEALADD", "oncrmdealadd", "OnCrmDealAdd"):
        reply = await app.call("event.bind", {"event": spelling, "handler": URL})
        error(reply, 400, "ERROR_HANDLER_ALREADY_EXIST", "Handler already exists!")
    # Another URL, or another auth_type, is another binding.
    assert (await app.call("event.bind", {"event": "onCrmDealAdd", "handler": OTHER})).result
    reply = await app.call("event.bind", {"event": "onCrmDealAdd", "handler": URL, "auth_type": 1})
    assert reply.result is True
    listed = (await app.call("event.get")).result
    assert [(r["handler"], r["auth_type"]) for r in listed] == [
        (URL, "0"),
        (OTHER, "0"),
        (URL, "1"),
    ]


async def test_all_bindings_of_an_app_share_one_application_token(
    app: App, db: AsyncEngine
) -> None:
    for name in ("onCrmDealAdd", "onCrmContactAdd"):
        assert (await app.call("event.bind", {"event": name, "handler": URL})).result
    async with db.connect() as conn:
        tokens = (await conn.execute(select(event_handlers.c.application_token))).scalars().all()
    assert len(tokens) == 2 and tokens[0] == tokens[1] and len(tokens[0]) == 32


async def test_unknown_or_missing_event(app: App) -> None:
    for params in (
        {"event": "onCrmLeadAdd", "handler": URL},
        {"event": "", "handler": URL},
        {"handler": URL},
        {"event": ["onCrmDealAdd"], "handler": URL},
        {"event": {"a": 1}, "handler": URL},
        {"event": "onCrmDeal\u0130dd", "handler": URL},
    ):
        error(await app.call("event.bind", params), 400, "ERROR_EVENT_NOT_FOUND", "Event not found")
    error(await app.call("event.unbind", {"event": "nope", "handler": URL}), 400,
          "ERROR_EVENT_NOT_FOUND")  # fmt: skip


async def test_bad_handlers_and_arguments_are_400_never_500(app: App) -> None:
    for handler in (None, "", "   ", 5, ["x"], {"a": "b"}):
        params: dict[str, Any] = {"event": "onCrmDealAdd"}
        if handler is not None:
            params["handler"] = handler
        error(await app.call("event.bind", params), 400, "ERROR_ARGUMENT")
    for handler in ("ftp://93.184.215.14/", "http://127.0.0.1/", "http://[::1]/x",
                    "http://10.0.0.1/", "http://169.254.169.254/latest/meta-data/",
                    "http://evil@93.184.215.14/", "http://2130706433/", "notaurl",
                    "http://0.0.0.0/", "http://[::ffff:127.0.0.1]/", "https://:80/",
                    "http://93.184.215.14:99999/", "x" * 3000):  # fmt: skip
        reply = await app.call("event.bind", {"event": "onCrmDealAdd", "handler": handler})
        error(reply, 400, "ERROR_WRONG_HANDLER_URL")
    for auth_type in ("abc", -1, 1.5, ["1"], {"a": 1}, True, "99999999999999999999"):
        reply = await app.call(
            "event.bind", {"event": "onCrmDealAdd", "handler": URL, "auth_type": auth_type}
        )
        error(reply, 400, "ERROR_ARGUMENT")
    reply = await app.call("event.bind", {"event": "onCrmDealAdd", "handler": URL, "auth_type": 77})
    error(reply, 400, "ERROR_ARGUMENT")
    for event_type in ("sometimes", 3, ["online"]):
        reply = await app.call(
            "event.bind", {"event": "onCrmDealAdd", "handler": URL, "event_type": event_type}
        )
        error(reply, 400, "ERROR_ARGUMENT")
    assert (await app.call("event.get")).result == []


async def test_options_and_explicit_online_type_are_accepted(app: App) -> None:
    params = {"event": "onCrmDealAdd", "handler": URL, "event_type": "ONLINE",
              "options": {"minTimeout": 5}, "auth_type": "0"}  # fmt: skip
    assert (await app.call("event.bind", params)).result is True
    assert (await app.call("event.get")).result[0]["auth_type"] == "0"


async def test_offline_events(app: App, plain_user: int) -> None:
    """Offline binding: administrators only, no handler needed (bitrix/offline.py serves
    the queue; tests/bitrix/test_offline_methods.py covers it)."""
    params = {"event": "onCrmDealAdd", "event_type": "offline"}
    reply = await app.call("event.bind", params, user=plain_user)
    error(reply, 403, "ACCESS_DENIED", BIND_OFFLINE_DENIED)
    assert (await app.call("event.bind", params)).result is True
    assert (await app.call("event.get")).result == [
        {"event": "ONCRMDEALADD", "connector_id": "", "offline": 1}
    ]


async def test_auth_type_needs_an_administrator(app: App, plain_user: int) -> None:
    reply = await app.call(
        "event.bind", {"event": "onCrmDealAdd", "handler": URL, "auth_type": 1}, user=plain_user
    )
    error(reply, 403, "ACCESS_DENIED", BIND_AUTH_TYPE_DENIED)
    # Their own id is fine; so is no auth_type.
    params = {"event": "onCrmDealAdd", "handler": URL, "auth_type": plain_user}
    assert (await app.call("event.bind", params, user=plain_user)).result is True
    params = {"event": "onCrmDealAdd", "handler": URL}
    assert (await app.call("event.bind", params, user=plain_user)).result is True
    # The administrator binds for someone else.
    params = {"event": "onCrmDealUpdate", "handler": URL, "auth_type": plain_user}
    assert (await app.call("event.bind", params)).result is True
    # A non-administrator sees and removes only their own bindings.
    mine = (await app.call("event.get", user=plain_user)).result
    assert [(r["event"], r["auth_type"]) for r in mine] == [
        ("ONCRMDEALADD", str(plain_user)), ("ONCRMDEALADD", "0")]  # fmt: skip
    assert len((await app.call("event.get")).result) == 3
    reply = await app.call(
        "event.unbind", {"event": "onCrmDealUpdate", "handler": URL}, user=plain_user
    )
    assert reply.result == {"count": 0}
    reply = await app.call(
        "event.unbind", {"event": "onCrmDealAdd", "handler": URL, "auth_type": 1}, user=plain_user
    )
    error(reply, 403, "ACCESS_DENIED")


async def test_unbind_auth_type_selects(app: App, plain_user: int) -> None:
    for auth_type in (None, 1, plain_user):
        params: dict[str, Any] = {"event": "onCrmDealAdd", "handler": URL}
        if auth_type:
            params["auth_type"] = auth_type
        assert (await app.call("event.bind", params)).result is True
    reply = await app.call(
        "event.unbind", {"event": "onCrmDealAdd", "handler": URL, "auth_type": 0}
    )
    assert reply.result == {"count": 1}
    reply = await app.call(
        "event.unbind", {"event": "onCrmDealAdd", "handler": URL, "auth_type": 1}
    )
    assert reply.result == {"count": 1}
    reply = await app.call("event.unbind", {"event": "onCrmDealAdd", "handler": URL})
    assert reply.result == {"count": 1}
    error(await app.call("event.unbind", {"event": "onCrmDealAdd"}), 400, "ERROR_ARGUMENT")


async def test_apps_do_not_see_each_others_bindings(
    app: App, rest: RestClient, db: AsyncEngine
) -> None:
    other = await _new_app(rest, db, ["crm"])
    assert (await app.call("event.bind", {"event": "onCrmDealAdd", "handler": URL})).result
    assert (await other.call("event.get")).result == []
    assert (await other.call("event.bind", {"event": "onCrmDealAdd", "handler": URL})).result
    reply = await other.call("event.unbind", {"event": "onCrmDealAdd", "handler": URL})
    assert reply.result == {"count": 1}
    assert len((await app.call("event.get")).result) == 1


async def test_webhooks_get_wrong_auth_type(rest: RestClient) -> None:
    for method, params in (
        ("event.bind", {"event": "onCrmDealAdd", "handler": URL}),
        ("event.unbind", {"event": "onCrmDealAdd", "handler": URL}),
        ("event.get", {}),
        ("events", {}),
    ):
        reply = await rest.call(method, params)
        error(reply, 403, "WRONG_AUTH_TYPE", "Current authorization type is denied for this method")
    reply = await rest.call("batch", {"cmd": {"a": "event.get"}})
    assert reply.result["result_error"]["a"]["error"] == "WRONG_AUTH_TYPE"


async def test_events_lists_what_relatecrm_emits(
    app: App, rest: RestClient, db: AsyncEngine
) -> None:
    names = (await app.call("events")).result
    assert names == list(EVENT_SCOPES)
    for name in ("ONCRMDEALADD", "ONCRMDEALUPDATE", "ONCRMDEALDELETE", "ONCRMDEALMOVETOCATEGORY",
                 "ONCRMDEALUSERFIELDADD", "ONCRMCONTACTADD", "ONCRMCOMPANYDELETE",
                 "ONCRMPRODUCTUPDATE"):  # fmt: skip
        assert name in names
    assert (await app.call("events", {"SCOPE": "crm"})).result == names
    assert (await app.call("events", {"scope": "user"})).result == []
    assert (await app.call("events", {"scope": ["crm"]})).result == []
    assert (await app.call("events", {"full": True})).result == names
    # An app without the crm scope sees no events, unless it asks for all of them.
    user_app = await _new_app(rest, db, ["user"])
    assert (await user_app.call("events")).result == []
    assert (await user_app.call("events", {"FULL": "Y"})).result == names
    assert (await user_app.call("events", {"FULL": "N"})).result == []


async def test_every_event_the_code_records_is_listed(app: App) -> None:
    """Each event the services write to the outbox can be bound: make one of each."""
    names = set((await app.call("events")).result)
    deal = (await app.call("crm.deal.add", {"fields": {"TITLE": "A"}})).result
    await app.call("crm.deal.update", {"id": deal, "fields": {"TITLE": "B"}})
    await app.call("crm.deal.delete", {"id": deal})
    contact = (await app.call("crm.contact.add", {"fields": {"NAME": "C"}})).result
    await app.call("crm.contact.delete", {"id": contact})
    company = (await app.call("crm.company.add", {"fields": {"TITLE": "C"}})).result
    await app.call("crm.company.update", {"id": company, "fields": {"TITLE": "D"}})
    product = (await app.call("crm.product.add", {"fields": {"NAME": "P"}})).result
    await app.call("crm.product.delete", {"id": product})
    from relatecrm.events.models import outbox

    async with app.engine.connect() as conn:
        recorded = {row.upper() for row in (await conn.execute(select(outbox.c.event))).scalars()}
    assert recorded and recorded <= names, recorded - names


async def test_allowed_networks_come_from_the_server_settings(
    app: App, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's own Settings decide (what `serve` read at start), not the environment
    of the moment."""
    params = {"event": "onCrmDealAdd", "handler": "http://10.1.2.3:8080/in"}
    monkeypatch.setenv("RELATECRM_WEBHOOK_ALLOWED_NETWORKS", "10.1.0.0/16")
    error(await app.call("event.bind", params), 400, "ERROR_WRONG_HANDLER_URL")
    settings.webhook_allowed_networks = "10.1.0.0/16"  # the app holds this very object
    assert (await app.call("event.bind", params)).result is True
    params = {"event": "onCrmDealAdd", "handler": "http://10.2.0.1/"}
    error(await app.call("event.bind", params), 400, "ERROR_WRONG_HANDLER_URL")


async def test_bind_inside_a_batch(app: App) -> None:
    cmd = {
        "a": "event.bind?event=onCrmDealAdd&handler=https%3A%2F%2F93.184.215.14%2Fb",
        "b": "event.bind?event=ONCRMDEALADD&handler=https%3A%2F%2F93.184.215.14%2Fb",
        "c": "event.get",
    }
    result = (await app.call("batch", {"cmd": cmd})).result
    assert result["result"]["a"] is True
    assert result["result_error"]["b"]["error"] == "ERROR_HANDLER_ALREADY_EXIST"
    assert result["result"]["c"][0]["handler"] == "https://93.184.215.14/b"
