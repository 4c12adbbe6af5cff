"""Custom field values (``UF_CRM_*``) through crm.deal.* on the real app, both backends.

Deals spec §2.1 (UF descriptors), §2.4 (where UF values appear), §3.1-§3.6; protocol spec
§9.5 (types and SETTINGS). Every type is written through crm.deal.add (JSON and PHP form
bodies), read back through get, list and crm.item.get, filtered and ordered on, and
refused when wrong with nothing written.
"""

from __future__ import annotations

import base64
import datetime as dt
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import delete, func, insert, select, text, true
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.bitrix.filters import parse_filter
from relatecrm.db import transaction
from relatecrm.deals import repository
from relatecrm.deals.models import deals
from relatecrm.events.models import outbox
from relatecrm.listing import PAGE_SIZE, compile_order, compile_where
from relatecrm.userfields import registry, store
from relatecrm.userfields.models import user_field_enums, user_fields
from tests.conftest import RestClient, count_rows


async def make_field(
    db: AsyncEngine,
    name: str,
    type_: str,
    *,
    multiple: bool = False,
    mandatory: bool = False,
    settings: dict[str, Any] | None = None,
    items: list[tuple[str, bool]] | None = None,
    label: str = "",
    sort: int = 100,
) -> tuple[int, list[int]]:
    """A definition row as crm.deal.userfield.add stores it; (field id, item ids)."""
    labels = {"EDIT_FORM_LABEL": {"en": label}, "LIST_COLUMN_LABEL": {"en": label},
              "LIST_FILTER_LABEL": {"en": label}} if label else {}  # fmt: skip
    async with transaction(db) as conn:
        field_id = (
            await conn.execute(
                insert(user_fields)
                .values(
                    entity_id="CRM_DEAL",
                    field_name=name,
                    user_type_id=type_,
                    sort=sort,
                    multiple="Y" if multiple else "N",
                    mandatory="Y" if mandatory else "N",
                    settings=settings or {},
                    labels=labels,
                    created_at=dt.datetime.now(dt.UTC),
                )  # fmt: skip
                .returning(user_fields.c.id)
            )
        ).scalar_one()
        item_ids = []
        for position, (value, default) in enumerate(items or []):
            item_ids.append(
                (
                    await conn.execute(
                        insert(user_field_enums)
                        .values(
                            field_id=field_id,
                            value=value,
                            sort=(position + 1) * 10,
                            xml_id=f"x{position}",
                            **{"def": "Y" if default else "N"},
                        )  # fmt: skip
                        .returning(user_field_enums.c.id)
                    )
                ).scalar_one()
            )
    return int(field_id), [int(i) for i in item_ids]


async def add(rest: RestClient, **fields: Any) -> int:
    reply = await rest.call("crm.deal.add", {"fields": fields})
    deal_id: int = reply.result
    return deal_id


async def get(rest: RestClient, deal_id: int) -> dict[str, Any]:
    deal: dict[str, Any] = (await rest.call("crm.deal.get", {"id": deal_id})).result
    return deal


async def ids(rest: RestClient, **params: Any) -> list[int]:
    reply = await rest.call("crm.deal.list", {"select": ["ID"], **params})
    return [int(row["ID"]) for row in reply.result]


async def value_rows(db: AsyncEngine) -> int:
    return await count_rows(db, "uf_deal_values")


def form(fields: dict[str, Any]) -> str:
    """A PHP form body: ``fields[NAME]=v`` and ``fields[NAME][]=v`` for lists."""
    pairs: list[tuple[str, str]] = []
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((f"fields[{name}]" + ("[]" if isinstance(value, list) else ""), str(item)))
    return urllib.parse.urlencode(pairs)


@dataclass
class Case:
    """One type: what a client sends, what crm.deal.* and crm.item.* answer, a bad value."""

    type: str
    sent: Any
    classic: Any
    item: Any
    bad: Any
    settings: dict[str, Any] = field(default_factory=dict)
    filter: Any = None  # what "=UF" compares with, if not ``sent``


ENUM_ITEMS = [("Small", False), ("Large", False)]

CASES = [
    Case("string", "Hello world!", "Hello world!", "Hello world!", ["a", "b"]),
    Case("integer", "42", "42", 42, "forty-two"),
    Case("double", "3.14159", "3.14", 3.14, "pi", {"PRECISION": 2}, filter="3.14"),
    Case("boolean", "Y", "1", "Y", "maybe", filter="1"),
    Case(
        "date", "2024-08-30", "2024-08-30T00:00:00+00:00", "2024-08-30T00:00:00+00:00", "30/08/2024"
    ),  # fmt: skip
    Case(
        "datetime",
        "2024-08-30T14:29:00+02:00",
        "2024-08-30T12:29:00+00:00",
        "2024-08-30T12:29:00+00:00",
        "yesterday",
    ),  # fmt: skip
    Case("enumeration", "ITEM1", "ITEM1", "ITEM1", 999999),
    Case("money", "100.5|EUR", "100.50|EUR", "100.50|EUR", "100|XXX"),
    Case(
        "url",
        "https://example.com/?a=1",
        "https://example.com/?a=1",
        "https://example.com/?a=1",
        {"x": "y"},
    ),  # fmt: skip
    Case(
        "address", "Main st 1|55.75;37.61", "Main st 1|55.75;37.61", "Main st 1|55.75;37.61", ["a"]
    ),  # fmt: skip
    Case("employee", "1", "1", 1, "999"),
    Case(
        "crm",
        "CO_COMPANY",
        "CO_COMPANY",
        "CO_COMPANY",
        "CO_999999",
        {"CONTACT": "Y", "COMPANY": "Y"},
    ),  # fmt: skip
]


def _filled(value: Any, item_id: int, company: int) -> Any:
    """Case values name the enumeration item and the company created by the test."""
    if isinstance(value, str):
        return value.replace("ITEM1", str(item_id)).replace("COMPANY", str(company))
    return value


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.type)
async def test_each_type_round_trips(case: Case, rest: RestClient, db: AsyncEngine) -> None:
    _, items = await make_field(
        db, "UF_CRM_T", case.type, settings=case.settings, items=ENUM_ITEMS, label="Typed"
    )
    company = (await rest.call("crm.company.add", {"fields": {"TITLE": "Acme"}})).result
    sent, classic = _filled(case.sent, items[1], company), _filled(case.classic, items[1], company)
    item_value = _filled(case.item, items[1], company)
    if case.type == "enumeration":
        item_value = int(item_value)

    by_json = await add(rest, TITLE="json", UF_CRM_T=sent)
    by_form = await rest.call("crm.deal.add", form=form({"TITLE": "form", "UF_CRM_T": sent}))
    by_form_id = int(by_form.result)
    empty = await add(rest, TITLE="empty")

    for deal_id in (by_json, by_form_id):
        assert (await get(rest, deal_id))["UF_CRM_T"] == classic
    assert (await get(rest, empty))["UF_CRM_T"] is None
    assert list(await get(rest, by_json))[-1] == "UF_CRM_T"  # after the system fields

    listed = await rest.call("crm.deal.list", {"select": ["ID", "UF_*"], "order": {"ID": "ASC"}})
    assert [row["UF_CRM_T"] for row in listed.result] == [classic, classic, None]
    named = await rest.call("crm.deal.list", {"select": ["UF_CRM_T"], "filter": {"ID": by_json}})
    assert named.result == [{"UF_CRM_T": classic}]

    item = await rest.call("crm.item.get", {"entityTypeId": 2, "id": by_json})
    assert item.result["item"]["ufCrmT"] == item_value

    wanted = _filled(case.filter, items[1], company) if case.filter is not None else sent
    assert await ids(rest, filter={"=UF_CRM_T": wanted}) == [by_json, by_form_id]
    assert await ids(rest, filter={"UF_CRM_T": ""}) == [empty]
    assert await ids(rest, filter={"!UF_CRM_T": ""}) == [by_json, by_form_id]
    assert await ids(rest, filter={"!UF_CRM_T": wanted}) == [empty]
    assert await ids(rest, filter={"@UF_CRM_T": [wanted, ""]}) == [by_json, by_form_id, empty]
    assert await ids(rest, order={"UF_CRM_T": "ASC"}) == [by_json, by_form_id, empty]
    assert await ids(rest, order={"UF_CRM_T": "DESC"}) == [empty, by_json, by_form_id]

    before = (await count_rows(db, "deals"), await value_rows(db))
    bad = _filled(case.bad, items[1], company)
    reply = await rest.call("crm.deal.add", {"fields": {"TITLE": "bad", "UF_CRM_T": bad}})
    assert (reply.status, reply.body) == (
        400,
        {"error": "", "error_description": 'Invalid value for the "Typed" field.'},
    )
    reply = await rest.call("crm.deal.update", {"id": by_json, "fields": {"UF_CRM_T": bad}})
    assert reply.status == 400
    assert (await count_rows(db, "deals"), await value_rows(db)) == before
    assert (await get(rest, by_json))["UF_CRM_T"] == classic


async def test_filters_and_order_compare_typed_values(rest: RestClient, db: AsyncEngine) -> None:
    await make_field(db, "UF_CRM_N", "integer")
    await make_field(db, "UF_CRM_S", "string")
    await make_field(db, "UF_CRM_D", "datetime")
    nine = await add(rest, UF_CRM_N=9, UF_CRM_S="Apple pie", UF_CRM_D="2024-01-01T10:00:00Z")
    ten = await add(rest, UF_CRM_N=10, UF_CRM_S="apple_tart", UF_CRM_D="2024-06-01T10:00:00Z")
    none = await add(rest)
    # numbers sort as numbers, not as text; NULLs last ascending, first descending
    assert await ids(rest, order={"UF_CRM_N": "DESC"}) == [none, ten, nine]
    assert await ids(rest, order={"UF_CRM_N": "asc", "ID": "DESC"}) == [nine, ten, none]
    assert await ids(rest, filter={">UF_CRM_N": 9}) == [ten]
    assert await ids(rest, filter={"<=UF_CRM_N": "10", ">=UF_CRM_N": 10}) == [ten]
    assert await ids(rest, filter={"%UF_CRM_S": "APPLE"}) == [nine, ten]
    assert await ids(rest, filter={"%UF_CRM_S": "e_t"}) == [ten]  # "_" is literal
    assert await ids(rest, filter={"=%UF_CRM_S": "%pie"}) == [nine]
    assert await ids(rest, filter={"!%UF_CRM_S": "pie"}) == [ten, none]
    assert await ids(rest, filter={"%UF_CRM_N": "1"}) == []  # LIKE is equality on numbers
    assert await ids(rest, filter={">UF_CRM_D": "2024-03-01"}) == [ten]
    assert await ids(rest, filter={"!@UF_CRM_N": [9, 11]}) == [ten, none]
    ored = {"LOGIC": "OR", "0": {"UF_CRM_N": 9}, "1": {"UF_CRM_S": "apple_tart"}}
    assert await ids(rest, filter={"0": ored}) == [nine, ten]

    for bad_filter in ({">UF_CRM_N": "many"}, {">UF_CRM_N": ""}, {"UF_CRM_N": [[1]]}):
        reply = await rest.call("crm.deal.list", {"filter": bad_filter})
        assert (reply.status, reply.body["error"]) == (400, "INVALID_ARG_VALUE")
    reply = await rest.call("crm.deal.list", {"filter": {"UF_CRM_NOPE": 1}})
    assert reply.body["error_description"] == (
        "Invalid filter: field 'UF_CRM_NOPE' is not allowed in filter"
    )


async def test_multiple_values(rest: RestClient, db: AsyncEngine) -> None:
    await make_field(db, "UF_CRM_TAGS", "string", multiple=True)
    await make_field(db, "UF_CRM_NUMS", "integer", multiple=True)
    await make_field(db, "UF_CRM_ONE", "integer")
    first = await add(rest, UF_CRM_TAGS=["red", "", "blue"], UF_CRM_NUMS=[1, 2])
    body = form({"UF_CRM_TAGS": ["green"], "UF_CRM_NUMS": ["3", "4"]})
    second = int((await rest.call("crm.deal.add", form=body)).result)
    third = await add(rest, UF_CRM_TAGS="solo")  # a scalar is one value
    assert (await get(rest, first))["UF_CRM_TAGS"] == ["red", "blue"]
    assert (await get(rest, first))["UF_CRM_NUMS"] == ["1", "2"]
    assert (await get(rest, second))["UF_CRM_NUMS"] == ["3", "4"]
    assert (await get(rest, third))["UF_CRM_NUMS"] == []
    # UF_* means the single-valued fields; a multiple one is returned only when named
    star = (await rest.call("crm.deal.list", {"select": ["UF_*"]})).result
    assert all(set(row) == {"UF_CRM_ONE"} for row in star)
    plain = (await rest.call("crm.deal.list", {"filter": {"ID": first}})).result
    assert "UF_CRM_ONE" in plain[0] and "UF_CRM_TAGS" not in plain[0]
    named = await rest.call("crm.deal.list", {"select": ["UF_CRM_NUMS"], "order": {"ID": "ASC"}})
    assert named.result == [{"UF_CRM_NUMS": ["1", "2"]}, {"UF_CRM_NUMS": ["3", "4"]},
                            {"UF_CRM_NUMS": []}]  # fmt: skip
    assert await ids(rest, filter={"UF_CRM_NUMS": 2}) == [first]
    assert await ids(rest, filter={"@UF_CRM_NUMS": [4, 9]}) == [second]
    assert await ids(rest, filter={"!UF_CRM_NUMS": 2}) == [second, third]
    assert await ids(rest, filter={"UF_CRM_NUMS": ""}) == [third]
    reply = await rest.call("crm.deal.list", {"order": {"UF_CRM_NUMS": "ASC"}})
    assert reply.body["error_description"] == (
        "Invalid order: field 'UF_CRM_NUMS' is not allowed in order"
    )
    before = await value_rows(db)
    reply = await rest.call("crm.deal.add", {"fields": {"UF_CRM_ONE": [1, 2]}})
    assert reply.status == 400 and await value_rows(db) == before  # single refuses arrays
    await rest.call("crm.deal.update", {"id": first, "fields": {"UF_CRM_TAGS": ["x", "y", "z"]}})
    assert (await get(rest, first))["UF_CRM_TAGS"] == ["x", "y", "z"]


async def test_update_changes_only_given_fields_and_empty_clears(
    rest: RestClient, db: AsyncEngine
) -> None:
    await make_field(db, "UF_CRM_A", "string")
    await make_field(db, "UF_CRM_B", "integer", multiple=True)
    deal_id = await add(rest, UF_CRM_A="keep", UF_CRM_B=[1, 2])
    async with db.connect() as conn:
        await conn.execute(delete(outbox))
        await conn.commit()
    await rest.call("crm.deal.update", {"id": deal_id, "fields": {"TITLE": "renamed"}})
    deal = await get(rest, deal_id)
    assert (deal["UF_CRM_A"], deal["UF_CRM_B"]) == ("keep", ["1", "2"])
    await rest.call("crm.deal.update", {"id": deal_id, "fields": {"UF_CRM_A": "changed"}})
    assert (await get(rest, deal_id))["UF_CRM_A"] == "changed"
    await rest.call("crm.deal.update", {"id": deal_id, "fields": {"UF_CRM_A": "", "UF_CRM_B": []}})
    deal = await get(rest, deal_id)
    assert (deal["UF_CRM_A"], deal["UF_CRM_B"]) == (None, [])
    assert await value_rows(db) == 0
    async with db.connect() as conn:
        events = (await conn.execute(select(outbox.c.event))).scalars().all()
    assert events == ["onCrmDealUpdate"] * 3  # a UF change is a deal update


async def test_mandatory_fields(rest: RestClient, db: AsyncEngine) -> None:
    await make_field(db, "UF_CRM_BUDGET", "integer", mandatory=True, label="Budget")
    message = "The required field Budget is missing.<br>"
    for fields in ({"TITLE": "x"}, {"UF_CRM_BUDGET": ""}, {"UF_CRM_BUDGET": None}):
        reply = await rest.call("crm.deal.add", {"fields": fields})
        assert (reply.status, reply.body) == (400, {"error": "", "error_description": message})
    assert await count_rows(db, "deals") == 0
    deal_id = await add(rest, UF_CRM_BUDGET=100)
    assert (await rest.call("crm.deal.update", {"id": deal_id, "fields": {"TITLE": "t"}})).result
    reply = await rest.call("crm.deal.update", {"id": deal_id, "fields": {"UF_CRM_BUDGET": ""}})
    assert reply.body == {"error": "", "error_description": message}
    assert (await get(rest, deal_id))["UF_CRM_BUDGET"] == "100"
    described = (await rest.call("crm.deal.fields")).result["UF_CRM_BUDGET"]
    assert described["isRequired"] is True


async def test_defaults_apply_when_add_does_not_send_the_field(
    rest: RestClient, db: AsyncEngine
) -> None:
    await make_field(db, "UF_CRM_S", "string", settings={"DEFAULT_VALUE": "dflt"})
    await make_field(db, "UF_CRM_B", "boolean", settings={"DEFAULT_VALUE": 1})
    _, items = await make_field(db, "UF_CRM_E", "enumeration", items=[("S", False), ("L", True)])
    await make_field(db, "UF_CRM_D", "date", settings={"DEFAULT_VALUE": {"TYPE": "NOW"}})
    deal_id = await add(rest, UF_CRM_S="mine")
    deal = await get(rest, deal_id)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert (deal["UF_CRM_S"], deal["UF_CRM_B"], deal["UF_CRM_E"]) == ("mine", "1", str(items[1]))
    assert deal["UF_CRM_D"] == f"{today}T00:00:00+00:00"
    await rest.call("crm.deal.update", {"id": deal_id, "fields": {"UF_CRM_B": "N"}})
    await rest.call("crm.deal.update", {"id": deal_id, "fields": {"TITLE": "again"}})
    assert (await get(rest, deal_id))["UF_CRM_B"] == "0"  # defaults are for add only


async def test_unknown_uf_names_are_ignored(rest: RestClient, db: AsyncEngine) -> None:
    await make_field(db, "UF_CRM_REAL", "string")
    deal_id = await add(rest, UF_CRM_GHOST="boo", uf_crm_real="lower-case key")
    deal = await get(rest, deal_id)
    assert "UF_CRM_GHOST" not in deal and deal["UF_CRM_REAL"] == "lower-case key"


async def test_values_go_with_their_deal_and_their_field(rest: RestClient, db: AsyncEngine) -> None:
    field_id, _ = await make_field(db, "UF_CRM_A", "string")
    await make_field(db, "UF_CRM_B", "integer", multiple=True)
    gone = await add(rest, UF_CRM_A="a", UF_CRM_B=[1, 2, 3])
    kept = await add(rest, UF_CRM_A="b", UF_CRM_B=[4])
    assert await value_rows(db) == 6
    assert (await rest.call("crm.deal.delete", {"id": gone})).result is True
    assert await value_rows(db) == 2  # foreign key cascade
    async with transaction(db) as conn:
        await conn.execute(delete(user_fields).where(user_fields.c.id == field_id))
    assert await value_rows(db) == 1
    assert "UF_CRM_A" not in await get(rest, kept)


async def test_fields_describe_custom_fields_after_system_ones(
    rest: RestClient, db: AsyncEngine
) -> None:
    settings = {"SIZE": 20, "ROWS": 1, "REGEXP": "", "MIN_LENGTH": 0, "MAX_LENGTH": 0,
                "DEFAULT_VALUE": ""}  # fmt: skip
    await make_field(db, "UF_CRM_1721244482250", "string", settings=settings, label="My field")
    _, items = await make_field(
        db, "UF_CRM_1725365197310", "enumeration", multiple=True, label="Custom field (list)",
        items=[("List item #1", False), ("List item #2", False)], sort=200,
        settings={"DISPLAY": "LIST", "LIST_HEIGHT": 1, "CAPTION_NO_VALUE": "",
                  "SHOW_NO_VALUE": "Y"},
    )  # fmt: skip
    described = (await rest.call("crm.deal.fields")).result
    assert list(described)[-3:] == ["LAST_ACTIVITY_BY", "UF_CRM_1721244482250",
                                    "UF_CRM_1725365197310"]  # fmt: skip
    assert described["UF_CRM_1721244482250"] == {
        "type": "string", "isRequired": False, "isReadOnly": False, "isImmutable": False,
        "isMultiple": False, "isDynamic": True, "title": "UF_CRM_1721244482250",
        "listLabel": "My field", "formLabel": "My field", "filterLabel": "My field",
        "settings": settings,
    }  # fmt: skip
    enum = described["UF_CRM_1725365197310"]
    assert list(enum)[5:8] == ["isDynamic", "items", "title"]
    assert enum["items"] == [{"ID": str(items[0]), "VALUE": "List item #1"},
                             {"ID": str(items[1]), "VALUE": "List item #2"}]  # fmt: skip
    assert enum["isMultiple"] is True and enum["listLabel"] == "Custom field (list)"


async def test_equality_filter_reads_the_typed_index(rest: RestClient, db: AsyncEngine) -> None:
    """EXPLAIN of the list query: uf_deal_values is searched by index, never scanned."""
    field_id, _ = await make_field(db, "UF_CRM_CODE", "string")
    other_id, _ = await make_field(db, "UF_CRM_OTHER", "integer")
    deal_id = await add(rest, UF_CRM_CODE="needle")
    if db.dialect.name == "postgresql":  # enough rows for the planner to prefer indexes
        await _bulk(db, deal_id, field_id, other_id)
    assert await ids(rest, filter={"UF_CRM_CODE": "needle"}) == [deal_id]
    plan = await _explain_list(rest, db, {"UF_CRM_CODE": "needle"})
    print(f"\n{db.dialect.name} plan:\n{plan}")  # the report quotes it (pytest -s)
    if db.dialect.name == "postgresql":
        assert "Seq Scan on uf_deal_values" not in plan
        assert "ix_uf_deal_values_key" in plan
    else:
        assert "SCAN uf_deal_values" not in plan
        assert "USING INDEX" in plan or "USING COVERING INDEX" in plan


async def _bulk(db: AsyncEngine, deal_id: int, text_field: int, int_field: int) -> None:
    """20,000 copies of the deal, each with a value of both fields (PostgreSQL only)."""
    copied = [column for column in deals.c if column.name != "id"]
    series = func.generate_series(1, 20000).table_valued("n")
    async with transaction(db) as conn:
        await conn.execute(
            insert(deals).from_select(
                [c.name for c in copied], select(*copied).join(series, true())
            )
        )
        await conn.execute(
            text(
                "INSERT INTO uf_deal_values (deal_id, field_id, position, value_text, value_key) "
                "SELECT id, :f, 0, 'hay' || id, 'hay' || id FROM deals WHERE id <> :d"
            ),
            {"f": text_field, "d": deal_id},
        )
        await conn.execute(
            text(
                "INSERT INTO uf_deal_values (deal_id, field_id, position, value_int) "
                "SELECT id, :f, 0, id FROM deals"
            ),
            {"f": int_field},
        )
        await conn.execute(text("ANALYZE deals"))
        await conn.execute(text("ANALYZE uf_deal_values"))


async def _explain_list(rest: RestClient, db: AsyncEngine, where: dict[str, Any]) -> str:
    """The plan of the statement crm.deal.list runs for ``where`` (compiled the same way)."""
    async with db.connect() as conn:
        known = await registry.load(conn)
        fields = {**repository.QUERYABLE, **store.queryables(known)}
        stmt = (
            select(deals.c.id)
            .where(compile_where(fields, parse_filter(where), dt.UTC))
            .order_by(*compile_order(fields, [], "ID"))
            .limit(PAGE_SIZE)
        )
        compiled = stmt.compile(dialect=db.dialect, compile_kwargs={"literal_binds": True})
        prefix = "EXPLAIN" if db.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN"
        rows = (await conn.execute(text(f"{prefix} {compiled}"))).all()
    return "\n".join(" ".join(str(part) for part in row) for row in rows)


async def test_file_values_through_classic_methods(rest: RestClient, db: AsyncEngine) -> None:
    await make_field(db, "UF_CRM_DOC", "file", label="Document")
    content = base64.b64encode(b"contract").decode()
    by_json = await add(rest, UF_CRM_DOC={"fileData": ["contract.txt", content]})
    body = urllib.parse.urlencode(
        [
            ("fields[UF_CRM_DOC][fileData][0]", "form.txt"),
            ("fields[UF_CRM_DOC][fileData][1]", content),
        ]
    )
    by_form = int((await rest.call("crm.deal.add", form=body)).result)
    shown = [(await get(rest, deal_id))["UF_CRM_DOC"] for deal_id in (by_json, by_form)]
    for value in shown:
        assert set(value) == {"id", "showUrl", "downloadUrl"}
        assert (await rest.http.get(value["downloadUrl"])).content == b"contract"
    listed = (await rest.call("crm.deal.list", {"select": ["UF_*"], "order": {"ID": "ASC"}})).result
    assert [row["UF_CRM_DOC"] for row in listed] == shown
    assert await ids(rest, filter={"UF_CRM_DOC": shown[1]["id"]}) == [by_form]
    before = await count_rows(db, "uf_files")
    reply = await rest.call("crm.deal.add", {"fields": {"UF_CRM_DOC": {"fileData": "no name"}}})
    assert reply.body["error_description"] == 'Invalid value for the "Document" field.'
    assert await count_rows(db, "uf_files") == before == 2
    await rest.call("crm.deal.delete", {"id": by_json})
    assert await count_rows(db, "uf_files") == 1


async def test_fields_created_through_userfield_add_take_values(
    rest: RestClient, db: AsyncEngine
) -> None:
    """The definitions methods and the value methods meet in the same registry."""
    created = await rest.call(
        "crm.deal.userfield.add",
        {"fields": {"FIELD_NAME": "COLOR", "USER_TYPE_ID": "enumeration", "LABEL": "Colour",
                    "MULTIPLE": "Y", "LIST": [{"VALUE": "Red"}, {"VALUE": "Blue", "DEF": "Y"}]}},
    )  # fmt: skip
    assert created.status == 200, created.body
    described = (await rest.call("crm.deal.fields")).result["UF_CRM_COLOR"]
    red, blue = (int(item["ID"]) for item in described["items"])
    assert described["formLabel"] == "Colour" and described["isMultiple"] is True
    with_default = await add(rest, TITLE="default")
    chosen = await add(rest, UF_CRM_COLOR=[red, blue])
    assert (await get(rest, with_default))["UF_CRM_COLOR"] == [str(blue)]
    assert (await get(rest, chosen))["UF_CRM_COLOR"] == [str(red), str(blue)]
    assert await ids(rest, filter={"UF_CRM_COLOR": red}) == [chosen]
    reply = await rest.call("crm.deal.add", {"fields": {"UF_CRM_COLOR": ["Red"]}})
    assert reply.body["error_description"] == 'Invalid value for the "Colour" field.'


async def test_money_filters_by_text_or_amount(rest: RestClient, db: AsyncEngine) -> None:
    await make_field(db, "UF_CRM_PRICE", "money")
    usd = await add(rest, UF_CRM_PRICE="100")  # no currency: the base currency (USD)
    eur = await add(rest, UF_CRM_PRICE="20.5|EUR")
    assert (await get(rest, usd))["UF_CRM_PRICE"] == "100.00|USD"
    assert await ids(rest, filter={"UF_CRM_PRICE": "100|usd"}) == [usd]
    assert await ids(rest, filter={"UF_CRM_PRICE": "100|EUR"}) == []
    assert await ids(rest, filter={"UF_CRM_PRICE": 20.5}) == [eur]
    assert await ids(rest, filter={">UF_CRM_PRICE": "50|EUR"}) == [usd]
    assert await ids(rest, order={"UF_CRM_PRICE": "ASC"}) == [eur, usd]
