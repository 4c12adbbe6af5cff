"""``userfields.definitions`` and its parts (names, settings, labels, enumeration items)
below the Bitrix adapter: the rules as plain functions, and the database behaviour that
the REST tests cannot pin down (the duplicate race, renumbering, cascades, files)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.context import Context
from relatecrm.db import transaction
from relatecrm.deals.models import deals
from relatecrm.errors import (
    DuplicateEnumXmlId,
    DuplicateUserField,
    InvalidFieldValue,
    UserFieldNameInvalid,
    UserFieldNameTooLong,
)
from relatecrm.userfields import catalog, definitions, enums, files, labels, registry, settings
from relatecrm.userfields.models import uf_deal_values, uf_files
from relatecrm.userfields.registry import EnumItem

UTC = dt.UTC
BERLIN = ZoneInfo("Europe/Berlin")


def context() -> Context:
    return Context(user_id=1, now=dt.datetime.now(UTC), tz=BERLIN)


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "name"),
    [("X", "UF_CRM_X"), ("uf_x", "UF_CRM_X"), ("UF_CRM_X", "UF_CRM_X"), ("UF_CRM", "UF_CRM_CRM"),
     ("uf_crm_a1_b2", "UF_CRM_A1_B2"), ("Z" * 43, "UF_CRM_" + "Z" * 43),
     ("UF_" + "Z" * 43, "UF_CRM_" + "Z" * 43)],
)  # fmt: skip
def test_field_name(raw: str, name: str) -> None:
    assert definitions.field_name(raw) == name


@pytest.mark.parametrize(
    ("raw", "error"),
    [("Z" * 44, UserFieldNameTooLong), ("UF_CRM_" + "Z" * 44, UserFieldNameTooLong),
     ("x" * 10**6, UserFieldNameTooLong), ("ß", UserFieldNameInvalid),
     ("ı", UserFieldNameInvalid), ("Ａ", UserFieldNameInvalid), ("a.b", UserFieldNameInvalid),
     ("a\nb", UserFieldNameInvalid)],
)  # fmt: skip
def test_field_name_refusals(raw: str, error: type[Exception]) -> None:
    """Only ASCII letters are upper-cased (PHP strtoupper): ``ß`` must not become ``SS``."""
    with pytest.raises(error):
        definitions.field_name(raw)


@pytest.mark.parametrize(("raw", "field_id"), [("5", 5), (7, 7), (" 12 ", 12), (3.0, 3)])
def test_check_id(raw: Any, field_id: int) -> None:
    assert definitions.check_id(raw) == field_id


# --- settings ------------------------------------------------------------------------------


def test_every_type_has_settings_and_a_title() -> None:
    assert sorted(settings.SETTINGS) == sorted(catalog.TYPES)


def test_settings_update_overwrites_only_what_is_sent() -> None:
    current = settings.normalize("double", {"PRECISION": 5, "DEFAULT_VALUE": 2}, UTC)
    assert current == {"PRECISION": 5, "SIZE": 20, "MIN_VALUE": 0.0, "MAX_VALUE": 0.0,
                       "DEFAULT_VALUE": 2.0}  # fmt: skip
    changed = settings.normalize("double", {"DEFAULT_VALUE": ""}, UTC, current)
    assert changed == {**current, "DEFAULT_VALUE": ""}
    assert current["DEFAULT_VALUE"] == 2.0  # not mutated


def test_settings_do_not_share_mutable_defaults() -> None:
    first = settings.normalize("boolean", None, UTC)
    first["LABEL"].append("x")
    assert settings.normalize("boolean", None, UTC)["LABEL"] == ["", ""]


def test_datetime_default_is_read_in_the_portal_zone_and_stored_in_utc() -> None:
    stored = settings.normalize(
        "datetime", {"default_value": {"value": "2024-07-01 12:00", "type": "fixed"}}, BERLIN
    )
    assert stored["DEFAULT_VALUE"] == {"VALUE": "2024-07-01T10:00:00+00:00", "TYPE": "FIXED"}
    shown = settings.for_output("datetime", stored, BERLIN)
    assert shown["DEFAULT_VALUE"]["VALUE"] == "2024-07-01T12:00:00+02:00"
    assert stored["DEFAULT_VALUE"]["VALUE"].endswith("+00:00")  # for_output copies


def test_settings_describe_unknown_type() -> None:
    assert settings.describe("iblock_element") == {}


def test_bad_setting_names_the_setting() -> None:
    with pytest.raises(InvalidFieldValue) as caught:
        settings.normalize("integer", {"DEFAULT_VALUE": [1]}, UTC)
    assert caught.value.message == 'Invalid value for the "SETTINGS.DEFAULT_VALUE" field.'


# --- labels --------------------------------------------------------------------------------


def test_labels_prepare() -> None:
    assert labels.prepare("HELP_MESSAGE", "Help", "x") == dict.fromkeys(labels.LANGUAGES, "Help")
    assert labels.prepare("HELP_MESSAGE", "", "dflt") == dict.fromkeys(labels.LANGUAGES, "dflt")
    mixed = labels.prepare("HELP_MESSAGE", {"en": "Hi", "ru": "", "zz": "no"}, "d")
    assert mixed == {**dict.fromkeys(labels.LANGUAGES, "d"), "en": "Hi"}
    assert labels.for_language({"HELP_MESSAGE": mixed}, "en")["HELP_MESSAGE"] == "Hi"
    assert labels.for_language({}, "en") == dict.fromkeys(labels.KINDS)


# --- enumeration plans ---------------------------------------------------------------------

CURRENT = (EnumItem(1, "One", True, 10, "one"), EnumItem(2, "Two", False, 20, "two"))


def test_plan_for_a_non_multiple_field_keeps_one_default() -> None:
    plan = enums.plan(
        [{"ID": 2, "DEF": "Y"}, {"VALUE": "Three", "DEF": "Y"}], CURRENT, multiple=False
    )
    assert [(i.value, i.default) for i in plan.items] == [
        ("One", False), ("Two", True), ("Three", False)]  # fmt: skip
    assert plan.changes(CURRENT)


def test_plan_for_a_multiple_field_keeps_every_default() -> None:
    plan = enums.plan([{"VALUE": "Three", "DEF": "Y"}], CURRENT, multiple=True)
    assert [i.default for i in plan.items] == [True, False, True]


def test_plan_ignores_foreign_ids_and_deleted_news() -> None:
    plan = enums.plan(
        [{"ID": 99, "DEL": "Y"}, {"ID": 99, "VALUE": "x"}, {"VALUE": "New", "DEL": "Y"}],
        CURRENT,
        multiple=False,
    )
    assert plan.items == tuple(enums.Item(i.id, i.value, i.default, i.sort, i.xml_id)
                               for i in CURRENT)  # fmt: skip
    assert plan.deleted == () and not plan.changes(CURRENT)


def test_plan_accepts_a_php_array_of_any_keys() -> None:
    plan = enums.plan({"b": {"value": "B"}, "a": {"VALUE": "A"}}, (), multiple=False)
    assert [i.value for i in plan.items] == ["B", "A"]


def test_plan_generates_unique_xml_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    made = iter(["dup", "dup", "fresh"])

    class FakeUuid:
        def __init__(self) -> None:
            self.hex = next(made)

    monkeypatch.setattr(enums.uuid, "uuid4", FakeUuid)
    plan = enums.plan([{"VALUE": "a"}, {"VALUE": "b"}], (), multiple=False)
    assert [i.xml_id for i in plan.items] == ["dup", "fresh"]


def test_plan_refuses_a_repeated_xml_id() -> None:
    with pytest.raises(DuplicateEnumXmlId) as caught:
        enums.plan([{"ID": 2, "XML_ID": "one"}], CURRENT, multiple=False)
    assert caught.value.message == "List item with value XML_ID=one already exists."


# --- the database --------------------------------------------------------------------------

FIELD = {"FIELD_NAME": "RACE", "USER_TYPE_ID": "string"}


async def test_a_concurrent_add_of_one_name_gets_the_duplicate_error(db: AsyncEngine) -> None:
    """The second writer passes every check while the first has not committed; the unique
    index then stops it (PostgreSQL: at the INSERT, once the first commits; SQLite: the
    second waits at BEGIN IMMEDIATE). Either way: the duplicate error, never an
    IntegrityError (which the endpoint would answer with a 500)."""

    async def second() -> int:
        async with transaction(db) as conn:
            return await definitions.add(conn, context(), FIELD)

    async with transaction(db) as conn:
        first = await definitions.add(conn, context(), FIELD)
        late = asyncio.create_task(second())
        await asyncio.sleep(0.3)
        assert not late.done()  # blocked behind the first writer
    with pytest.raises(DuplicateUserField) as caught:
        await late
    assert caught.value.message == "The field UF_CRM_RACE for the CRM_DEAL object already exists."
    async with db.connect() as conn:
        assert [f.id for f in (await registry.load(conn)).values()] == [first]


async def new_deal(db: AsyncEngine) -> int:
    now = dt.datetime.now(UTC)
    async with transaction(db) as conn:
        result = await conn.execute(
            insert(deals)
            .values(title="d", category_id=0, stage_id="NEW", currency_id="USD",
                    assigned_by_id=1, created_by_id=1, modify_by_id=1, moved_by_id=1,
                    date_create=now, date_modify=now, moved_time=now)
            .returning(deals.c.id)
        )  # fmt: skip
        return int(result.scalar_one())


async def test_forget_values_renumbers_positions(db: AsyncEngine) -> None:
    async with transaction(db) as conn:
        field_id = await definitions.add(
            conn, context(), {"FIELD_NAME": "M", "USER_TYPE_ID": "enumeration", "MULTIPLE": "Y",
                              "LIST": [{"VALUE": v} for v in "abc"]})  # fmt: skip
    a, b, c = [i.id for i in (await _field(db, field_id)).items]
    deal_id = await new_deal(db)
    async with transaction(db) as conn:
        await conn.execute(insert(uf_deal_values), [
            {"deal_id": deal_id, "field_id": field_id, "position": n, "value_int": v}
            for n, v in enumerate([b, a, b, c, b])])  # fmt: skip
        await enums.forget_values(conn, field_id, [b])
        rows = await conn.execute(
            select(uf_deal_values.c.position, uf_deal_values.c.value_int)
            .where(uf_deal_values.c.deal_id == deal_id)
            .order_by(uf_deal_values.c.position)
        )
        assert [tuple(r) for r in rows] == [(0, a), (1, c)]


async def _field(db: AsyncEngine, field_id: int) -> registry.UserField:
    async with db.connect() as conn:
        return await definitions.get(conn, field_id)


async def test_deleting_a_file_field_forgets_the_files_only_it_held(db: AsyncEngine) -> None:
    now = dt.datetime.now(UTC)
    deal_id = await new_deal(db)
    async with transaction(db) as conn:
        doomed = await definitions.add(conn, context(), {"FIELD_NAME": "SCAN",
                                                          "USER_TYPE_ID": "file"})  # fmt: skip
        kept = await definitions.add(conn, context(), {"FIELD_NAME": "KEEP",
                                                        "USER_TYPE_ID": "file"})  # fmt: skip
        scan = await files.store(conn, name="scan.pdf", content=b"%PDF", now=now)
        keep = await files.store(conn, name="keep.txt", content=b"hello", now=now)
        await conn.execute(insert(uf_deal_values), [
            {"deal_id": deal_id, "field_id": doomed, "position": 0, "value_int": scan},
            {"deal_id": deal_id, "field_id": kept, "position": 0, "value_int": keep}])  # fmt: skip
    async with transaction(db) as conn:
        await definitions.delete(conn, context(), doomed)
    async with db.connect() as conn:
        assert set((await conn.execute(select(uf_files.c.id))).scalars()) == {keep}
        values = await conn.execute(select(uf_deal_values.c.field_id))
        assert list(values.scalars()) == [kept]


async def test_list_sorts_null_xml_ids_last(db: AsyncEngine) -> None:
    async with transaction(db) as conn:
        for name, xml_id in (("A", None), ("B", "b"), ("C", "a")):
            fields = {"FIELD_NAME": name, "USER_TYPE_ID": "string", "XML_ID": xml_id}
            await definitions.add(conn, context(), fields)
        up = await definitions.list_fields(conn, filter={}, order=[("XML_ID", "ASC")])
        down = await definitions.list_fields(conn, filter={}, order=[("XML_ID", "DESC")])
    assert [f.field_name[-1] for f in up] == ["C", "B", "A"]
    assert [f.field_name[-1] for f in down] == ["A", "B", "C"]
