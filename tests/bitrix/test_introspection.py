"""Introspection: ``app.info``, ``profile``, ``scope``, ``methods``, ``method.get``,
``server.time``, ``feature.get``, ``user.current`` and ``user.get``.

Protocol spec §7.1 (global methods need no grant), §7.4 (shapes); b24restdocs
``api-reference/common/system/*.md``, ``common/users/profile.md``, ``user/user-*.md``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator, Sequence
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.accounts import service as accounts
from relatecrm.accounts.models import users
from relatecrm.accounts.service import Principal
from relatecrm.app import create_app
from relatecrm.bitrix import introspection
from relatecrm.bitrix.call import Call
from relatecrm.bitrix.methods import METHODS
from relatecrm.config import Settings
from relatecrm.context import Context
from relatecrm.db import transaction
from tests.conftest import RestClient, RestReply

GLOBAL = ["app.info", "profile", "scope", "methods", "method.get", "server.time", "feature.get"]
USER_KEYS = ["ID", "ACTIVE", "NAME", "LAST_NAME", "EMAIL", "DATE_REGISTER"]
REGISTERED = dt.datetime(2024, 7, 22, 23, 30, tzinfo=dt.UTC)
ISO_C = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def hook(
    rest: RestClient, db: AsyncEngine, scopes: Sequence[str], user: int = 1
) -> RestClient:
    """A client on the same app as ``rest``, through a new webhook of ``user``."""
    async with transaction(db) as conn:
        code = await accounts.create_webhook(conn, user_id=user, scopes=scopes, now=_now())
    return RestClient(rest.http, f"/rest/{user}/{code}/")


async def add_user(
    db: AsyncEngine, login: str, *, name: str = "", last_name: str = "", email: str = "",
    admin: bool = False, active: bool = True, registered: dt.datetime = REGISTERED,
) -> int:  # fmt: skip
    async with transaction(db) as conn:
        user_id = await accounts.create_user(
            conn, login=login, name=name, last_name=last_name, email=email, is_admin=admin,
            now=registered,
        )  # fmt: skip
        if not active:
            await conn.execute(update(users).where(users.c.id == user_id).values(active=False))
    return user_id


async def user_one(db: AsyncEngine) -> dict[str, Any]:
    """User 1 as user.get renders it for a ``user`` scope (the fixture keeps its record)."""
    async with transaction(db) as conn:
        row = (await conn.execute(users.select().where(users.c.id == 1))).one()
    return {
        "ID": "1", "ACTIVE": True, "NAME": row.name, "LAST_NAME": row.last_name,
        "EMAIL": row.email, "DATE_REGISTER": f"{row.date_register:%Y-%m-%d}T00:00:00+00:00",
    }  # fmt: skip


def failed(reply: RestReply, status: int, code: str) -> dict[str, Any]:
    assert reply.status == status, (reply.status, reply.body)
    assert reply.body["error"] == code, reply.body
    assert set(reply.body) == {"error", "error_description"}, reply.body
    body: dict[str, Any] = reply.body
    return body


@pytest.fixture
async def berlin(db: AsyncEngine, settings: Settings) -> AsyncIterator[RestClient]:
    """An admin webhook on a portal whose time zone is Europe/Berlin."""
    app = create_app(settings.model_copy(update={"timezone": "Europe/Berlin"}))
    async with transaction(db) as conn:
        code = await accounts.create_webhook(conn, user_id=1, scopes=["user"], now=_now())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        yield RestClient(client, f"/rest/1/{code}/")
    await app.state.engine.dispose()


# --- who may call what (spec §7.1) -----------------------------------------------------


def test_the_grant_rule_of_the_table() -> None:
    """Global methods need nothing; user methods any one of the three user scopes."""
    for name in GLOBAL:
        assert METHODS[name].scope == "basic" and METHODS[name].available_to(set())
    for name in ("user.current", "user.get"):
        method = METHODS[name]
        assert set(method.scopes) == {"user", "user_basic", "user_brief"}
        assert all(method.available_to({scope}) for scope in method.scopes)
        assert not method.available_to({"crm", "basic"}) and not method.write
    assert not METHODS["crm.deal.list"].available_to({"user"})


@pytest.mark.parametrize("scopes", [["crm"], ["user"], []], ids=["crm", "user", "none"])
async def test_global_methods_need_no_grant(
    rest: RestClient, db: AsyncEngine, scopes: list[str]
) -> None:
    client = await hook(rest, db, scopes)
    for name in GLOBAL:
        reply = await client.call(name, {"CODE": "rest_offline_extended"})
        assert reply.status == 200, (name, reply.body)
        assert list(reply.body) == ["result", "time"], (name, reply.body)


async def test_user_methods_need_a_user_scope(rest: RestClient) -> None:
    for name in ("user.current", "user.get"):
        body = failed(await rest.call(name), 403, "insufficient_scope")
        assert body["error_description"] == (
            "The request requires higher privileges than provided by the webhook token"
        )


@pytest.mark.parametrize("scope", ["user", "user_basic", "user_brief"])
async def test_each_user_scope_grants_the_user_methods(
    rest: RestClient, db: AsyncEngine, scope: str
) -> None:
    client = await hook(rest, db, [scope])
    assert (await client.call("user.current")).result["ID"] == "1"
    assert [row["ID"] for row in (await client.call("user.get")).result] == ["1"]


# --- app.info ---------------------------------------------------------------------------


async def test_app_info_for_a_webhook_is_its_scopes_and_the_license(
    rest: RestClient, db: AsyncEngine
) -> None:
    assert (await rest.call("app.info")).result == {"SCOPE": ["crm"], "LICENSE": "en_selfhosted"}
    client = await hook(rest, db, ["user_brief", "crm", "user"])
    result = (await client.call("app.info", {"ignored": [1, {"x": None}]})).result
    assert result == {"SCOPE": ["crm", "user", "user_brief"], "LICENSE": "en_selfhosted"}
    assert list(result) == ["SCOPE", "LICENSE"]
    bare = await hook(rest, db, [])
    assert (await bare.call("app.info")).result == {"SCOPE": [], "LICENSE": "en_selfhosted"}


# --- profile ----------------------------------------------------------------------------


async def test_profile_of_the_admin(rest: RestClient, db: AsyncEngine) -> None:
    one = await user_one(db)
    result = (await rest.call("profile")).result
    assert result == {
        "ID": "1", "ADMIN": True, "NAME": one["NAME"], "LAST_NAME": one["LAST_NAME"],
        "PERSONAL_GENDER": "", "TIME_ZONE": "", "TIME_ZONE_OFFSET": 0,
    }  # fmt: skip
    assert list(result) == [
        "ID", "ADMIN", "NAME", "LAST_NAME", "PERSONAL_GENDER", "TIME_ZONE", "TIME_ZONE_OFFSET"
    ]  # fmt: skip


async def test_profile_of_another_user(rest: RestClient, db: AsyncEngine) -> None:
    user_id = await add_user(db, "ann", name="Ann", last_name="Lee", email="ann@example.com")
    client = await hook(rest, db, ["crm"], user=user_id)
    result = (await client.call("profile")).result
    assert result["ID"] == str(user_id) and result["ADMIN"] is False
    assert (result["NAME"], result["LAST_NAME"]) == ("Ann", "Lee")
    assert "EMAIL" not in result


async def test_profile_offset_is_the_portal_zone(berlin: RestClient) -> None:
    offset = dt.datetime.now(ZoneInfo("Europe/Berlin")).utcoffset()
    assert offset is not None
    result = (await berlin.call("profile")).result
    assert result["TIME_ZONE_OFFSET"] == int(offset.total_seconds())
    assert result["TIME_ZONE"] == ""


async def test_profile_of_an_inactive_user_is_empty(db: AsyncEngine) -> None:
    """Webhooks of inactive users are refused before any method runs, so call the handler."""
    user_id = await add_user(db, "gone", name="Gone", active=False)
    async with transaction(db) as conn:
        ctx = Context(user_id=user_id, now=_now(), tz=dt.UTC)
        call = Call({}, conn, Principal(user_id, frozenset({"crm"}), False), ctx, 0)
        assert await introspection.profile(call) == {}


# --- user.current -----------------------------------------------------------------------


async def test_user_current_shape(rest: RestClient, db: AsyncEngine) -> None:
    user_id = await add_user(db, "bob", name="Bob", last_name="Ray", email="bob@example.com")
    client = await hook(rest, db, ["user"], user=user_id)
    result = (await client.call("user.current")).result
    assert result == {
        "ID": str(user_id), "ACTIVE": True, "NAME": "Bob", "LAST_NAME": "Ray",
        "EMAIL": "bob@example.com", "DATE_REGISTER": "2024-07-22T00:00:00+00:00",
    }  # fmt: skip
    assert list(result) == USER_KEYS


async def test_user_brief_hides_contact_details(rest: RestClient, db: AsyncEngine) -> None:
    user_id = await add_user(db, "cy", name="Cy", email="cy@example.com")
    brief = await hook(rest, db, ["user_brief"], user=user_id)
    basic = await hook(rest, db, ["user_basic"], user=user_id)
    both = await hook(rest, db, ["user_brief", "user_basic"], user=user_id)
    assert list((await brief.call("user.current")).result) == [
        "ID", "ACTIVE", "NAME", "LAST_NAME", "DATE_REGISTER"
    ]  # fmt: skip
    assert (await basic.call("user.current")).result["EMAIL"] == "cy@example.com"
    assert (await both.call("user.current")).result["EMAIL"] == "cy@example.com"
    rows = (await brief.call("user.get", {"FILTER": {"ID": user_id}})).result
    assert rows == [{"ID": str(user_id), "ACTIVE": True, "NAME": "Cy", "LAST_NAME": "",
                     "DATE_REGISTER": "2024-07-22T00:00:00+00:00"}]  # fmt: skip


async def test_date_register_is_the_day_in_the_portal_zone(
    berlin: RestClient, db: AsyncEngine
) -> None:
    """CRestUtil::convertDate: 23:30 UTC on the 22nd is the 23rd in Berlin (UTC+2)."""
    user_id = await add_user(db, "dee")
    rows = (await berlin.call("user.get", {"FILTER": {"ID": user_id}})).result
    assert rows[0]["DATE_REGISTER"] == "2024-07-23T00:00:00+02:00"


# --- user.get ---------------------------------------------------------------------------


@pytest.fixture
async def staff(rest: RestClient, db: AsyncEngine) -> tuple[RestClient, list[int]]:
    """A ``user`` webhook of user 1, and three more users (the last one inactive)."""
    january = dt.datetime(2025, 1, 5, tzinfo=dt.UTC)
    ids = [
        await add_user(db, "ann", name="Ann", last_name="Lee", email="ann@example.com"),
        await add_user(db, "bob", name="Bob", last_name="Ray", email="bob@corp.test",
                       registered=january),
        await add_user(db, "cat", name="Cat", last_name="Lee", email="cat@example.com",
                       active=False),
    ]  # fmt: skip
    return await hook(rest, db, ["user"]), ids


async def ids_of(client: RestClient, params: Any = None, **kwargs: Any) -> list[int]:
    reply = await client.call("user.get", params, **kwargs)
    return [int(row["ID"]) for row in reply.result]


async def test_user_get_lists_everyone_by_id(
    staff: tuple[RestClient, list[int]], db: AsyncEngine
) -> None:
    client, (ann, bob, cat) = staff
    reply = await client.call("user.get")
    assert [row["ID"] for row in reply.result] == ["1", str(ann), str(bob), str(cat)]
    assert list(reply.body) == ["result", "total", "time"] and reply.body["total"] == 4
    assert reply.result[0] == await user_one(db)
    assert reply.result[1] == {
        "ID": str(ann), "ACTIVE": True, "NAME": "Ann", "LAST_NAME": "Lee",
        "EMAIL": "ann@example.com", "DATE_REGISTER": "2024-07-22T00:00:00+00:00",
    }  # fmt: skip
    assert reply.result[3]["ACTIVE"] is False
    assert all(list(row) == USER_KEYS for row in reply.result)


async def test_user_get_filter_by_id(staff: tuple[RestClient, list[int]]) -> None:
    client, (ann, bob, cat) = staff
    assert await ids_of(client, {"FILTER": {"ID": bob}}) == [bob]
    assert await ids_of(client, {"filter": {"id": str(bob)}}) == [bob]
    assert await ids_of(client, {"FILTER": {"ID": [cat, ann]}}) == [ann, cat]
    assert await ids_of(client, {"FILTER": {"@ID": [cat, ann]}}) == [ann, cat]
    assert await ids_of(client, {"FILTER": {"!ID": 1}}) == [ann, bob, cat]
    assert await ids_of(client, {"FILTER": {">ID": ann}}) == [bob, cat]
    assert await ids_of(client, {"FILTER": {"<=ID": ann}}) == [1, ann]
    assert await ids_of(client, {"FILTER": {"!@ID": [1, bob]}}) == [ann, cat]
    # Without FILTER, Bitrix reads the whole query as the filter.
    assert await ids_of(client, {"ID": ann}) == [ann]
    assert await ids_of(client, form=f"FILTER[ID][]={ann}&FILTER[ID][]={cat}") == [ann, cat]
    assert await ids_of(client, get=True, form=f"ID={bob}") == [bob]


async def test_user_get_filter_by_the_other_fields(staff: tuple[RestClient, list[int]]) -> None:
    client, (ann, bob, cat) = staff
    assert await ids_of(client, {"FILTER": {"NAME": "Bob"}}) == [bob]
    assert await ids_of(client, {"FILTER": {"NAME": "bo"}}) == []  # no prefix: exact
    assert await ids_of(client, {"FILTER": {"%NAME": "ob"}}) == [bob]
    assert await ids_of(client, {"FILTER": {"LAST_NAME": "Lee"}}) == [ann, cat]
    assert await ids_of(client, {"FILTER": {"LAST_NAME": "Lee", "NAME": "Cat"}}) == [cat]
    assert await ids_of(client, {"FILTER": {"%EMAIL": "@example.com"}}) == [ann, cat]
    assert await ids_of(client, {"FILTER": {"=%EMAIL": "%corp%"}}) == [bob]
    assert await ids_of(client, {"FILTER": {"!%EMAIL": "example"}}) == [1, bob]
    january = {">=DATE_REGISTER": "2025-01-01T00:00:00+00:00", "<DATE_REGISTER": "2025-02-01"}
    assert await ids_of(client, {"FILTER": january}) == [bob]
    assert await ids_of(client, {"FILTER": {"DATE_REGISTER": "2025-01-05T01:00:00+01:00"}}) == [bob]


@pytest.mark.parametrize(
    ("value", "active"),
    [(True, True), ("Y", True), ("1", True), (1, True), ("true", True),
     (False, False), ("N", False), ("0", False), ("false", False)],
)  # fmt: skip
async def test_user_get_filter_by_active(
    staff: tuple[RestClient, list[int]], value: Any, active: bool
) -> None:
    client, (ann, bob, cat) = staff
    expected = [1, ann, bob] if active else [cat]
    assert await ids_of(client, {"FILTER": {"ACTIVE": value}}) == expected
    assert await ids_of(client, {"ACTIVE": value}) == expected
    assert await ids_of(client, {"FILTER": {"!ACTIVE": value}}) == (
        [cat] if active else [1, ann, bob]
    )


async def test_user_get_ignores_what_it_does_not_know(staff: tuple[RestClient, list[int]]) -> None:
    """Bitrix drops filter keys outside the caller's fields; LOGIN is never one of them."""
    client, (ann, bob, cat) = staff
    everyone = [1, ann, bob, cat]
    for junk in ({"LOGIN": "ann"}, {"UF_DEPARTMENT": 5}, {"IS_ADMIN": "Y"}, {"USER_TYPE": "x"},
                 {"LOGIC": "OR"}, {"0": {"ID": 1}}, {"?NAME": "Ann"}, {" ID": ann}):  # fmt: skip
        assert await ids_of(client, {"FILTER": junk}) == everyone, junk
    assert await ids_of(client, {"FILTER": []}) == everyone
    assert await ids_of(client, {"FILTER": "ID", "ID": ann}) == [ann]  # not an array: ignored
    assert await ids_of(client, {"ADMIN_MODE": True, "IMAGE_RESIZE": "small"}) == everyone


async def test_user_brief_cannot_filter_by_email(
    rest: RestClient, db: AsyncEngine, staff: tuple[RestClient, list[int]]
) -> None:
    _, (ann, bob, cat) = staff
    brief = await hook(rest, db, ["user_brief"])
    assert await ids_of(brief, {"FILTER": {"EMAIL": "ann@example.com"}}) == [1, ann, bob, cat]
    basic = await hook(rest, db, ["user_basic"])
    assert await ids_of(basic, {"FILTER": {"EMAIL": "ann@example.com"}}) == [ann]


async def test_user_get_sort_and_order(staff: tuple[RestClient, list[int]]) -> None:
    client, (ann, bob, cat) = staff
    assert await ids_of(client, {"SORT": "NAME", "ORDER": "DESC", "FILTER": {">ID": 1}}) == [
        cat, bob, ann
    ]  # fmt: skip
    assert await ids_of(client, {"sort": "last_name", "order": "asc", "FILTER": {">ID": 1}}) == [
        ann, cat, bob
    ]  # fmt: skip
    assert await ids_of(client, {"SORT": "LOGIN", "ORDER": "DESC", "FILTER": {">ID": 1}}) == [
        cat, bob, ann
    ]  # fmt: skip
    # Both are needed; either alone keeps the ID order.
    assert await ids_of(client, {"SORT": "NAME"}) == [1, ann, bob, cat]
    assert await ids_of(client, {"ORDER": "DESC"}) == [1, ann, bob, cat]
    bad_orders = [
        {"SORT": "PASSWORD", "ORDER": "ASC"},
        {"SORT": ["ID"], "ORDER": "ASC"},
        {"SORT": "ID", "ORDER": "sideways"},
        {"SORT": "ID", "ORDER": ["ASC"]},
    ]
    for params in bad_orders:
        failed(await client.call("user.get", params), 400, "INVALID_ARG_VALUE")


async def test_user_get_select(staff: tuple[RestClient, list[int]]) -> None:
    client, (ann, _, _) = staff
    rows = (await client.call("user.get", {"FILTER": {"ID": ann}, "SELECT": ["NAME", "ID"]})).result
    assert rows == [{"ID": str(ann), "NAME": "Ann"}]
    rows = (await client.call("user.get", {"FILTER": {"ID": ann}, "select": ["*"]})).result
    assert list(rows[0]) == USER_KEYS
    rows = (await client.call("user.get", {"FILTER": {"ID": ann}, "select": ["login"]})).result
    assert rows == [[]]  # nothing the scope shows: an empty object (PHP: [])


async def test_user_get_pages(rest: RestClient, db: AsyncEngine) -> None:
    for n in range(55):
        await add_user(db, f"u{n:02d}")
    client = await hook(rest, db, ["user"])
    first = await client.call("user.get")
    assert len(first.result) == 50 and first.body["next"] == 50 and first.body["total"] == 56
    assert list(first.body) == ["result", "next", "total", "time"]
    last = await client.call("user.get", {"start": 50})
    assert len(last.result) == 6 and "next" not in last.body and last.body["total"] == 56
    # ORM paging: the offset is exactly `start`, not rounded to a page.
    odd = await client.call("user.get", {"start": 3})
    assert odd.result[0]["ID"] == first.result[3]["ID"]
    assert odd.body["next"] == 53 and odd.body["total"] == 56
    tail = await client.call("user.get", {"start": 7})
    assert len(tail.result) == 49 and "next" not in tail.body and tail.body["total"] == 56
    uncounted = await client.call("user.get", {"start": -1})
    assert len(uncounted.result) == 50 and uncounted.body["total"] == 0
    assert "next" not in uncounted.body


async def test_user_get_with_nothing_found_has_no_total(
    staff: tuple[RestClient, list[int]],
) -> None:
    client, _ = staff
    for params in ({"FILTER": {"ID": 999_999}}, {"start": 500}, {"FILTER": {"ID": []}}):
        reply = await client.call("user.get", params)
        assert reply.status == 200 and reply.body["result"] == []
        assert list(reply.body) == ["result", "time"], params


@pytest.mark.parametrize(
    "bad",
    [{"ID": "abc"}, {"ID": 2**40}, {"ID": {"a": {"b": 1}}}, {"ACTIVE": "maybe"},
     {"ACTIVE": [[1]]}, {"NAME": "a\x00b"}, {"%NAME": "a\x00b"}, {"NAME": ["x", {"y": 1}]},
     {">DATE_REGISTER": "yesterday"}, {">DATE_REGISTER": "9999-12-31T23:59:59-12:00"},
     {">NAME": ["a"]}],
)  # fmt: skip
async def test_user_get_bad_values_are_clear_errors(
    staff: tuple[RestClient, list[int]], bad: dict[str, Any]
) -> None:
    client, _ = staff
    body = failed(await client.call("user.get", {"FILTER": bad}), 400, "INVALID_ARG_VALUE")
    assert body["error_description"].startswith("Invalid filter: field '")


# --- scope ------------------------------------------------------------------------------


async def test_scope_lists_the_callers_scopes(rest: RestClient, db: AsyncEngine) -> None:
    assert (await rest.call("scope")).result == ["crm"]
    client = await hook(rest, db, ["user", "crm", "user_brief"])
    assert (await client.call("scope")).result == ["crm", "user", "user_brief"]
    assert (await (await hook(rest, db, [])).call("scope")).result == []


ALL_SCOPES = ["crm", "user", "user_basic", "user_brief"]


@pytest.mark.parametrize("key", ["full", "FULL", "Full"])
@pytest.mark.parametrize("value", [True, "true", "Y", 1, "1", "yes"])
async def test_scope_full_lists_every_scope(rest: RestClient, key: str, value: Any) -> None:
    assert (await rest.call("scope", {key: value})).result == ALL_SCOPES


@pytest.mark.parametrize("value", [False, "false", "N", 0, "0", "", None, "no", [], {}])
async def test_scope_full_off(rest: RestClient, value: Any) -> None:
    assert (await rest.call("scope", {"full": value})).result == ["crm"]


async def test_scope_full_in_forms_and_queries(rest: RestClient) -> None:
    assert (await rest.call("scope", form="full=1")).result == ALL_SCOPES
    assert (await rest.call("scope", get=True, form="full=true")).result == ALL_SCOPES
    assert (await rest.call("scope", get=True, form="full=0")).result == ["crm"]
    assert (await rest.call("scope", get=True, form="ſull=1")).result == ["crm"]


def test_all_scopes_are_those_of_the_method_table() -> None:
    used = {scope for method in METHODS.values() for scope in method.scopes}
    assert ALL_SCOPES == sorted(used - {"basic"})


# --- methods ----------------------------------------------------------------------------


def _available(scopes: set[str]) -> list[str]:
    """The table's names a caller with ``scopes`` may call, by the rule of spec §7.1."""
    return [
        name for name, method in METHODS.items()
        if method.scope == "basic" or scopes & set(method.scopes)
    ]  # fmt: skip


async def test_methods_lists_exactly_what_the_caller_may_call(
    rest: RestClient, db: AsyncEngine
) -> None:
    listed = (await rest.call("methods")).result
    assert listed == _available({"crm"})
    assert set(GLOBAL) <= set(listed) and "crm.deal.list" in listed
    assert "user.get" not in listed and "user.current" not in listed
    assert all(name == name.lower() for name in listed)
    brief = (await (await hook(rest, db, ["user_brief"])).call("methods")).result
    assert brief == _available({"user_brief"})
    assert "user.get" in brief and "crm.deal.list" not in brief
    bare = (await (await hook(rest, db, [])).call("methods")).result
    assert bare == [name for name, method in METHODS.items() if method.scope == "basic"]


async def test_methods_full_and_scope(rest: RestClient) -> None:
    assert (await rest.call("methods", {"full": True})).result == list(METHODS)
    assert (await rest.call("methods", {"FULL": "Y"})).result == list(METHODS)
    crm = (await rest.call("methods", {"scope": "crm"})).result
    assert crm == [name for name, method in METHODS.items() if method.scope == "crm"]
    basic = [name for name, method in METHODS.items() if method.scope == "basic"]
    assert set(GLOBAL) <= set(basic)
    assert (await rest.call("methods", {"scope": ""})).result == basic
    assert (await rest.call("methods", get=True, form="scope=")).result == basic
    assert (await rest.call("methods", {"scope": "basic"})).result == basic
    assert (await rest.call("methods", {"SCOPE": "user_brief"})).result == [
        "user.current", "user.get"
    ]  # fmt: skip
    # `scope` wins over `full`; a scope nobody has, or a non-string one, lists nothing.
    assert (await rest.call("methods", {"scope": "crm", "full": True})).result == crm
    for scope in ("task", ["crm"], {"a": "crm"}, 5):
        assert (await rest.call("methods", {"scope": scope})).result == [], scope
    assert (await rest.call("methods", {"scope": None})).result == _available({"crm"})


# --- method.get -------------------------------------------------------------------------


async def method_get(client: RestClient, params: Any) -> dict[str, bool]:
    result: dict[str, bool] = (await client.call("method.get", params)).result
    assert list(result) == ["isExisting", "isAvailable"]
    return result


async def test_method_get(rest: RestClient, db: AsyncEngine) -> None:
    yes = {"isExisting": True, "isAvailable": True}
    hidden = {"isExisting": True, "isAvailable": False}
    no = {"isExisting": False, "isAvailable": False}
    assert await method_get(rest, {"name": "crm.deal.list"}) == yes
    assert await method_get(rest, {"name": "server.time"}) == yes
    assert await method_get(rest, {"name": "user.get"}) == hidden
    assert await method_get(rest, {"name": "crm.lead.list"}) == no
    assert await method_get(rest, {"name": "crm.deal.List"}) == yes  # the endpoint's look-up
    brief = await hook(rest, db, ["user_brief"])
    assert await method_get(brief, {"name": "user.get"}) == yes
    assert await method_get(brief, {"name": "crm.deal.add"}) == hidden


@pytest.mark.parametrize(
    "params",
    [{}, {"name": ""}, {"name": "0"}, {"name": None}, {"NAME": "crm.deal.list"},
     {"Name": "crm.deal.list"}, {"name": ["crm.deal.list"]}, {"name": {"a": 1}}, {"name": 5}],
)  # fmt: skip
async def test_method_get_without_a_usable_name(rest: RestClient, params: Any) -> None:
    assert await method_get(rest, params) == {"isExisting": False, "isAvailable": False}


# --- server.time ------------------------------------------------------------------------


async def test_server_time(rest: RestClient) -> None:
    before = _now().replace(microsecond=0)
    result = (await rest.call("server.time")).result
    after = _now()
    assert isinstance(result, str) and ISO_C.match(result), result
    assert result.endswith("+00:00")
    assert before <= dt.datetime.fromisoformat(result) <= after


async def test_server_time_in_the_portal_zone(berlin: RestClient) -> None:
    result = (await berlin.call("server.time")).result
    parsed = dt.datetime.fromisoformat(result)
    assert ISO_C.match(result) and abs((parsed - _now()).total_seconds()) < 60
    assert parsed.utcoffset() == parsed.astimezone(ZoneInfo("Europe/Berlin")).utcoffset()


# --- feature.get ------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["CODE", "code", "Code"])
@pytest.mark.parametrize("code", ["rest_auth_connector", "nope", "1"])
async def test_feature_get(rest: RestClient, key: str, code: str) -> None:
    assert (await rest.call("feature.get", {key: code})).result == {"value": "N"}


async def test_offline_events_are_a_feature(rest: RestClient) -> None:
    reply = await rest.call("feature.get", {"CODE": "rest_offline_extended"})
    assert reply.result == {"value": "Y"}


@pytest.mark.parametrize("params", [{}, {"CODE": ""}, {"CODE": "0"}, {"CODE": None},
                                    {"CODE": []}, {"CODE": 0}, {"CODE": False}])  # fmt: skip
async def test_feature_get_without_code(rest: RestClient, params: Any) -> None:
    reply = await rest.call("feature.get", params)
    assert reply.status == 400
    assert reply.body == {"error": "CODE_EMPTY", "error_description": "CODE can't be empty"}


async def test_feature_get_odd_codes(rest: RestClient) -> None:
    for code in (["rest_offline_extended"], {"a": "b"}, 5, True):
        assert (await rest.call("feature.get", {"CODE": code})).result == {"value": "N"}


def test_every_documented_feature_is_known() -> None:
    assert set(introspection.FEATURES) == {"rest_offline_extended", "rest_auth_connector"}


# --- bad input is never a 500 -----------------------------------------------------------

JUNK: list[Any] = [None, "", "0", "\x00", "ſ", 2**70, -1, 1.5, [], {}, [[{}]], {"a": {"b": [1]}},
                   "x" * 5000]  # fmt: skip
NAMES = ["full", "FULL", "scope", "name", "CODE", "FILTER", "ID", "SORT", "ORDER", "SELECT",
         "start", "ACTIVE", "NAME", "DATE_REGISTER"]  # fmt: skip


@pytest.mark.parametrize("method", [*GLOBAL, "user.current", "user.get"])
async def test_junk_is_never_a_500(rest: RestClient, db: AsyncEngine, method: str) -> None:
    client = await hook(rest, db, ["crm", "user"])
    for value in JUNK:
        params = {name: value for name in NAMES}
        params["FILTER"] = {name: value for name in NAMES}
        reply = await client.call(method, params)
        assert reply.status in (200, 400), (method, value, reply.status, reply.body)
        assert "error" in reply.body or "result" in reply.body
