"""Roles through the real app: the BOLA/BFLA matrix (reliability.md A2, API1/API5).

Ann and Bob hold the same "own everything" role, so their deals are disjoint; Nobody
holds a role with no rights, Everyone one with all rights; user 1 is the administrator.
For every deal method (crm.deal.*, product rows, contact links, crm.item.*,
crm.item.productrow.*, crm.stagehistory.list), alone and as batch commands: a foreign
row is never returned nor changed (the database is compared after each refused write),
lists and their totals hold only readable rows, "none" is Access denied, "all" and the
administrator see everything. Contacts and companies likewise.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.accounts import oauth, permissions
from relatecrm.accounts import service as accounts
from relatecrm.db import transaction
from tests.conftest import RestClient, RestReply, _now, count_rows

ANN, BOB, NOBODY, EVERYONE = "ann", "bob", "nobody", "everyone"
DENIED = {"error": "", "error_description": "Access denied."}
ITEM_DENIED = {"error": "ACCESS_DENIED", "error_description": "Access denied"}
LINK_DENIED = {"error": "ACCESS_DENIED", "error_description": "Access denied!"}


@dataclass
class World:
    admin: RestClient
    uid: dict[str, int]  # login -> user id
    users: dict[str, RestClient]
    deals: dict[str, int]  # owner -> a deal assigned to them, with rows and a contact link
    rows: dict[str, int]  # owner -> a product row of that deal
    contacts: dict[str, int]  # owner -> a contact assigned to them
    companies: dict[str, int]


async def _role(conn: Any, name: str, *grants: str) -> int:
    expanded = permissions.expand(permissions.parse_grant(text) for text in grants)
    return await permissions.create_role(conn, name, expanded)


@pytest.fixture
async def world(db: AsyncEngine, rest: RestClient) -> AsyncIterator[World]:
    clients: dict[str, RestClient] = {}
    uid: dict[str, int] = {}
    async with transaction(db) as conn:
        await _role(conn, "own", "*:*:own")
        await _role(conn, "nothing")
        await _role(conn, "everything", "*:*:all")
        for login, role in ((ANN, "own"), (BOB, "own"), (NOBODY, "nothing"),
                            (EVERYONE, "everything")):  # fmt: skip
            user_id = uid[login] = await accounts.create_user(conn, login=login, now=_now())
            await permissions.assign_role(conn, user_id, role)
            code = await accounts.create_webhook(conn, user_id=user_id, scopes=["crm"], now=_now())
            clients[login] = RestClient(rest.http, f"/rest/{user_id}/{code}/")
    world = World(rest, uid, clients, {}, {}, {}, {})
    for owner in (ANN, BOB):
        contact = (await rest.call("crm.contact.add", {"fields": {"NAME": f"c{owner}",
                   "ASSIGNED_BY_ID": uid[owner]}})).result  # fmt: skip
        company = (await rest.call("crm.company.add", {"fields": {"TITLE": f"co{owner}",
                   "ASSIGNED_BY_ID": uid[owner]}})).result  # fmt: skip
        fields = {"TITLE": f"deal of {owner}", "ASSIGNED_BY_ID": uid[owner]}
        fields["CONTACT_IDS"] = [contact]
        deal = (await rest.call("crm.deal.add", {"fields": fields})).result
        rows = [{"PRODUCT_NAME": "p", "PRICE": 10, "QUANTITY": 2}]
        assert (await rest.call("crm.deal.productrows.set", {"id": deal, "rows": rows})).result
        listed = await rest.call("crm.item.productrow.list",
                                 {"filter": {"=ownerType": "D", "=ownerId": deal}})  # fmt: skip
        world.rows[owner] = listed.result["productRows"][0]["id"]
        world.deals[owner], world.contacts[owner], world.companies[owner] = deal, contact, company
    yield world


def denied(reply: RestReply, body: dict[str, str] = DENIED) -> None:
    assert (reply.status, reply.body) == (400, body), reply.body


async def deal_state(world: World, deal_id: int) -> Any:
    """Everything a write could change about a deal, read as the administrator."""
    admin = world.admin
    return (
        (await admin.call("crm.deal.get", {"id": deal_id})).result,
        (await admin.call("crm.deal.productrows.get", {"id": deal_id})).result,
        (await admin.call("crm.deal.contact.items.get", {"id": deal_id})).result,
    )


def foreign_deal_calls(world: World) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """Every deal method aimed at Bob's deal, with the refusal each must give Ann."""
    deal, row, contact = world.deals[BOB], world.rows[BOB], world.contacts[ANN]
    item = {"entityTypeId": 2, "id": deal}
    return [
        ("crm.deal.get", {"id": deal}, DENIED),
        ("crm.deal.update", {"id": deal, "fields": {"TITLE": "stolen"}}, DENIED),
        ("crm.deal.delete", {"id": deal}, DENIED),
        ("crm.deal.productrows.get", {"id": deal}, DENIED),
        ("crm.deal.productrows.set", {"id": deal, "rows": [{"PRODUCT_NAME": "x"}]}, DENIED),
        ("crm.deal.contact.items.get", {"id": deal}, LINK_DENIED),
        (
            "crm.deal.contact.items.set",
            {"id": deal, "items": [{"CONTACT_ID": contact}]},
            LINK_DENIED,
        ),
        ("crm.deal.contact.items.delete", {"id": deal}, LINK_DENIED),
        ("crm.deal.contact.add", {"id": deal, "fields": {"CONTACT_ID": contact}}, LINK_DENIED),
        ("crm.deal.contact.delete", {"id": deal, "fields": {"CONTACT_ID": contact}}, LINK_DENIED),
        ("crm.item.get", item, ITEM_DENIED),
        ("crm.item.update", {**item, "fields": {"title": "stolen"}}, ITEM_DENIED),
        ("crm.item.delete", item, ITEM_DENIED),
        ("crm.item.productrow.get", {"id": row}, ITEM_DENIED),
        ("crm.item.productrow.update", {"id": row, "fields": {"price": 1}}, ITEM_DENIED),
        ("crm.item.productrow.delete", {"id": row}, ITEM_DENIED),
        (
            "crm.item.productrow.add",
            {"fields": {"ownerType": "D", "ownerId": deal, "productName": "x", "price": 1}},
            ITEM_DENIED,
        ),
        (
            "crm.item.productrow.set",
            {"ownerType": "D", "ownerId": deal, "productRows": [{"productName": "x"}]},
            ITEM_DENIED,
        ),
        (
            "crm.item.productrow.list",
            {"filter": {"=ownerType": "D", "=ownerId": deal}},
            ITEM_DENIED,
        ),
    ]


async def test_no_deal_method_returns_or_changes_a_foreign_deal(world: World) -> None:
    ann, bob = world.users[ANN], world.users[BOB]
    before = await deal_state(world, world.deals[BOB])
    for method, params, body in foreign_deal_calls(world):
        denied(await ann.call(method, params), body)
    assert await deal_state(world, world.deals[BOB]) == before
    # Bob still has full use of his own deal, and Ann of hers.
    assert (await bob.call("crm.deal.get", {"id": world.deals[BOB]})).result["TITLE"] == (
        f"deal of {BOB}"
    )
    assert await ann.call("crm.deal.update", {"id": world.deals[ANN], "fields": {"TITLE": "x"}})
    assert (await ann.call("crm.deal.productrows.get", {"id": world.deals[ANN]})).result
    item = await ann.call("crm.item.get", {"entityTypeId": 2, "id": world.deals[ANN]})
    assert item.result["item"]["title"] == "x"
    row = await ann.call("crm.item.productrow.get", {"id": world.rows[ANN]})
    assert row.result["productRow"]["ownerId"] == world.deals[ANN]


async def test_foreign_rows_are_refused_as_batch_commands_too(world: World) -> None:
    ann = world.users[ANN]
    before = await deal_state(world, world.deals[BOB])
    calls = foreign_deal_calls(world)
    cmd = {f"c{index}": f"{method}?{_query(params)}" for index, (method, params, _) in
           enumerate(calls)}  # fmt: skip
    cmd["mine"] = "crm.deal.list?" + _query({"select": ["ID"]})
    cmd["items"] = "crm.item.list?" + _query({"entityTypeId": 2, "select": ["id"]})
    reply = await ann.call("batch", {"halt": 0, "cmd": cmd})
    maps = reply.result
    for index, (method, _, body) in enumerate(calls):
        assert maps["result_error"][f"c{index}"] == body, method
        assert f"c{index}" not in maps["result"]
    assert [row["ID"] for row in maps["result"]["mine"]] == [str(world.deals[ANN])]
    assert [item["id"] for item in maps["result"]["items"]["items"]] == [world.deals[ANN]]
    assert maps["result_total"] == {"mine": 1, "items": 1}
    assert await deal_state(world, world.deals[BOB]) == before


def _query(params: dict[str, Any]) -> str:
    """PHP-style query string of nested params, as batch commands carry them."""
    flat: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}[{key}]", item)
        elif isinstance(value, list):
            if not value:
                flat.append((prefix, ""))
            for index, item in enumerate(value):
                walk(f"{prefix}[{index}]", item)
        else:
            flat.append((prefix, str(value)))

    for key, value in params.items():
        walk(key, value)
    return urlencode(flat)


async def _ids(client: RestClient, method: str, params: dict[str, Any]) -> tuple[list[int], int]:
    reply = await client.call(method, params)
    if method == "crm.item.list":
        return [item["id"] for item in reply.result["items"]], reply.body["total"]
    return [int(row["ID"]) for row in reply.result], reply.body["total"]


async def test_lists_and_totals_hold_only_readable_deals(world: World) -> None:
    """60 more deals for Bob: his total needs a COUNT, which must apply the predicate too."""
    for chunk in range(2):
        cmd = {f"d{i}": f"crm.deal.add?fields[TITLE]=b&fields[ASSIGNED_BY_ID]={world.uid[BOB]}"
               for i in range(chunk * 30, chunk * 30 + 30)}  # fmt: skip
        assert not (await world.admin.call("batch", {"cmd": cmd})).result["result_error"]
    ann, bob = world.users[ANN], world.users[BOB]
    for method, params in (
        ("crm.deal.list", {"select": ["ID"]}),
        ("crm.item.list", {"entityTypeId": 2, "select": ["id"]}),
    ):
        assert await _ids(ann, method, params) == ([world.deals[ANN]], 1)
        # A filter naming Bob's deal finds nothing for Ann, whatever it asks.
        by_id = {"ID": world.deals[BOB]} if method == "crm.deal.list" else {"id": world.deals[BOB]}
        assert await _ids(ann, method, {**params, "filter": by_id}) == ([], 0)
        ids, total = await _ids(bob, method, params)
        assert total == 61 and len(ids) == 50 and world.deals[ANN] not in ids
        ids, total = await _ids(bob, method, {**params, "start": 50})
        assert total == 61 and len(ids) == 11 and world.deals[ANN] not in ids
        for everyone in (world.admin, world.users[EVERYONE]):
            assert (await _ids(everyone, method, params))[1] == 62
    history = await ann.call("crm.stagehistory.list", {"entityTypeId": 2})
    assert {item["OWNER_ID"] for item in history.result["items"]} == {world.deals[ANN]}
    assert history.body["total"] == 1


async def test_own_writes_stay_own(world: World, db: AsyncEngine) -> None:
    """With "own", a deal cannot be created for, nor handed over to, someone else."""
    ann = world.users[ANN]
    deals_before = await count_rows(db, "deals")
    bob = world.uid[BOB]
    denied(await ann.call("crm.deal.add", {"fields": {"TITLE": "t", "ASSIGNED_BY_ID": bob}}))
    item = {"entityTypeId": 2, "fields": {"assignedById": bob}}
    denied(await ann.call("crm.item.add", item), ITEM_DENIED)
    assert await count_rows(db, "deals") == deals_before
    created = (await ann.call("crm.deal.add", {"fields": {"TITLE": "mine"}})).result
    got = (await ann.call("crm.deal.get", {"id": created})).result
    assert got["ASSIGNED_BY_ID"] == got["CREATED_BY_ID"] == str(world.uid[ANN])
    before = await deal_state(world, world.deals[ANN])
    move = {"id": world.deals[ANN], "fields": {"TITLE": "gone", "ASSIGNED_BY_ID": world.uid[BOB]}}
    denied(await ann.call("crm.deal.update", move))
    assert await deal_state(world, world.deals[ANN]) == before
    keep = {"id": created, "fields": {"ASSIGNED_BY_ID": str(world.uid[ANN]), "TITLE": "k"}}
    assert (await ann.call("crm.deal.update", keep)).result is True
    assert (await ann.call("crm.deal.delete", {"id": created})).result is True


async def test_none_is_access_denied_and_all_sees_everything(world: World) -> None:
    nobody, everyone = world.users[NOBODY], world.users[EVERYONE]
    for method, params, _ in foreign_deal_calls(world):
        assert (await nobody.call(method, params)).status == 400, method
    denied(await nobody.call("crm.deal.list", {}))
    denied(await nobody.call("crm.deal.add", {"fields": {"TITLE": "t"}}))
    denied(await nobody.call("crm.item.list", {"entityTypeId": 2}), ITEM_DENIED)
    denied(await nobody.call("crm.stagehistory.list", {"entityTypeId": 2}))
    for method in ("crm.contact.list", "crm.company.list"):
        denied(await nobody.call(method, {}))
    # A deal that does not exist is still Access denied without any right: nothing leaks.
    denied(await nobody.call("crm.deal.get", {"id": 999999}))
    for owner in (ANN, BOB):
        got = await everyone.call("crm.deal.get", {"id": world.deals[owner]})
        assert got.result["ASSIGNED_BY_ID"] == str(world.uid[owner])
        upd = {"id": world.deals[owner], "fields": {"TITLE": "by everyone"}}
        assert (await everyone.call("crm.deal.update", upd)).result is True


async def test_mixed_levels(world: World, db: AsyncEngine) -> None:
    """Read all, update own, no delete: each method follows its own action."""
    async with transaction(db) as conn:
        await _role(conn, "reader", "deal:read:all", "deal:update:own", "deal:add:own")
        await permissions.assign_role(conn, world.uid[ANN], "reader")
    ann = world.users[ANN]
    assert (await ann.call("crm.deal.get", {"id": world.deals[BOB]})).status == 200
    assert (await ann.call("crm.deal.productrows.get", {"id": world.deals[BOB]})).status == 200
    assert len((await ann.call("crm.deal.list", {})).result) == 2
    before = await deal_state(world, world.deals[BOB])
    denied(await ann.call("crm.deal.update", {"id": world.deals[BOB], "fields": {"TITLE": "x"}}))
    denied(await ann.call("crm.deal.productrows.set", {"id": world.deals[BOB], "rows": []}))
    denied(await ann.call("crm.deal.delete", {"id": world.deals[ANN]}))
    assert await deal_state(world, world.deals[BOB]) == before
    # Contacts were not granted at all in this role.
    denied(await ann.call("crm.contact.get", {"id": world.contacts[ANN]}))


@pytest.mark.parametrize("entity", ["contact", "company"])
async def test_clients_follow_their_own_rights(world: World, entity: str) -> None:
    ann = world.users[ANN]
    mine, theirs = (
        (world.contacts if entity == "contact" else world.companies)[ANN],
        (world.contacts if entity == "contact" else world.companies)[BOB],
    )
    before = (await world.admin.call(f"crm.{entity}.get", {"id": theirs})).result
    denied(await ann.call(f"crm.{entity}.get", {"id": theirs}))
    denied(await ann.call(f"crm.{entity}.update", {"id": theirs, "fields": {"COMMENTS": "x"}}))
    denied(await ann.call(f"crm.{entity}.delete", {"id": theirs}))
    assert (await world.admin.call(f"crm.{entity}.get", {"id": theirs})).result == before
    listed = await ann.call(f"crm.{entity}.list", {"select": ["ID"]})
    assert [int(row["ID"]) for row in listed.result] == [mine] and listed.body["total"] == 1
    filtered = await ann.call(f"crm.{entity}.list", {"filter": {"ID": theirs}})
    assert filtered.result == [] and filtered.body["total"] == 0
    reply = await ann.call("batch", {"cmd": {"g": f"crm.{entity}.get?id={theirs}"}})
    assert reply.result["result_error"]["g"] == DENIED
    assert (await ann.call(f"crm.{entity}.get", {"id": mine})).status == 200
    field = "NAME" if entity == "contact" else "TITLE"
    add = {"fields": {field: "n", "ASSIGNED_BY_ID": world.uid[BOB]}}
    denied(await ann.call(f"crm.{entity}.add", add))
    give = {"id": mine, "fields": {"ASSIGNED_BY_ID": world.uid[BOB]}}
    denied(await ann.call(f"crm.{entity}.update", give))
    keep = {"id": mine, "fields": {"ASSIGNED_BY_ID": str(world.uid[ANN])}}
    assert (await ann.call(f"crm.{entity}.update", keep)).result is True
    assert (await ann.call(f"crm.{entity}.delete", {"id": mine})).result is True
    everyone = await world.users[EVERYONE].call(f"crm.{entity}.list", {})
    assert everyone.body["total"] == 1  # Ann's is gone; Bob's remains


async def test_an_oauth_token_acts_with_its_users_rights(world: World, db: AsyncEngine) -> None:
    """An application's token is the approving user's: Ann's token sees only Ann's deals."""
    lifetimes = oauth.Lifetimes()
    async with transaction(db) as conn:
        app, secret = await oauth.create_app(
            conn, title="t", scopes=["crm"], redirect_url="https://app.example/cb", now=_now()
        )
        code = await oauth.issue_code(
            conn, app, user_id=world.uid[ANN], now=_now(), lifetimes=lifetimes
        )
        grant = await oauth.exchange_code(
            conn,
            client_id=app.client_id,
            client_secret=secret,
            code=code,
            now=_now(),
            lifetimes=lifetimes,
        )
    assert isinstance(grant, oauth.TokenGrant)
    token = RestClient(world.admin.http, "/rest/")
    auth = {"auth": grant.access_token}
    listed = await token.call("crm.deal.list", {**auth, "select": ["ID"]})
    assert [int(row["ID"]) for row in listed.result] == [world.deals[ANN]]
    denied(await token.call("crm.deal.get", {**auth, "id": world.deals[BOB]}))
