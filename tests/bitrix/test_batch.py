"""``batch`` through the real app: the bodies real clients send (spec §10), references,
halt, limits, per-command transactions and the PHP rendering of the five result maps.

Reference resolution and the small parsing rules are also tested without a database at
the end of the file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.accounts import service as accounts
from relatecrm.app import create_app
from relatecrm.bitrix.batch import (
    Earlier,
    php_array,
    read_commands,
    read_halt,
    split_command,
)
from relatecrm.bitrix.errors import ArgumentError
from relatecrm.config import Settings
from relatecrm.db import transaction
from tests.conftest import RestClient, count_rows

MAPS = ["result", "result_error", "result_total", "result_next", "result_time"]
TIME_KEYS = {"start", "finish", "duration", "processing", "date_start", "date_finish"}
LENGTH_EXCEEDED = {
    "error": "ERROR_BATCH_LENGTH_EXCEEDED",
    "error_description": "Max batch length exceeded",
}
NOT_ALLOWED = {
    "error": "ERROR_BATCH_METHOD_NOT_ALLOWED",
    "error_description": "Method is not allowed for batch usage",
}
NOT_FOUND = {"error": "", "error_description": "Not found."}
BAD_ID = {"error": "", "error_description": "ID is not defined or invalid."}


async def batch(rest: RestClient, body: dict[str, Any]) -> dict[str, Any]:
    """The five maps of a batch reply, after checking the envelope around them."""
    reply = await rest.call("batch", body)
    assert reply.status == 200, reply.body
    assert list(reply.body) == ["result", "time"]
    assert TIME_KEYS <= set(reply.body["time"])
    maps: dict[str, Any] = reply.body["result"]
    assert list(maps) == MAPS
    return maps


async def add_deals(rest: RestClient, count: int, title: str = "bulk") -> list[int]:
    """``count`` deals, added 50 at a time through batch itself."""
    ids: list[int] = []
    for first in range(0, count, 50):
        cmd = {
            f"d{n}": f"crm.deal.add?fields[TITLE]={title}%20{n:03d}"
            for n in range(first, min(first + 50, count))
        }
        maps = await batch(rest, {"halt": 1, "cmd": cmd})
        assert maps["result_error"] == []
        ids.extend(maps["result"].values())
    return ids


async def add_contact(rest: RestClient, name: str) -> int:
    contact_id: int = (await rest.call("crm.contact.add", {"fields": {"NAME": name}})).result
    return contact_id


# ---- what each client sends -------------------------------------------------------------


async def test_b24jssdk_array_cmd_renders_lists(rest: RestClient) -> None:
    deal = (await add_deals(rest, 1))[0]
    first, second = await add_contact(rest, "A"), await add_contact(rest, "B")
    # Verbatim from spec §10.3, with this database's ids.
    body = {
        "halt": 0,
        "cmd": [
            f"crm.deal.update?id={deal}&fields%5BTITLE%5D=a%20b%26c&fields%5BOPENED%5D=true"
            f"&fields%5BCONTACT_IDS%5D%5B0%5D={first}&fields%5BCONTACT_IDS%5D%5B1%5D={second}"
            "&fields%5BX%5D=",
            "crm.deal.list?start=50&filter%5B%3DSTAGE_ID%5D=NEW",
        ],
    }

    maps = await batch(rest, body)

    # Labels 0..n-1 make PHP lists; a map holding only label 1 stays an object.
    assert maps["result"] == [True, []]
    assert maps["result_error"] == []
    assert maps["result_total"] == {"1": 1}
    assert maps["result_next"] == []
    assert isinstance(maps["result_time"], list) and len(maps["result_time"]) == 2
    got = (await rest.call("crm.deal.get", {"id": deal})).result
    assert (got["TITLE"], got["OPENED"]) == ("a b&c", "Y")
    contacts = (await rest.call("crm.deal.contact.items.get", {"id": deal})).result
    assert [row["CONTACT_ID"] for row in contacts] == [first, second]


async def test_b24jssdk_named_cmd_with_reference(rest: RestClient) -> None:
    ids = await add_deals(rest, 2)
    body = {
        "halt": 1,
        "cmd": {"a": "crm.deal.list?", "b": "crm.deal.get?id=%24result%5Ba%5D%5B0%5D%5BID%5D"},
    }

    maps = await batch(rest, body)

    assert [row["ID"] for row in maps["result"]["a"]] == [str(i) for i in ids]
    assert maps["result"]["b"]["ID"] == str(ids[0])
    assert maps["result_total"] == {"a": 2}


async def test_fast_bitrix24_get_all_pages(rest: RestClient) -> None:
    ids = await add_deals(rest, 120)
    query = "crm.deal.list?select[0]=ID&select[1]=TITLE&filter[%3EID]=0&filter[STAGE_ID]=NEW"
    body = {
        "halt": 0,
        "cmd": {
            "cmd0000000000": f"{query}&order[ID]=ASC&start=50&",
            "cmd0000000001": f"{query}&order[ID]=ASC&start=100&",
        },
    }

    maps = await batch(rest, body)

    pages = maps["result"]
    assert [int(row["ID"]) for row in pages["cmd0000000000"]] == ids[50:100]
    assert [int(row["ID"]) for row in pages["cmd0000000001"]] == ids[100:]
    assert set(pages["cmd0000000001"][0]) == {"ID", "TITLE"}
    assert maps["result_total"] == {"cmd0000000000": 120, "cmd0000000001": 120}
    assert maps["result_next"] == {"cmd0000000000": 100}  # none for the last page
    assert maps["result_error"] == []


async def test_fast_bitrix24_call_with_order_label_and_python_spellings(rest: RestClient) -> None:
    deal = (await add_deals(rest, 1))[0]
    first, second = await add_contact(rest, "A"), await add_contact(rest, "B")
    command = (
        f"crm.deal.update?__order=order0000000000&id={deal}&fields[TITLE]=a%20b%26c"
        f"&fields[OPENED]=True&fields[CONTACT_IDS][0]={first}&fields[CONTACT_IDS][1]={second}"
        "&fields[X]=None&"
    )

    maps = await batch(rest, {"halt": 0, "cmd": {"order0000000000": command}})

    assert maps["result"] == {"order0000000000": True}
    got = (await rest.call("crm.deal.get", {"id": deal})).result
    assert (got["TITLE"], got["OPENED"]) == ("a b&c", "Y")


async def test_fast_bitrix24_get_by_id_labels(rest: RestClient) -> None:
    ids = await add_deals(rest, 2)

    maps = await batch(rest, {"halt": 0, "cmd": {str(i): f"crm.deal.get?ID={i}" for i in ids}})

    assert list(maps["result"]) == [str(i) for i in ids]
    assert maps["result"][str(ids[1])]["ID"] == str(ids[1])


async def test_every_command_failing_with_labels_0_and_1(rest: RestClient) -> None:
    # The shape of fast_bitrix24's real capture crm_get_batch_of_two_error (Appendix A).
    body = {"halt": 0, "cmd": {"0": "crm.deal.get?ID=0", "1": "crm.deal.get?ID=999999"}}

    maps = await batch(rest, body)

    assert maps == {
        "result": [],
        "result_error": [BAD_ID, NOT_FOUND],
        "result_total": [],
        "result_next": [],
        "result_time": [],
    }


async def test_b24pysdk_as_list_keys_zero_up_give_lists(rest: RestClient) -> None:
    ids = await add_deals(rest, 120)
    query = "crm.deal.List?select[0]=ID&select[1]=TITLE&filter[STAGE_ID]=NEW"
    body = {"cmd": {"0": f"{query}&start=50", "1": f"{query}&start=100"}, "halt": True}

    maps = await batch(rest, body)

    assert [[int(row["ID"]) for row in page] for page in maps["result"]] == [ids[50:100], ids[100:]]
    assert maps["result_next"] == [100]
    assert maps["result_total"] == [120, 120]
    assert [set(entry) >= TIME_KEYS for entry in maps["result_time"]] == [True, True]


async def test_b24pysdk_as_list_fast_item_cursor_chain(rest: RestClient) -> None:
    ids = await add_deals(rest, 120)
    query = "crm.item.List?entityTypeId=2&select[0]=id&select[1]=title&order[id]=ASC"
    cursor = "%24result%5B{}%5D%5Bitems%5D%5B49%5D%5Bid%5D"
    cmd = {"1": f"{query}&filter[%3Eid]={ids[0] - 1}&start=-1"}
    for n in (2, 3, 4):
        cmd[str(n)] = f"{query}&filter[%3Eid]={cursor.format(n - 1)}&start=-1"

    reply = await rest.call("batch", {"cmd": cmd, "halt": True})

    assert reply.status == 200
    maps = reply.body["result"]
    pages = [[row["id"] for row in maps["result"][n]["items"]] for n in ("1", "2", "3")]
    assert pages == [ids[:50], ids[50:100], ids[100:]]
    # Page 3 is short, so `$result[3][items][49][id]` stops at the items list (spec §4.4):
    # command 4 must not break the batch; an empty page or an error are both fine.
    assert maps["result"].get("4", {"items": []}) == {"items": []}
    # start=-1 counts nothing: total 0, no next (spec §5.2).
    assert {n: maps["result_total"][n] for n in ("1", "2", "3")} == {"1": 0, "2": 0, "3": 0}
    assert maps["result_next"] == []


async def test_deal_cursor_that_does_not_resolve_does_not_fail_the_batch(
    rest: RestClient,
) -> None:
    ids = await add_deals(rest, 3)
    query = "crm.deal.List?select[0]=ID&order[ID]=ASC&start=-1"
    cmd = {
        "1": f"{query}&filter[%3EID]=0",
        "2": f"{query}&filter[%3EID]=%24result%5B1%5D%5B49%5D%5BID%5D",
    }

    reply = await rest.call("batch", {"cmd": cmd, "halt": True})

    assert reply.status == 200
    maps = reply.body["result"]
    assert [int(row["ID"]) for row in maps["result"]["1"]] == ids
    assert maps["result"].get("2", []) == [] or "2" in maps["result_error"]


def http_build_query(data: dict[str, Any], prefix: str | None = None) -> str:
    """PHP ``http_build_query``: bracket keys percent-encoded, spaces as ``+``."""
    pairs = []
    for key, value in data.items():
        name = quote_plus(str(key)) if prefix is None else f"{prefix}%5B{quote_plus(str(key))}%5D"
        if isinstance(value, dict):
            pairs.append(http_build_query(value, name))
        else:
            pairs.append(f"{name}={quote_plus(str(value))}")
    return "&".join(pairs)


def crest_batch(calls: dict[str, tuple[str, dict[str, Any]]], halt: int) -> str:
    """The body CRest::callBatch posts: each command built, then the whole form encoded again."""
    cmd = {
        label: f"{method}?{http_build_query(params)}" for label, (method, params) in calls.items()
    }
    return http_build_query({"cmd": cmd, "halt": halt})


async def test_crest_form_encoded_batch(rest: RestClient, db: AsyncEngine) -> None:
    contact = await add_contact(rest, "Ann Lee")
    form = crest_batch(
        {
            "find_contact": ("crm.contact.list", {"filter": {"NAME": "Ann Lee"}}),
            "get_contact": ("crm.contact.get", {"id": "$result[find_contact][0][ID]"}),
            "add_deal": (
                "crm.deal.add",
                {
                    "fields": {
                        "TITLE": "For $result[get_contact][NAME]",
                        "CONTACT_ID": "$result[get_contact][ID]",
                    }
                },
            ),
        },
        halt=0,
    )
    # Double encoding, as spec §4.2 shows for CRest.
    assert "cmd%5Bget_contact%5D=crm.contact.get%3Fid%3D%2524result%255Bfind_contact%255D" in form

    reply = await rest.call("batch", form=form)

    assert reply.status == 200
    maps = reply.body["result"]
    assert maps["result_error"] == []
    assert maps["result"]["get_contact"]["ID"] == str(contact)
    deal = (await rest.call("crm.deal.get", {"id": maps["result"]["add_deal"]})).result
    assert (deal["TITLE"], deal["CONTACT_ID"]) == ("For Ann Lee", str(contact))
    assert await count_rows(db, "deals") == 1


async def test_get_batch_as_in_the_docs(rest: RestClient) -> None:
    ids = await add_deals(rest, 1)
    query = (
        "halt=0&cmd[all]=crm.deal.list%3F"
        "&cmd[one]=crm.deal.get%3Fid%3D%2524result%255Ball%255D%255B0%255D%255BID%255D"
    )

    reply = await rest.call("batch", form=query, get=True)

    assert reply.status == 200
    assert reply.body["result"]["result"]["one"]["ID"] == str(ids[0])


# ---- references -------------------------------------------------------------------------


async def test_next_total_time_and_error_references(rest: RestClient) -> None:
    await add_deals(rest, 60)
    cmd = {
        "page": "crm.deal.list?select[]=ID",
        "bad": "crm.deal.get?id=999999",
        # Whole value: the int itself; in a text: spliced as text.
        "second": "crm.deal.list?select[]=ID&start=$next[page]",
        "note": "crm.deal.add?fields[TITLE]=of%20$total[page]%20at%20$time[page][date_start]"
        "&fields[COMMENTS]=$error[bad][error_description]",
    }

    maps = await batch(rest, {"halt": 0, "cmd": cmd})

    assert len(maps["result"]["second"]) == 10
    assert maps["result_next"] == {"page": 50}
    note = (await rest.call("crm.deal.get", {"id": maps["result"]["note"]})).result
    assert note["TITLE"] == f"of 60 at {maps['result_time']['page']['date_start']}"
    assert note["COMMENTS"] == "Not found."


async def test_unresolved_references(rest: RestClient) -> None:
    ids = await add_deals(rest, 1)
    cmd = {
        "one": f"crm.deal.get?id={ids[0]}",
        "failed": "crm.deal.get?id=0",
        # A missing label: the walk stops at the whole result map, not an id.
        "missing": "crm.deal.get?id=$result[nope][ID]",
        # A failed command has no result to refer to.
        "of_failed": "crm.deal.get?id=$result[failed][ID]",
        # A missing key inside a text: the reference stays as it was written.
        "text": "crm.deal.add?fields[TITLE]=x%20$result[one][NOPE]%20$RESULT[one][ID]",
    }

    maps = await batch(rest, {"halt": 0, "cmd": cmd})

    assert maps["result_error"] == {"failed": BAD_ID, "missing": BAD_ID, "of_failed": BAD_ID}
    text = (await rest.call("crm.deal.get", {"id": maps["result"]["text"]})).result
    assert text["TITLE"] == "x $result[one][NOPE] $RESULT[one][ID]"


# ---- halt, limits, nesting, errors ------------------------------------------------------


@pytest.mark.parametrize("halt", [1, True, "1", "Y", "true", "on"])
async def test_halt_stops_after_the_first_error(
    rest: RestClient, db: AsyncEngine, halt: Any
) -> None:
    cmd = {
        "a": "crm.deal.add?fields[TITLE]=a",
        "b": "crm.deal.get?id=0",
        "c": "crm.deal.add?fields[TITLE]=c",
    }

    maps = await batch(rest, {"halt": halt, "cmd": cmd})

    assert list(maps["result"]) == ["a"] and list(maps["result_time"]) == ["a"]
    assert maps["result_error"] == {"b": BAD_ID}
    assert await count_rows(db, "deals") == 1


@pytest.mark.parametrize("halt", [0, False, "0", "N", "false", "", None])
async def test_without_halt_every_command_runs(
    rest: RestClient, db: AsyncEngine, halt: Any
) -> None:
    cmd = {
        "a": "crm.deal.add?fields[TITLE]=a",
        "b": "crm.deal.get?id=0",
        "c": "crm.deal.add?fields[TITLE]=c",
    }

    maps = await batch(rest, {"HALT": halt, "CMD": cmd})

    assert list(maps["result"]) == ["a", "c"]
    assert maps["result_error"] == {"b": BAD_ID}
    assert await count_rows(db, "deals") == 2


async def test_fifty_commands_run(rest: RestClient) -> None:
    maps = await batch(rest, {"halt": 0, "cmd": ["crm.currency.base.get"] * 50})

    assert maps["result"] == ["USD"] * 50
    assert maps["result_error"] == [] and len(maps["result_time"]) == 50


async def test_the_fifty_first_command_is_refused(rest: RestClient, db: AsyncEngine) -> None:
    cmd = ["crm.currency.base.get"] * 50 + ["crm.deal.add?fields[TITLE]=late"] * 2

    maps = await batch(rest, {"halt": 0, "cmd": cmd})

    assert len(maps["result"]) == 50
    assert maps["result_error"] == {"50": LENGTH_EXCEEDED, "51": LENGTH_EXCEEDED}
    assert await count_rows(db, "deals") == 0

    halted = await batch(rest, {"halt": 1, "cmd": cmd})
    assert halted["result_error"] == {"50": LENGTH_EXCEEDED}


async def test_a_huge_batch_is_answered_not_run(rest: RestClient) -> None:
    maps = await batch(
        rest, {"cmd": {f"c{n}": "crm.deal.add?fields[TITLE]=x" for n in range(3000)}}
    )

    assert len(maps["result"]) == 50
    assert len(maps["result_error"]) == 2950
    assert maps["result_error"]["c2999"] == LENGTH_EXCEEDED


async def test_nested_batch_and_file_methods_are_refused(rest: RestClient) -> None:
    cmd = {
        "nested": "batch?cmd[0]=crm.deal.list",
        "shouting": "BATCH?cmd[0]=crm.deal.list",
        "download": "download?token=x",
        "upload": "upload",
        "fine": "crm.currency.base.get",
    }

    maps = await batch(rest, {"halt": 0, "cmd": cmd})

    assert maps["result"] == {"fine": "USD"}
    assert maps["result_error"] == dict.fromkeys(
        ["nested", "shouting", "download", "upload"], NOT_ALLOWED
    )


async def test_errors_look_as_the_call_alone_would_get_them(rest: RestClient) -> None:
    too_deep = "crm.deal.list?filter" + "[a]" * 40 + "=1"
    cmd = {
        "classic": "crm.deal.get?id=999999",
        "unknown": "crm.deal.nope",
        "empty": "",
        "item": "crm.item.get?entityTypeId=2&id=999999",
        "deep": too_deep,
        "ok": "CRM.DEAL.LIST?select[]=ID",
    }

    maps = await batch(rest, {"halt": 0, "cmd": cmd})

    alone = await rest.call("crm.item.get", {"entityTypeId": 2, "id": 999999})
    errors = maps["result_error"]
    assert errors["classic"] == NOT_FOUND
    assert (
        errors["unknown"]
        == errors["empty"]
        == {
            "error": "ERROR_METHOD_NOT_FOUND",
            "error_description": "Method not found!",
        }
    )
    assert errors["item"] == alone.body
    assert errors["deep"]["error"] == "ERROR_ARGUMENT" and errors["deep"]["argument"] == "cmd"
    assert maps["result"] == {"ok": []} and maps["result_total"] == {"ok": 0}


# ---- transactions, authentication, scope -------------------------------------------------


@asynccontextmanager
async def own_client(
    settings: Settings, db: AsyncEngine, scopes: list[str]
) -> AsyncIterator[tuple[RestClient, Any]]:
    """A client of a fresh app whose webhook has ``scopes``; also yields the app's engine."""
    app = create_app(settings)
    async with transaction(db) as conn:
        code = await accounts.create_webhook(
            conn, user_id=1, scopes=scopes, now=dt.datetime.now(dt.UTC)
        )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://t"
    ) as http:
        yield RestClient(http, f"/rest/1/{code}/"), app.state.engine
    await app.state.engine.dispose()


async def test_each_command_is_its_own_transaction(
    rest: RestClient, db: AsyncEngine, settings: Settings
) -> None:
    async with own_client(settings, db, ["crm"]) as (client, engine):
        begun: list[int] = []
        event.listen(engine.sync_engine, "begin", lambda _conn: begun.append(1))
        cmd = {
            "add": "crm.deal.add?fields[TITLE]=kept",
            "fail": "crm.deal.update?id=$result[add]&fields[TITLE]=lost&fields[STAGE_ID]=NOPE",
            "read": "crm.deal.get?id=$result[add]",
        }
        maps = await batch(client, {"halt": 0, "cmd": cmd})
        assert len(begun) == 4  # authentication once, then one per command
        await client.call("crm.deal.list")
        assert len(begun) == 5  # a plain call: one transaction, authentication included

    assert list(maps["result_error"]) == ["fail"]
    assert maps["result"]["read"]["TITLE"] == "kept"
    kept = (await rest.call("crm.deal.get", {"id": maps["result"]["add"]})).result
    assert (kept["TITLE"], kept["STAGE_ID"]) == ("kept", "NEW")


async def test_batch_needs_no_scope_but_its_commands_do(
    db: AsyncEngine, settings: Settings
) -> None:
    async with own_client(settings, db, ["user"]) as (client, _engine):
        maps = await batch(client, {"cmd": {"a": "crm.deal.list", "b": "crm.deal.add"}})
        alone = await client.call("crm.deal.list")

    denied = {"error": "insufficient_scope", "error_description": ""}
    assert maps["result_error"] == {"a": denied, "b": denied}
    assert (alone.status, alone.body["error"]) == (403, "insufficient_scope")
    assert alone.body["error_description"] != ""


async def test_credentials_inside_commands_are_ignored(rest: RestClient) -> None:
    cmd = {"a": "crm.deal.list?auth=forged&access_token=x&aplogin=2&ap=zz&state=s&AUTH=y"}

    maps = await batch(rest, {"halt": 1, "cmd": cmd, "auth": "also-ignored"})

    assert maps["result"] == {"a": []}


async def test_bad_credentials_fail_the_whole_batch(rest: RestClient) -> None:
    intruder = RestClient(rest.http, "/rest/1/not-the-code/")

    reply = await intruder.call("batch", {"cmd": ["crm.deal.list"]})

    assert (reply.status, reply.body["error"]) == (403, "INVALID_CREDENTIALS")


# ---- shapes and bad input ----------------------------------------------------------------


async def test_result_time_per_successful_command(rest: RestClient) -> None:
    maps = await batch(
        rest, {"cmd": {"a": "crm.deal.list", "b": "crm.deal.get", "c": "crm.deal.fields"}}
    )

    assert list(maps["result_time"]) == ["a", "c"]
    for entry in maps["result_time"].values():
        assert set(entry) == TIME_KEYS | {"operating", "operating_reset_at"}
        assert entry["finish"] >= entry["start"] and entry["duration"] >= entry["processing"] >= 0
        assert dt.datetime.fromisoformat(entry["date_start"]).tzinfo is not None
    assert maps["result_time"]["a"]["finish"] <= maps["result_time"]["c"]["start"]


@pytest.mark.parametrize("body", [{}, {"cmd": None}, {"cmd": []}, {"cmd": {}}, {"halt": 1}])
async def test_no_commands_gives_five_empty_maps(rest: RestClient, body: dict[str, Any]) -> None:
    assert await batch(rest, body) == dict.fromkeys(MAPS, [])


@pytest.mark.parametrize("cmd", ["crm.deal.list", 5, True, 1.5])
async def test_cmd_must_be_an_array_or_object(rest: RestClient, cmd: Any) -> None:
    reply = await rest.call("batch", {"cmd": cmd})

    assert reply.status == 400
    assert (reply.body["error"], reply.body["argument"]) == ("ERROR_ARGUMENT", "cmd")


async def test_form_cmd_scalar_is_refused(rest: RestClient) -> None:
    reply = await rest.call("batch", form="cmd=crm.deal.list&halt=0")

    assert (reply.status, reply.body["error"]) == (400, "ERROR_ARGUMENT")


async def test_commands_that_are_not_strings_are_skipped(rest: RestClient) -> None:
    cmd = {"a": None, "b": 5, "c": ["crm.deal.list"], "d": {"x": "y"}, "e": "crm.currency.base.get"}

    maps = await batch(rest, {"halt": 1, "cmd": cmd})

    assert maps["result"] == {"e": "USD"}
    assert list(maps["result_time"]) == ["e"]
    assert maps["result_error"] == maps["result_total"] == maps["result_next"] == []


async def test_hostile_labels_are_only_labels(rest: RestClient) -> None:
    labels = ["", "__proto__", "$result[x]", "a]b[", "метка", "x" * 5000, "01", "-1"]
    cmd = dict.fromkeys(labels, "crm.currency.base.get")
    cmd["ref"] = "crm.currency.get?id=$result[__proto__]"

    maps = await batch(rest, {"halt": 0, "cmd": cmd})

    assert maps["result"] == {**dict.fromkeys(labels, "USD"), "ref": maps["result"]["ref"]}
    assert maps["result"]["ref"]["CURRENCY"] == "USD"


async def test_falsy_and_empty_results_are_kept(rest: RestClient) -> None:
    deal = (await add_deals(rest, 1))[0]
    cmd = {"none": "crm.deal.list?filter[TITLE]=nothing", "gone": f"crm.deal.delete?id={deal}"}

    maps = await batch(rest, {"cmd": cmd})

    assert maps["result"] == {"none": [], "gone": True}
    assert maps["result_total"] == {"none": 0}


async def test_batch_path_spellings(rest: RestClient) -> None:
    for name in ("batch.json", "BATCH", "Batch.JSON"):
        reply = await rest.call(name, {"cmd": ["crm.currency.base.get"]})
        assert (reply.status, reply.body["result"]["result"]) == (200, ["USD"])


# ---- without a database ------------------------------------------------------------------


def test_split_command_like_parse_url() -> None:
    assert split_command("crm.deal.list?a=1&b=2") == ("crm.deal.list", "a=1&b=2")
    assert split_command("crm.deal.list?") == ("crm.deal.list", "")
    assert split_command("crm.deal.list") == ("crm.deal.list", "")
    assert split_command("crm.deal.get?id=1#frag?x=2") == ("crm.deal.get", "id=1")


def test_read_commands_and_halt() -> None:
    assert read_commands({"Cmd": ["a", "b"], "HaLt": "Y"}) == ([("0", "a"), ("1", "b")], True)
    assert read_commands({"cmd": {"x": "a"}, "CMD": {"y": "b"}}) == ([("y", "b")], False)
    with pytest.raises(ArgumentError):
        read_commands({"cmd": "crm.deal.list"})
    assert [read_halt(v) for v in (1, "1", "y", "TRUE", [0], 2.5)] == [True] * 6
    assert [read_halt(v) for v in (0, "0", "n", "False", "", None, [], 0.0)] == [False] * 8


def test_php_array_rendering() -> None:
    assert php_array({}) == []
    assert php_array({"0": "a", "1": "b"}) == ["a", "b"]
    assert php_array({"1": "a", "0": "b"}) == {"1": "a", "0": "b"}
    assert php_array({"1": "a", "2": "b"}) == {"1": "a", "2": "b"}
    assert php_array({"0": "a", "01": "b"}) == {"0": "a", "01": "b"}


def earlier() -> Earlier:
    refs = Earlier(max_chars=1000)
    refs.groups["result"].update(
        {
            "a": {"ID": "7", "N": 3, "F": 1.0, "B": False, "L": [{"ID": 1}, {"ID": 2}], "S": "abc"},
            "1": {"items": [{"id": 5}]},
        }
    )
    refs.groups["total"]["a"] = 42
    return refs


def test_a_whole_value_reference_keeps_its_type() -> None:
    refs = earlier()
    resolved = refs.resolve(
        {"n": "$result[a][N]", "l": "$result[a][L]", "b": "$result[a][B]", "t": "$total[a]"}
    )
    assert resolved == {"n": 3, "l": [{"ID": 1}, {"ID": 2}], "b": False, "t": 42}
    resolved["l"][0]["ID"] = 99  # a copy: the stored result is untouched
    assert refs.groups["result"]["a"]["L"][0]["ID"] == 1


def test_the_walk_stops_at_a_missing_key() -> None:
    refs = earlier()
    resolved = refs.resolve(
        {
            "short": "$result[1][items][49][id]",
            "label": "$result[zz][ID]",
            "deep": {"x": ["$result[a][L][1][ID]"]},
            "char": "$result[a][S][1]",
        }
    )
    assert resolved["short"] == [{"id": 5}]
    assert resolved["label"] == refs.groups["result"]
    assert resolved["deep"] == {"x": [2]}
    assert resolved["char"] == "b"


def test_references_inside_text() -> None:
    refs = earlier()
    resolved = refs.resolve(
        {
            "text": "id $result[a][ID] of $total[a], f=$result[a][F]",
            "array": "x $result[a][L] y",
            "bool": "x $result[a][B]",
            "no_path": "cost $result",
            "upper": "$RESULT[a][ID]",
            "key_$result[a][ID]": "k",
        }
    )
    assert resolved == {
        # The tail runs up to whitespace, as in PHP's regex: the comma goes with it.
        "text": "id 7 of 42 f=1",
        "array": "x $result[a][L] y",
        "bool": "x $result[a][B]",
        "no_path": "cost $result",
        "upper": "$RESULT[a][ID]",
        "key_$result[a][ID]": "k",
    }


def test_references_cannot_blow_a_command_up() -> None:
    refs = earlier()
    refs.groups["result"]["big"] = {"text": "x" * 100}
    with pytest.raises(ArgumentError, match="References add more than 1000"):
        refs.resolve({"v": " ".join(["$result[big][text]"] * 20)})
    with pytest.raises(ArgumentError, match="References add more than 1000"):
        refs.resolve({"v": dict.fromkeys(map(str, range(20)), "$result[big]")})
    # The budget is per command: the next one starts afresh.
    assert refs.resolve({"v": "$result[big][text]"}) == {"v": "x" * 100}
