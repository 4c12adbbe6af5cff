"""``crm.deal.userfield.*`` and ``crm.userfield.*`` through the real app, on both backends.

Protocol spec §9.5 (the methods, FIELD_NAME rules, labels, SETTINGS, LIST, errors,
events); b24restdocs crm-deal-userfield-*.md for the exact shapes and texts; the rest
module's UserFieldProxy for what the docs leave out. Every refused call is checked to
write nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.accounts import service as accounts
from relatecrm.db import transaction
from relatecrm.events.models import outbox
from relatecrm.userfields.labels import LANGUAGES
from relatecrm.userfields.models import uf_deal_values, user_field_enums
from tests.conftest import RestClient, count_rows

ADD = "crm.deal.userfield.add"
TOO_LONG = "Field name is too long (more than 50 characters)."
BAD_CHARS = "Field name contains invalid characters. Allowed characters are: A-Z, 0-9 and _."
BAD_TYPE = "Incorrect custom type specified."
NO_NAME = "The 'FIELD_NAME' field is not found."
NO_TYPE = "The 'USER_TYPE_ID' field is not found."
BAD_ID = "ID is not defined or invalid."
STRING_DEFAULTS = {"SIZE": 20, "ROWS": 1, "REGEXP": "", "MIN_LENGTH": 0, "MAX_LENGTH": 0,
                   "DEFAULT_VALUE": ""}  # fmt: skip


def error(reply: Any) -> tuple[int, str, str]:
    return reply.status, reply.body.get("error"), reply.body.get("error_description")


async def add(rest: RestClient, **fields: Any) -> int:
    reply = await rest.call(ADD, {"fields": fields})
    assert reply.status == 200, reply.body
    assert isinstance(reply.result, int) and not isinstance(reply.result, bool)
    return int(reply.result)


async def get(rest: RestClient, field_id: int | str) -> dict[str, Any]:
    row: dict[str, Any] = (await rest.call("crm.deal.userfield.get", {"id": field_id})).result
    return row


async def listed(rest: RestClient, **params: Any) -> list[dict[str, Any]]:
    reply = await rest.call("crm.deal.userfield.list", params)
    rows: list[dict[str, Any]] = reply.result
    assert reply.body["total"] == len(rows) and "next" not in reply.body
    return rows


async def update(rest: RestClient, field_id: int, **fields: Any) -> None:
    reply = await rest.call("crm.deal.userfield.update", {"id": field_id, "fields": fields})
    assert reply.status == 200 and reply.result is True, reply.body


async def counts(db: AsyncEngine) -> tuple[int, ...]:
    return tuple([await count_rows(db, t) for t in ("user_fields", "user_field_enums",
                                                    "uf_deal_values", "outbox")])  # fmt: skip


async def events(db: AsyncEngine) -> list[tuple[str, dict[str, Any]]]:
    async with db.connect() as conn:
        rows = await conn.execute(
            select(outbox.c.event, outbox.c.payload)
            .where(outbox.c.event.like("onCrmDealUserField%"))
            .order_by(outbox.c.id)
        )
        return [(row.event, row.payload) for row in rows]


def everywhere(text: str) -> dict[str, str]:
    return dict.fromkeys(LANGUAGES, text)


# --- add and get: the docs' example ------------------------------------------------------

DOCS_EXAMPLE = {
    "LABEL": "Field 'Hello, world!'", "USER_TYPE_ID": "string", "FIELD_NAME": "HELLO_WORLD",
    "MULTIPLE": "Y", "MANDATORY": "Y", "SHOW_FILTER": "Y",
    "SETTINGS": {"DEFAULT_VALUE": "Hello, world! Default value", "ROWS": 3}, "SORT": 1000,
    "EDIT_IN_LIST": "Y", "LIST_FILTER_LABEL": "Hello, world! Filter",
    "LIST_COLUMN_LABEL": {"en": "Hello, World! Column", "de": "Hallo, Welt! Spalte"},
    "EDIT_FORM_LABEL": {"en": "Hello, World! Edit", "de": "Hallo, Welt! Bearbeiten"},
    "ERROR_MESSAGE": {"en": "Hello, World! Error"}, "HELP_MESSAGE": {"de": "Hallo, Welt! Hilfe"},
}  # fmt: skip


async def test_add_then_get_gives_the_docs_field_object(rest: RestClient) -> None:
    field_id = await add(rest, **DOCS_EXAMPLE)
    row = await get(rest, field_id)
    label = "Field 'Hello, world!'"
    assert row == {
        "ID": str(field_id), "ENTITY_ID": "CRM_DEAL", "FIELD_NAME": "UF_CRM_HELLO_WORLD",
        "USER_TYPE_ID": "string", "XML_ID": None, "SORT": "1000", "MULTIPLE": "Y",
        "MANDATORY": "Y", "SHOW_FILTER": "E", "SHOW_IN_LIST": "Y", "EDIT_IN_LIST": "Y",
        "IS_SEARCHABLE": "N",
        "SETTINGS": {**STRING_DEFAULTS, "ROWS": 3, "DEFAULT_VALUE": "Hello, world! Default value"},
        "EDIT_FORM_LABEL": {**everywhere(label), "en": "Hello, World! Edit",
                            "de": "Hallo, Welt! Bearbeiten"},
        "LIST_COLUMN_LABEL": {**everywhere(label), "en": "Hello, World! Column",
                              "de": "Hallo, Welt! Spalte"},
        "LIST_FILTER_LABEL": everywhere("Hello, world! Filter"),
        "ERROR_MESSAGE": {**everywhere(label), "en": "Hello, World! Error"},
        "HELP_MESSAGE": {**everywhere(label), "de": "Hallo, Welt! Hilfe"},
    }  # fmt: skip
    # The key order of the docs' example, and its language keys in order.
    assert list(row)[:13] == ["ID", "ENTITY_ID", "FIELD_NAME", "USER_TYPE_ID", "XML_ID",
                              "SORT", "MULTIPLE", "MANDATORY", "SHOW_FILTER", "SHOW_IN_LIST",
                              "EDIT_IN_LIST", "IS_SEARCHABLE", "SETTINGS"]  # fmt: skip
    assert list(row["EDIT_FORM_LABEL"])[:4] == ["ar", "br", "de", "en"]
    assert "LIST" not in row


async def test_defaults_without_label_use_the_field_name(rest: RestClient) -> None:
    row = await get(rest, await add(rest, FIELD_NAME="plain", USER_TYPE_ID="string"))
    assert (row["MULTIPLE"], row["MANDATORY"], row["SHOW_FILTER"]) == ("N", "N", "N")
    assert (row["SHOW_IN_LIST"], row["EDIT_IN_LIST"], row["IS_SEARCHABLE"]) == ("Y", "Y", "N")
    assert row["SORT"] == "100" and row["SETTINGS"] == STRING_DEFAULTS
    assert row["EDIT_FORM_LABEL"] == everywhere("UF_CRM_PLAIN")


async def test_add_takes_the_parameters_themselves_without_fields(rest: RestClient) -> None:
    reply = await rest.call(ADD, {"FIELD_NAME": "bare", "USER_TYPE_ID": "integer", "SORT": 7})
    row = await get(rest, reply.result)
    assert (row["FIELD_NAME"], row["USER_TYPE_ID"], row["SORT"]) == ("UF_CRM_BARE", "integer", "7")


async def test_form_encoding_add_update_and_list(rest: RestClient) -> None:
    form = ("fields[FIELD_NAME]=colour&fields[USER_TYPE_ID]=enumeration&fields[LABEL]=Colour"
            "&fields[MULTIPLE]=Y&fields[LIST][0][VALUE]=Red&fields[LIST][0][DEF]=Y"
            "&fields[LIST][1][VALUE]=Blue&fields[LIST][1][DEF]=Y&fields[LIST][1][SORT]=20"
            "&fields[SETTINGS][DISPLAY]=checkbox&fields[EDIT_FORM_LABEL][de]=Farbe")  # fmt: skip
    reply = await rest.call(ADD, form=form)
    assert reply.status == 200, reply.body
    row = await get(rest, reply.result)
    assert [(i["VALUE"], i["DEF"], i["SORT"]) for i in row["LIST"]] == [
        ("Blue", "Y", "20"), ("Red", "Y", "500")]  # fmt: skip
    assert row["SETTINGS"]["DISPLAY"] == "CHECKBOX" and row["EDIT_FORM_LABEL"]["de"] == "Farbe"
    red = next(i for i in row["LIST"] if i["VALUE"] == "Red")
    reply = await rest.call(
        "crm.deal.userfield.update",
        form=f"id={reply.result}&fields[LIST][0][ID]={red['ID']}&fields[LIST][0][DEL]=Y",
    )
    assert reply.result is True
    reply = await rest.call("crm.deal.userfield.list", form="filter[LANG]=de&order[SORT]=desc")
    assert [r["EDIT_FORM_LABEL"] for r in reply.result] == ["Farbe"]
    assert [i["VALUE"] for i in reply.result[0]["LIST"]] == ["Blue"]


# --- FIELD_NAME and USER_TYPE_ID ---------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("MANAGER_NOTE", "UF_CRM_MANAGER_NOTE"),
        ("UF_MANAGER_NOTE", "UF_CRM_MANAGER_NOTE"),
        ("UF_CRM_MANAGER_NOTE", "UF_CRM_MANAGER_NOTE"),
        ("manager_note", "UF_CRM_MANAGER_NOTE"),
        ("uf_crm_manager_note", "UF_CRM_MANAGER_NOTE"),
        ("  Note_1  ", "UF_CRM_NOTE_1"),
        (12345, "UF_CRM_12345"),
        ("X" * 43, "UF_CRM_" + "X" * 43),
    ],
)
async def test_field_name_gets_its_prefix(rest: RestClient, sent: Any, stored: str) -> None:
    row = await get(rest, await add(rest, FIELD_NAME=sent, USER_TYPE_ID="string"))
    assert row["FIELD_NAME"] == stored


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"FIELD_NAME": "X" * 44, "USER_TYPE_ID": "string"}, ("ERROR_CORE", TOO_LONG)),
        ({"FIELD_NAME": "UF_" + "X" * 44, "USER_TYPE_ID": "string"}, ("ERROR_CORE", TOO_LONG)),
        ({"FIELD_NAME": "X" * 100_000, "USER_TYPE_ID": "string"}, ("ERROR_CORE", TOO_LONG)),
        ({"FIELD_NAME": "NOTE-1", "USER_TYPE_ID": "string"}, ("ERROR_CORE", BAD_CHARS)),
        ({"FIELD_NAME": "заметка", "USER_TYPE_ID": "string"}, ("ERROR_CORE", BAD_CHARS)),
        ({"FIELD_NAME": "straße", "USER_TYPE_ID": "string"}, ("ERROR_CORE", BAD_CHARS)),
        ({"FIELD_NAME": "A B", "USER_TYPE_ID": "string"}, ("ERROR_CORE", BAD_CHARS)),
        ({"FIELD_NAME": "X'; DROP TABLE deals; --", "USER_TYPE_ID": "string"},
         ("ERROR_CORE", BAD_CHARS)),
        ({"FIELD_NAME": "A\u0000B", "USER_TYPE_ID": "string"}, ("ERROR_CORE", BAD_CHARS)),
        ({"FIELD_NAME": {"a": 1}, "USER_TYPE_ID": "string"}, ("ERROR_CORE", BAD_CHARS)),
        ({"FIELD_NAME": "OK", "USER_TYPE_ID": "crm_status"}, ("ERROR_CORE", BAD_TYPE)),
        ({"FIELD_NAME": "OK", "USER_TYPE_ID": "String"}, ("ERROR_CORE", BAD_TYPE)),
        ({"FIELD_NAME": "OK", "USER_TYPE_ID": ["string"]}, ("ERROR_CORE", BAD_TYPE)),
        ({"USER_TYPE_ID": "string"}, ("", NO_NAME)),
        ({"FIELD_NAME": "  ", "USER_TYPE_ID": "string"}, ("", NO_NAME)),
        ({"FIELD_NAME": "OK"}, ("", NO_TYPE)),
        ({}, ("", f"{NO_TYPE}\n{NO_NAME}")),
    ],
)  # fmt: skip
async def test_add_refusals(
    rest: RestClient, db: AsyncEngine, fields: dict[str, Any], expected: tuple[str, str]
) -> None:
    before = await counts(db)
    assert error(await rest.call(ADD, {"fields": fields})) == (400, *expected)
    assert await counts(db) == before


async def test_a_taken_name_is_refused_in_any_spelling(rest: RestClient, db: AsyncEngine) -> None:
    await add(rest, FIELD_NAME="CONTRACT", USER_TYPE_ID="string")
    before = await counts(db)
    for name in ("CONTRACT", "uf_contract", "UF_CRM_CONTRACT"):
        reply = await rest.call(ADD, {"fields": {"FIELD_NAME": name, "USER_TYPE_ID": "integer"}})
        assert error(reply) == (
            400,
            "ERROR_CORE",
            "The field UF_CRM_CONTRACT for the CRM_DEAL object already exists.",
        )
    assert await counts(db) == before


async def test_concurrent_adds_of_one_name_never_fail_with_500(
    rest: RestClient, db: AsyncEngine
) -> None:
    """One add wins; the others get the duplicate error (the unique index decides)."""
    fields = {"FIELD_NAME": "RACE", "USER_TYPE_ID": "enumeration", "LIST": [{"VALUE": "a"}]}
    replies = await asyncio.gather(*(rest.call(ADD, {"fields": fields}) for _ in range(6)))
    assert sorted(r.status for r in replies) == [200] + [400] * 5, [r.body for r in replies]
    for reply in replies:
        if reply.status == 400:
            message = "The field UF_CRM_RACE for the CRM_DEAL object already exists."
            assert reply.body == {"error": "ERROR_CORE", "error_description": message}
    assert await counts(db) == (1, 1, 0, 2)


# --- types and their SETTINGS ------------------------------------------------------------

DATE_NONE = {"VALUE": "", "TYPE": "NONE"}
TYPE_SETTINGS = [
    ("string", {"DEFAULT_VALUE": 12, "ROWS": "80", "SIZE": 99, "REGEXP": "/x/"},
     {**STRING_DEFAULTS, "ROWS": 50, "DEFAULT_VALUE": "12"}),
    ("string", {"ROWS": -3}, STRING_DEFAULTS),
    ("integer", {"DEFAULT_VALUE": "42", "MIN_VALUE": 5},
     {"SIZE": 20, "MIN_VALUE": 0, "MAX_VALUE": 0, "DEFAULT_VALUE": 42}),
    ("integer", None, {"SIZE": 20, "MIN_VALUE": 0, "MAX_VALUE": 0, "DEFAULT_VALUE": ""}),
    ("double", {"DEFAULT_VALUE": "1,5", "PRECISION": 4},
     {"PRECISION": 4, "SIZE": 20, "MIN_VALUE": 0.0, "MAX_VALUE": 0.0, "DEFAULT_VALUE": 1.5}),
    ("double", {"PRECISION": -1}, {"PRECISION": 2, "SIZE": 20, "MIN_VALUE": 0.0,
                                   "MAX_VALUE": 0.0, "DEFAULT_VALUE": ""}),
    ("double", {"PRECISION": 40}, {"PRECISION": 12, "SIZE": 20, "MIN_VALUE": 0.0,
                                   "MAX_VALUE": 0.0, "DEFAULT_VALUE": ""}),
    ("boolean", {"DEFAULT_VALUE": 5, "DISPLAY": "radio"},
     {"DEFAULT_VALUE": 1, "DISPLAY": "RADIO", "LABEL": ["", ""], "LABEL_CHECKBOX": ""}),
    ("boolean", {"DEFAULT_VALUE": "-1", "DISPLAY": "slider"},
     {"DEFAULT_VALUE": 0, "DISPLAY": "CHECKBOX", "LABEL": ["", ""], "LABEL_CHECKBOX": ""}),
    ("datetime", {"DEFAULT_VALUE": {"VALUE": "2024-05-01T10:00:00+03:00", "TYPE": "fixed"}},
     {"DEFAULT_VALUE": {"VALUE": "2024-05-01T07:00:00+00:00", "TYPE": "FIXED"},
      "USE_SECOND": "Y", "USE_TIMEZONE": "N"}),
    ("datetime", {"DEFAULT_VALUE": {"TYPE": "NOW", "VALUE": "2024-05-01"}},
     {"DEFAULT_VALUE": {"VALUE": "", "TYPE": "NOW"}, "USE_SECOND": "Y", "USE_TIMEZONE": "N"}),
    ("datetime", {"DEFAULT_VALUE": "2024-05-01"},
     {"DEFAULT_VALUE": DATE_NONE, "USE_SECOND": "Y", "USE_TIMEZONE": "N"}),
    ("date", {"DEFAULT_VALUE": {"VALUE": "2024-05-01T23:30:00+02:00", "TYPE": "FIXED"}},
     {"DEFAULT_VALUE": {"VALUE": "2024-05-01", "TYPE": "FIXED"}}),
    ("date", {"DEFAULT_VALUE": {"TYPE": "WHENEVER"}}, {"DEFAULT_VALUE": DATE_NONE}),
    ("enumeration", {"DISPLAY": "ui", "LIST_HEIGHT": 5, "CAPTION_NO_VALUE": "x"},
     {"DISPLAY": "UI", "LIST_HEIGHT": 5, "CAPTION_NO_VALUE": "", "SHOW_NO_VALUE": "Y"}),
    ("enumeration", {"DISPLAY": "dialog", "LIST_HEIGHT": 0},
     {"DISPLAY": "DIALOG", "LIST_HEIGHT": 1, "CAPTION_NO_VALUE": "", "SHOW_NO_VALUE": "Y"}),
    ("money", {"DEFAULT_VALUE": "100|EUR"}, []),
    ("url", {"POPUP": "N"},
     {"POPUP": "Y", "SIZE": 20, "MIN_LENGTH": 0, "MAX_LENGTH": 0, "DEFAULT_VALUE": ""}),
    ("address", None, []),
    ("employee", {"X": 1}, []),
    ("file", {"MAX_ALLOWED_SIZE": 10},
     {"SIZE": 20, "LIST_WIDTH": 0, "LIST_HEIGHT": 0, "MAX_SHOW_SIZE": 0,
      "MAX_ALLOWED_SIZE": 0, "EXTENSIONS": [], "TARGET_BLANK": "Y"}),
    ("crm", None, {"LEAD": "Y", "CONTACT": "N", "COMPANY": "N", "DEAL": "N"}),
    ("crm", {"CONTACT": "Y", "company": "y", "DEAL": "N", "QUOTE": "Y"},
     {"LEAD": "N", "CONTACT": "Y", "COMPANY": "Y", "DEAL": "N"}),
]  # fmt: skip


@pytest.mark.parametrize(("type_id", "sent", "stored"), TYPE_SETTINGS)
async def test_every_type_stores_its_settings(
    rest: RestClient, type_id: str, sent: Any, stored: Any
) -> None:
    fields: dict[str, Any] = {"FIELD_NAME": "F", "USER_TYPE_ID": type_id}
    if sent is not None:
        fields["SETTINGS"] = sent
    row = await get(rest, await add(rest, **fields))
    assert row["USER_TYPE_ID"] == type_id and row["SETTINGS"] == stored
    assert list(row["SETTINGS"]) == list(stored) if stored else True


async def test_datetime_default_is_shown_in_the_portal_zone(rest: RestClient) -> None:
    default = {"VALUE": "2024-05-01T10:00:00", "TYPE": "FIXED"}  # no offset: portal time
    field_id = await add(rest, FIELD_NAME="D", USER_TYPE_ID="datetime",
                         SETTINGS={"DEFAULT_VALUE": default})  # fmt: skip
    shown = (await get(rest, field_id))["SETTINGS"]["DEFAULT_VALUE"]["VALUE"]
    assert dt.datetime.fromisoformat(shown) == dt.datetime.fromisoformat(
        (await listed(rest))[0]["SETTINGS"]["DEFAULT_VALUE"]["VALUE"]
    )
    assert shown.startswith("2024-05-01T10:00:00")


async def test_boolean_cannot_be_multiple(rest: RestClient) -> None:
    row = await get(rest, await add(rest, FIELD_NAME="B", USER_TYPE_ID="boolean", MULTIPLE="Y"))
    assert row["MULTIPLE"] == "N"


@pytest.mark.parametrize(
    ("type_id", "sent", "label"),
    [
        ("string", {"ROWS": "many"}, "SETTINGS.ROWS"),
        ("string", {"DEFAULT_VALUE": {"a": 1}}, "SETTINGS.DEFAULT_VALUE"),
        ("string", {"DEFAULT_VALUE": "x" * 70_000}, "SETTINGS.DEFAULT_VALUE"),
        ("integer", {"DEFAULT_VALUE": "4.5"}, "SETTINGS.DEFAULT_VALUE"),
        ("double", {"DEFAULT_VALUE": "NaN"}, "SETTINGS.DEFAULT_VALUE"),
        ("double", {"PRECISION": [1]}, "SETTINGS.PRECISION"),
        ("boolean", {"DEFAULT_VALUE": "perhaps"}, "SETTINGS.DEFAULT_VALUE"),
        ("boolean", {"DISPLAY": ["RADIO"]}, "SETTINGS.DISPLAY"),
        ("datetime", {"DEFAULT_VALUE": {"TYPE": "FIXED", "VALUE": "yesterday"}},
         "SETTINGS.DEFAULT_VALUE"),
        ("date", {"DEFAULT_VALUE": {"TYPE": "FIXED"}}, "SETTINGS.DEFAULT_VALUE"),
        ("date", {"DEFAULT_VALUE": [1, 2]}, "SETTINGS.DEFAULT_VALUE"),
        ("enumeration", {"LIST_HEIGHT": {"x": 1}}, "SETTINGS.LIST_HEIGHT"),
        ("crm", {"LEAD": "sometimes"}, "SETTINGS.LEAD"),
        ("string", "ROWS=3", "SETTINGS"),
        ("string", [1, 2], "SETTINGS"),
    ],
)  # fmt: skip
async def test_bad_settings_are_refused(
    rest: RestClient, db: AsyncEngine, type_id: str, sent: Any, label: str
) -> None:
    before = await counts(db)
    reply = await rest.call(
        ADD, {"fields": {"FIELD_NAME": "S", "USER_TYPE_ID": type_id, "SETTINGS": sent}}
    )
    assert error(reply) == (400, "", f'Invalid value for the "{label}" field.')
    assert await counts(db) == before


# --- labels --------------------------------------------------------------------------------


async def test_labels_string_map_and_label_default(rest: RestClient) -> None:
    field_id = await add(rest, FIELD_NAME="L", USER_TYPE_ID="string", LABEL="  Budget  ",
                         EDIT_FORM_LABEL={"ru": "Бюджет", "xx": "dropped", "de": ""},
                         LIST_COLUMN_LABEL="Column", HELP_MESSAGE=7)  # fmt: skip
    row = await get(rest, field_id)
    assert row["EDIT_FORM_LABEL"] == {**everywhere("Budget"), "ru": "Бюджет"}
    assert row["LIST_COLUMN_LABEL"] == everywhere("Column")
    assert row["LIST_FILTER_LABEL"] == row["ERROR_MESSAGE"] == everywhere("Budget")
    assert row["HELP_MESSAGE"] == everywhere("7")


async def test_update_replaces_a_label_and_blanks_unnamed_languages(rest: RestClient) -> None:
    field_id = await add(rest, FIELD_NAME="L", USER_TYPE_ID="string", LABEL="Budget")
    await update(rest, field_id, EDIT_FORM_LABEL={"en": "Money"}, LIST_COLUMN_LABEL="Sum",
                 LABEL="ignored on update")  # fmt: skip
    row = await get(rest, field_id)
    assert row["EDIT_FORM_LABEL"] == {**everywhere(""), "en": "Money"}
    assert row["LIST_COLUMN_LABEL"] == everywhere("Sum")
    assert row["LIST_FILTER_LABEL"] == everywhere("Budget")


@pytest.mark.parametrize(
    "fields",
    [
        {"LABEL": {"en": "x"}},
        {"LABEL": "x" * 256},
        {"EDIT_FORM_LABEL": ["x"]},
        {"EDIT_FORM_LABEL": {"en": ["x"]}},
        {"EDIT_FORM_LABEL": {"en": "x" * 256}},
        {"HELP_MESSAGE": "a\u0000b"},
        {"EDIT_FORM_LABEL": True},
    ],
)
async def test_bad_labels_are_refused(
    rest: RestClient, db: AsyncEngine, fields: dict[str, Any]
) -> None:
    before = await counts(db)
    reply = await rest.call(ADD, {"fields": {"FIELD_NAME": "L", "USER_TYPE_ID": "url", **fields}})
    (kind,) = fields
    assert error(reply) == (400, "", f'Invalid value for the "{kind}" field.')
    assert await counts(db) == before


# --- list ---------------------------------------------------------------------------------


async def three_fields(rest: RestClient) -> list[int]:
    return [
        await add(rest, FIELD_NAME="B_TEXT", USER_TYPE_ID="string", SORT=300, LABEL="Text",
                  XML_ID="x-text", SHOW_FILTER="S"),
        await add(rest, FIELD_NAME="A_NUMBER", USER_TYPE_ID="integer", SORT=200,
                  EDIT_FORM_LABEL={"de": "Zahl"}, MANDATORY="Y"),
        await add(rest, FIELD_NAME="C_FLAG", USER_TYPE_ID="boolean", SORT=200, LABEL="Flag",
                  SHOW_IN_LIST="N"),
    ]  # fmt: skip


async def test_list_default_order_is_sort_then_id(rest: RestClient) -> None:
    text, number, flag = await three_fields(rest)
    rows = await listed(rest)
    assert [int(r["ID"]) for r in rows] == [number, flag, text]
    # Without filter.LANG the labels are not returned at all (list docs).
    assert all("EDIT_FORM_LABEL" not in r for r in rows)
    assert rows[2] == {
        "ID": str(text), "ENTITY_ID": "CRM_DEAL", "FIELD_NAME": "UF_CRM_B_TEXT",
        "USER_TYPE_ID": "string", "XML_ID": "x-text", "SORT": "300", "MULTIPLE": "N",
        "MANDATORY": "N", "SHOW_FILTER": "S", "SHOW_IN_LIST": "Y", "EDIT_IN_LIST": "Y",
        "IS_SEARCHABLE": "N", "SETTINGS": STRING_DEFAULTS,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ({"FIELD_NAME": "ASC"}, ["A_NUMBER", "B_TEXT", "C_FLAG"]),
        ({"field_name": "desc"}, ["C_FLAG", "B_TEXT", "A_NUMBER"]),
        ({"SORT": "DESC", "FIELD_NAME": "ASC"}, ["B_TEXT", "A_NUMBER", "C_FLAG"]),
        ({"SORT": "whatever", "ID": "DESC"}, ["B_TEXT", "C_FLAG", "A_NUMBER"]),
        ({"XML_ID": "ASC", "ID": "ASC"}, ["B_TEXT", "A_NUMBER", "C_FLAG"]),
        ({"XML_ID": "DESC", "ID": "ASC"}, ["A_NUMBER", "C_FLAG", "B_TEXT"]),
        ({"TITLE": "ASC"}, ["A_NUMBER", "C_FLAG", "B_TEXT"]),
        ([], ["A_NUMBER", "C_FLAG", "B_TEXT"]),
    ],
)
async def test_list_order(rest: RestClient, order: Any, expected: list[str]) -> None:
    await three_fields(rest)
    rows = await listed(rest, order=order)
    assert [r["FIELD_NAME"].removeprefix("UF_CRM_") for r in rows] == expected


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ({"USER_TYPE_ID": "integer"}, ["A_NUMBER"]),
        ({"FIELD_NAME": "uf_crm_c_flag"}, ["C_FLAG"]),
        ({"SORT": "200"}, ["A_NUMBER", "C_FLAG"]),
        ({"SORT": 300, "XML_ID": "X-TEXT"}, ["B_TEXT"]),
        ({"MANDATORY": "Y"}, ["A_NUMBER"]),
        ({"SHOW_IN_LIST": "n"}, ["C_FLAG"]),
        ({"SHOW_FILTER": "S"}, ["B_TEXT"]),
        ({"EDIT_IN_LIST": "Y", "IS_SEARCHABLE": "N", "MULTIPLE": "N"},
         ["A_NUMBER", "C_FLAG", "B_TEXT"]),
        ({"ENTITY_ID": "CRM_DEAL"}, ["A_NUMBER", "C_FLAG", "B_TEXT"]),
        ({"ENTITY_ID": "CRM_LEAD"}, []),
        ({"ID": "abc"}, []),
        # Bitrix skips empty and array values and keys it does not know.
        ({"XML_ID": "", "USER_TYPE_ID": ["string"], "TITLE": "x", ">SORT": 250},
         ["A_NUMBER", "C_FLAG", "B_TEXT"]),
    ],
)  # fmt: skip
async def test_list_filter(rest: RestClient, filter_: Any, expected: list[str]) -> None:
    await three_fields(rest)
    rows = await listed(rest, filter=filter_)
    assert [r["FIELD_NAME"].removeprefix("UF_CRM_") for r in rows] == expected


async def test_list_filter_by_id(rest: RestClient) -> None:
    text, _, _ = await three_fields(rest)
    assert [r["ID"] for r in await listed(rest, filter={"ID": text})] == [str(text)]


async def test_list_with_lang_gives_strings_in_that_language(rest: RestClient) -> None:
    await three_fields(rest)
    rows = await listed(rest, filter={"LANG": "DE"}, order={"FIELD_NAME": "ASC"})
    assert [(r["EDIT_FORM_LABEL"], r["LIST_FILTER_LABEL"]) for r in rows] == [
        ("Zahl", "UF_CRM_A_NUMBER"), ("Text", "Text"), ("Flag", "Flag")]  # fmt: skip
    assert list(rows[0])[-5:] == ["EDIT_FORM_LABEL", "LIST_COLUMN_LABEL", "LIST_FILTER_LABEL",
                                  "ERROR_MESSAGE", "HELP_MESSAGE"]  # fmt: skip
    unknown = await listed(rest, filter={"LANG": "xx"})
    assert {r["EDIT_FORM_LABEL"] for r in unknown} == {None}


@pytest.mark.parametrize("name", ["order", "filter"])
@pytest.mark.parametrize("value", ["SORT", 5, True])
async def test_list_parameters_must_be_arrays(rest: RestClient, name: str, value: Any) -> None:
    reply = await rest.call("crm.deal.userfield.list", {name: value})
    assert error(reply) == (400, "", f"Parameter '{name}' must be array.")


async def test_empty_list(rest: RestClient) -> None:
    reply = await rest.call("crm.deal.userfield.list")
    assert reply.body["result"] == [] and reply.body["total"] == 0


# --- get, update, delete: ids and not found -------------------------------------------------


@pytest.mark.parametrize("method", ["get", "update", "delete"])
@pytest.mark.parametrize("field_id", [None, 0, -3, "abc", "1.5", [1], {"a": 1}])
async def test_bad_ids(rest: RestClient, method: str, field_id: Any) -> None:
    params: dict[str, Any] = {"fields": {"SORT": 5}}
    if field_id is not None:
        params["id"] = field_id
    reply = await rest.call(f"crm.deal.userfield.{method}", params)
    assert error(reply) == (400, "", BAD_ID)


@pytest.mark.parametrize("method", ["get", "update", "delete"])
async def test_unknown_id_is_not_found(rest: RestClient, db: AsyncEngine, method: str) -> None:
    before = await counts(db)
    reply = await rest.call(f"crm.deal.userfield.{method}", {"id": 987, "fields": {"SORT": 5}})
    assert error(reply) == (400, "ERROR_NOT_FOUND", "The entity with ID '987' is not found.")
    assert await counts(db) == before


# --- update ---------------------------------------------------------------------------------


async def test_update_changes_what_may_change(rest: RestClient) -> None:
    field_id = await add(rest, FIELD_NAME="U", USER_TYPE_ID="string", MULTIPLE="Y",
                         SETTINGS={"ROWS": 4, "DEFAULT_VALUE": "a"})  # fmt: skip
    await update(rest, field_id, MANDATORY="Y", SHOW_FILTER="I", SHOW_IN_LIST="N",
                 EDIT_IN_LIST="N", IS_SEARCHABLE="Y", SORT="2000", XML_ID="ext-1",
                 SETTINGS={"DEFAULT_VALUE": "b", "SIZE": 99}, USER_TYPE_ID="integer",
                 FIELD_NAME="OTHER", MULTIPLE="N", ENTITY_ID="CRM_LEAD")  # fmt: skip
    row = await get(rest, field_id)
    assert {k: row[k] for k in ("FIELD_NAME", "USER_TYPE_ID", "MULTIPLE", "ENTITY_ID")} == {
        "FIELD_NAME": "UF_CRM_U", "USER_TYPE_ID": "string", "MULTIPLE": "Y",
        "ENTITY_ID": "CRM_DEAL"}  # fmt: skip
    assert {k: row[k] for k in ("MANDATORY", "SHOW_FILTER", "SHOW_IN_LIST", "EDIT_IN_LIST",
                                "IS_SEARCHABLE", "SORT", "XML_ID")} == {
        "MANDATORY": "Y", "SHOW_FILTER": "I", "SHOW_IN_LIST": "N", "EDIT_IN_LIST": "N",
        "IS_SEARCHABLE": "Y", "SORT": "2000", "XML_ID": "ext-1"}  # fmt: skip
    # Only the settings sent change; settings a type does not accept are dropped.
    assert row["SETTINGS"] == {**STRING_DEFAULTS, "ROWS": 4, "DEFAULT_VALUE": "b"}
    await update(rest, field_id, SHOW_FILTER="N", XML_ID="")
    row = await get(rest, field_id)
    assert (row["SHOW_FILTER"], row["XML_ID"]) == ("N", None)


async def test_employee_filters_by_exact_match(rest: RestClient) -> None:
    field_id = await add(rest, FIELD_NAME="WHO", USER_TYPE_ID="employee", SHOW_FILTER="Y")
    assert (await get(rest, field_id))["SHOW_FILTER"] == "I"
    await update(rest, field_id, SHOW_FILTER="S")
    assert (await get(rest, field_id))["SHOW_FILTER"] == "I"


@pytest.mark.parametrize(
    ("fields", "label"),
    [
        ({"SORT": 0}, "SORT"), ({"SORT": "abc"}, "SORT"), ({"SORT": 2**40}, "SORT"),
        ({"MANDATORY": "maybe"}, "MANDATORY"), ({"SHOW_FILTER": "X"}, "SHOW_FILTER"),
        ({"EDIT_IN_LIST": {"a": 1}}, "EDIT_IN_LIST"), ({"XML_ID": "x" * 256}, "XML_ID"),
        ({"XML_ID": ["a"]}, "XML_ID"), ({"SETTINGS": "ROWS"}, "SETTINGS"),
        ({"SETTINGS": {"ROWS": "x"}}, "SETTINGS.ROWS"), ({"LIST_COLUMN_LABEL": [1]},
                                                        "LIST_COLUMN_LABEL"),
    ],
)  # fmt: skip
async def test_update_refusals_write_nothing(
    rest: RestClient, db: AsyncEngine, fields: dict[str, Any], label: str
) -> None:
    field_id = await add(rest, FIELD_NAME="U", USER_TYPE_ID="string")
    row, before = await get(rest, field_id), await counts(db)
    reply = await rest.call("crm.deal.userfield.update", {"id": field_id, "fields": fields})
    assert error(reply) == (400, "", f'Invalid value for the "{label}" field.')
    assert await counts(db) == before and await get(rest, field_id) == row


@pytest.mark.parametrize("fields", [None, "SORT=5", 5, ["SORT"]])
async def test_update_needs_fields_as_an_array(rest: RestClient, fields: Any) -> None:
    field_id = await add(rest, FIELD_NAME="U", USER_TYPE_ID="string")
    params: dict[str, Any] = {"id": field_id}
    if fields is not None:
        params["fields"] = fields
    reply = await rest.call("crm.deal.userfield.update", params)
    assert error(reply) == (400, "", "Parameter 'fields' must be array.")


@pytest.mark.parametrize("fields", ["x", 5, True])
async def test_add_needs_fields_as_an_array(rest: RestClient, db: AsyncEngine, fields: Any) -> None:
    reply = await rest.call(ADD, {"fields": fields, "FIELD_NAME": "X", "USER_TYPE_ID": "string"})
    assert error(reply) == (400, "", "Parameter 'fields' must be array.")
    assert await counts(db) == (0, 0, 0, 0)


# --- enumeration LIST ---------------------------------------------------------------------


def items(row: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [(i["VALUE"], i["DEF"], i["SORT"]) for i in row["LIST"]]


async def test_list_on_add_follows_the_docs(rest: RestClient) -> None:
    field_id = await add(rest, FIELD_NAME="E", USER_TYPE_ID="enumeration", LIST=[
        {"VALUE": "List item #1", "DEF": "Y", "XML_ID": "XML_ID_1", "SORT": 100},
        {"VALUE": "List item #2", "DEF": "Y", "SORT": 200},
        {"VALUE": "   ", "DEF": "Y", "SORT": 50},
        {"SORT": 60},
        {"VALUE": "  List item #3 \n", "SORT": "-5"},
        {"VALUE": 4, "XML_ID": 4, "DEF": "N"},
    ])  # fmt: skip
    row = await get(rest, field_id)
    assert list(row["LIST"][0]) == ["ID", "SORT", "VALUE", "DEF", "XML_ID"]
    # Empty VALUEs are ignored; only the first DEF=Y counts (not multiple); SORT ≤ 0 → 500.
    assert items(row) == [("List item #1", "Y", "100"), ("List item #2", "N", "200"),
                          ("List item #3", "N", "500"), ("4", "N", "500")]  # fmt: skip
    xml_ids = [i["XML_ID"] for i in row["LIST"]]
    assert xml_ids[0] == "XML_ID_1" and xml_ids[3] == "4"
    assert len(set(xml_ids)) == 4 and all(len(x) == 32 for x in xml_ids[1:3])
    assert all(i["ID"].isdigit() for i in row["LIST"])


async def test_multiple_field_keeps_every_default(rest: RestClient) -> None:
    field_id = await add(rest, FIELD_NAME="E", USER_TYPE_ID="enumeration", MULTIPLE="Y",
                         LIST=[{"VALUE": "a", "DEF": "Y"}, {"VALUE": "b", "DEF": "Y"},
                               {"VALUE": "c"}])  # fmt: skip
    assert [i["DEF"] for i in (await get(rest, field_id))["LIST"]] == ["Y", "Y", "N"]


async def test_enumeration_without_list_has_an_empty_list(
    rest: RestClient, db: AsyncEngine
) -> None:
    row = await get(rest, await add(rest, FIELD_NAME="E", USER_TYPE_ID="enumeration"))
    assert row["LIST"] == []
    assert [name for name, _ in await events(db)] == ["onCrmDealUserFieldAdd"]


async def test_list_is_ignored_for_other_types(rest: RestClient) -> None:
    row = await get(rest, await add(rest, FIELD_NAME="S", USER_TYPE_ID="string",
                                    LIST=[{"VALUE": "x"}]))  # fmt: skip
    assert "LIST" not in row


@pytest.mark.parametrize(
    ("listed_items", "message"),
    [
        ([{"VALUE": "a", "XML_ID": "same"}, {"VALUE": "b", "XML_ID": "same"}],
         "List item with value XML_ID=same already exists."),
    ],
)  # fmt: skip
async def test_duplicate_xml_id_on_add(
    rest: RestClient, db: AsyncEngine, listed_items: Any, message: str
) -> None:
    reply = await rest.call(ADD, {"fields": {"FIELD_NAME": "E", "USER_TYPE_ID": "enumeration",
                                             "LIST": listed_items}})  # fmt: skip
    assert error(reply) == (400, "ERROR_CORE", message)
    assert await counts(db) == (0, 0, 0, 0)


@pytest.mark.parametrize(
    "bad",
    ["a,b", 5, True, [1, 2], ["x"], [{"VALUE": {"a": 1}}], [{"VALUE": "x" * 256}],
     [{"VALUE": "a", "SORT": "high"}], [{"VALUE": "a", "DEF": "maybe"}],
     [{"VALUE": "a", "XML_ID": ["x"]}], [{"VALUE": "a", "ID": "one"}],
     [{"VALUE": "a\u0000b"}]],
)  # fmt: skip
async def test_bad_list_is_refused(rest: RestClient, db: AsyncEngine, bad: Any) -> None:
    reply = await rest.call(ADD, {"fields": {"FIELD_NAME": "E", "USER_TYPE_ID": "enumeration",
                                             "LIST": bad}})  # fmt: skip
    assert error(reply) == (400, "", 'Invalid value for the "LIST" field.')
    assert await counts(db) == (0, 0, 0, 0)


async def enum_field(rest: RestClient, *, multiple: bool = False) -> tuple[int, dict[str, int]]:
    field_id = await add(rest, FIELD_NAME="PRIORITY", USER_TYPE_ID="enumeration",
                         MULTIPLE="Y" if multiple else "N", LIST=[
                             {"VALUE": "High", "SORT": 10, "XML_ID": "high", "DEF": "Y"},
                             {"VALUE": "Mid", "SORT": 20, "XML_ID": "mid"},
                             {"VALUE": "Low", "SORT": 30, "XML_ID": "low"}])  # fmt: skip
    row = await get(rest, field_id)
    return field_id, {i["XML_ID"]: int(i["ID"]) for i in row["LIST"]}


async def test_update_list_changes_deletes_and_adds(rest: RestClient, db: AsyncEngine) -> None:
    field_id, ids = await enum_field(rest)
    await update(rest, field_id, LIST=[
        {"ID": ids["mid"], "VALUE": "Medium", "SORT": 5, "DEF": "Y"},
        {"ID": ids["low"], "DEL": "Y"},
        {"VALUE": "Urgent", "XML_ID": "urgent", "SORT": 1},
        {"VALUE": "", "SORT": 2},
        {"ID": 999999, "VALUE": "not ours"},
        {"ID": ids["high"], "XML_ID": "top"},
    ])  # fmt: skip
    row = await get(rest, field_id)
    assert [(i["VALUE"], i["DEF"], i["SORT"], i["XML_ID"]) for i in row["LIST"]] == [
        ("Urgent", "N", "1", "urgent"), ("Medium", "Y", "5", "mid"),
        ("High", "N", "10", "top")]  # fmt: skip
    assert int(row["LIST"][1]["ID"]) == ids["mid"] and int(row["LIST"][2]["ID"]) == ids["high"]
    names = [name for name, _ in await events(db)]
    assert names[-2:] == ["onCrmDealUserFieldUpdate", "onCrmDealUserFieldSetEnumValues"]


async def test_update_can_swap_xml_ids(rest: RestClient) -> None:
    field_id, ids = await enum_field(rest)
    await update(rest, field_id, LIST=[{"ID": ids["high"], "XML_ID": "low"},
                                       {"ID": ids["low"], "XML_ID": "high"}])  # fmt: skip
    row = await get(rest, field_id)
    assert {i["VALUE"]: i["XML_ID"] for i in row["LIST"]} == {
        "High": "low", "Mid": "mid", "Low": "high"}  # fmt: skip


@pytest.mark.parametrize(
    "change",
    [
        [{"VALUE": "again", "XML_ID": "mid"}],
        [{"ID": "HIGH", "XML_ID": "mid"}],
        [{"VALUE": "x", "XML_ID": "n"}, {"VALUE": "y", "XML_ID": "n"}],
    ],
)
async def test_update_refuses_a_taken_xml_id(
    rest: RestClient, db: AsyncEngine, change: list[dict[str, Any]]
) -> None:
    field_id, ids = await enum_field(rest)
    for element in change:
        if element.get("ID") == "HIGH":
            element["ID"] = ids["high"]
    row, before = await get(rest, field_id), await counts(db)
    reply = await rest.call("crm.deal.userfield.update", {"id": field_id,
                                                          "fields": {"LIST": change}})  # fmt: skip
    expected = "n" if len(change) == 2 else "mid"
    assert error(reply) == (400, "ERROR_CORE",
                            f"List item with value XML_ID={expected} already exists.")  # fmt: skip
    assert await counts(db) == before and await get(rest, field_id) == row


async def test_deleting_an_item_frees_its_xml_id(rest: RestClient) -> None:
    field_id, ids = await enum_field(rest)
    await update(rest, field_id, LIST=[{"ID": ids["low"], "DEL": "Y"},
                                       {"VALUE": "Lowest", "XML_ID": "low"}])  # fmt: skip
    row = await get(rest, field_id)
    assert [(i["VALUE"], i["XML_ID"]) for i in row["LIST"]] == [
        ("High", "high"), ("Mid", "mid"), ("Lowest", "low")]  # fmt: skip


async def test_b24pysdk_sends_list_beside_fields(rest: RestClient) -> None:
    field_id, ids = await enum_field(rest)
    params = {"id": field_id, "fields": {"SORT": 7}, "LIST": [{"ID": ids["mid"], "DEL": "Y"}]}
    reply = await rest.call("crm.deal.userfield.update", params)
    assert reply.result is True
    row = await get(rest, field_id)
    assert [i["VALUE"] for i in row["LIST"]] == ["High", "Low"] and row["SORT"] == "7"


async def test_an_unchanged_list_records_no_set_enum_values(
    rest: RestClient, db: AsyncEngine
) -> None:
    field_id, ids = await enum_field(rest)
    await update(rest, field_id, LIST=[{"ID": ids["mid"], "VALUE": "Mid", "SORT": 20}])
    assert [name for name, _ in await events(db)][-1] == "onCrmDealUserFieldUpdate"


async def new_deal(rest: RestClient, title: str) -> int:
    deal_id = (await rest.call("crm.deal.add", {"fields": {"TITLE": title}})).result
    assert isinstance(deal_id, int)
    return deal_id


async def put_values(db: AsyncEngine, field_id: int, deal_id: int, *values: int) -> None:
    """Set a deal's values of a field directly (replacing any default the add stored)."""
    async with transaction(db) as conn:
        await conn.execute(
            delete(uf_deal_values).where(
                uf_deal_values.c.deal_id == deal_id, uf_deal_values.c.field_id == field_id
            )
        )
        await conn.execute(insert(uf_deal_values), [
            {"deal_id": deal_id, "field_id": field_id, "position": n, "value_int": v}
            for n, v in enumerate(values)])  # fmt: skip


async def stored_values(db: AsyncEngine, field_id: int) -> dict[int, list[tuple[int, int]]]:
    async with db.connect() as conn:
        rows = await conn.execute(
            select(uf_deal_values.c.deal_id, uf_deal_values.c.position,
                   uf_deal_values.c.value_int)
            .where(uf_deal_values.c.field_id == field_id)
            .order_by(uf_deal_values.c.deal_id, uf_deal_values.c.position)
        )  # fmt: skip
        out: dict[int, list[tuple[int, int]]] = {}
        for deal_id, position, value in rows:
            out.setdefault(deal_id, []).append((position, value))
        return out


async def test_deleting_an_item_deletes_the_values_that_chose_it(
    rest: RestClient, db: AsyncEngine
) -> None:
    field_id, ids = await enum_field(rest)
    other_id, other_ids = await enum_field_named(rest, "OTHER")
    alpha = await new_deal(rest, "alpha")
    beta = await new_deal(rest, "beta")
    gamma = await new_deal(rest, "gamma")
    await put_values(db, field_id, alpha, ids["low"])
    await put_values(db, field_id, beta, ids["high"])
    await put_values(db, field_id, gamma, ids["mid"])
    await put_values(db, other_id, alpha, other_ids["low"])  # another field's item: stays
    await update(rest, field_id, LIST=[{"ID": ids["low"], "DEL": "Y"},
                                       {"ID": ids["mid"], "VALUE": "Medium"}])  # fmt: skip
    assert await stored_values(db, field_id) == {beta: [(0, ids["high"])],
                                                 gamma: [(0, ids["mid"])]}  # fmt: skip
    assert await stored_values(db, other_id) == {alpha: [(0, other_ids["low"])]}
    async with db.connect() as conn:
        left = (await conn.execute(select(user_field_enums.c.id))).scalars().all()
    assert ids["low"] not in left and ids["mid"] in left


async def enum_field_named(rest: RestClient, name: str) -> tuple[int, dict[str, int]]:
    field_id = await add(rest, FIELD_NAME=name, USER_TYPE_ID="enumeration",
                         LIST=[{"VALUE": "Low", "XML_ID": "low"}])  # fmt: skip
    row = await get(rest, field_id)
    return field_id, {i["XML_ID"]: int(i["ID"]) for i in row["LIST"]}


async def test_multiple_values_close_the_gap(rest: RestClient, db: AsyncEngine) -> None:
    field_id, ids = await enum_field(rest, multiple=True)
    alpha, beta = await new_deal(rest, "alpha"), await new_deal(rest, "beta")
    await put_values(db, field_id, alpha, ids["high"], ids["low"], ids["mid"], ids["low"])
    await put_values(db, field_id, beta, ids["mid"], ids["high"])
    await update(rest, field_id, LIST=[{"ID": ids["low"], "DEL": "Y"}])
    assert await stored_values(db, field_id) == {
        alpha: [(0, ids["high"]), (1, ids["mid"])],
        beta: [(0, ids["mid"]), (1, ids["high"])],
    }
    await update(rest, field_id, LIST=[{"ID": ids["high"], "DEL": "Y"}])
    assert await stored_values(db, field_id) == {alpha: [(0, ids["mid"])],
                                                 beta: [(0, ids["mid"])]}  # fmt: skip


# --- delete ---------------------------------------------------------------------------------


async def test_delete_removes_the_field_its_items_and_values(
    rest: RestClient, db: AsyncEngine
) -> None:
    field_id, ids = await enum_field(rest, multiple=True)
    keep_id, keep_ids = await enum_field_named(rest, "KEEP")
    deal_id = await new_deal(rest, "alpha")
    await put_values(db, field_id, deal_id, ids["high"], ids["low"])
    await put_values(db, keep_id, deal_id, keep_ids["low"])
    reply = await rest.call("crm.deal.userfield.delete", {"id": field_id})
    assert reply.result is True
    assert error(await rest.call("crm.deal.userfield.get", {"id": field_id}))[1] == (
        "ERROR_NOT_FOUND"
    )
    # The foreign keys cascade on both backends (SQLite runs with foreign_keys=ON).
    assert await stored_values(db, field_id) == {}
    assert await stored_values(db, keep_id) == {deal_id: [(0, keep_ids["low"])]}
    async with db.connect() as conn:
        left = set((await conn.execute(select(user_field_enums.c.id))).scalars())
    assert left == {keep_ids["low"]}
    assert [r["FIELD_NAME"] for r in await listed(rest)] == ["UF_CRM_KEEP"]
    assert (await rest.call("crm.deal.get", {"id": deal_id})).status == 200
    again = await rest.call("crm.deal.userfield.delete", {"id": field_id})
    assert error(again) == (
        400,
        "ERROR_NOT_FOUND",
        f"The entity with ID '{field_id}' is not found.",
    )


async def test_a_deleted_name_can_be_added_again(rest: RestClient) -> None:
    field_id = await add(rest, FIELD_NAME="AGAIN", USER_TYPE_ID="string")
    await rest.call("crm.deal.userfield.delete", {"id": field_id})
    assert await add(rest, FIELD_NAME="AGAIN", USER_TYPE_ID="integer") > field_id


# --- events -------------------------------------------------------------------------------


async def test_every_change_records_its_event(rest: RestClient, db: AsyncEngine) -> None:
    field_id, ids = await enum_field(rest)
    await update(rest, field_id, SORT=5)
    await update(rest, field_id, LIST=[{"VALUE": "New"}])
    await rest.call("crm.deal.userfield.delete", {"id": field_id})
    payload = {"FIELDS": {"ID": field_id, "ENTITY_ID": "CRM_DEAL",
                          "FIELD_NAME": "UF_CRM_PRIORITY"}}  # fmt: skip
    assert await events(db) == [
        ("onCrmDealUserFieldAdd", payload),
        ("onCrmDealUserFieldSetEnumValues", payload),
        ("onCrmDealUserFieldUpdate", payload),
        ("onCrmDealUserFieldUpdate", payload),
        ("onCrmDealUserFieldSetEnumValues", payload),
        ("onCrmDealUserFieldDelete", payload),
    ]


# --- crm.userfield.* reference methods ----------------------------------------------------


async def test_types(rest: RestClient) -> None:
    result = (await rest.call("crm.userfield.types")).result
    assert result[:4] == [
        {"ID": "string", "title": "String"},
        {"ID": "integer", "title": "Integer"},
        {"ID": "double", "title": "Number"},
        {"ID": "boolean", "title": "Yes/No"},
    ]
    assert [t["ID"] for t in result] == [
        "string", "integer", "double", "boolean", "enumeration", "datetime", "date", "money",
        "url", "address", "file", "employee", "crm"]  # fmt: skip
    # Every type offered can be created.
    for type_id in (t["ID"] for t in result):
        await add(rest, FIELD_NAME=f"T_{type_id}", USER_TYPE_ID=type_id)


async def test_fields(rest: RestClient) -> None:
    result = (await rest.call("crm.userfield.fields")).result
    assert list(result) == [
        "ID", "ENTITY_ID", "FIELD_NAME", "USER_TYPE_ID", "XML_ID", "SORT", "MULTIPLE",
        "MANDATORY", "SHOW_FILTER", "SHOW_IN_LIST", "EDIT_IN_LIST", "IS_SEARCHABLE",
        "EDIT_FORM_LABEL", "LIST_COLUMN_LABEL", "LIST_FILTER_LABEL", "ERROR_MESSAGE",
        "HELP_MESSAGE", "LIST", "SETTINGS"]  # fmt: skip
    assert result["ID"] == {"type": "int", "title": "ID", "isReadOnly": True}
    assert result["FIELD_NAME"] == {"type": "string", "title": "Code", "isImmutable": True}
    assert result["MANDATORY"] == {"type": "char", "title": "Required"}
    assert result["LIST"] == {"type": "uf_enum_element", "title": "List items", "isMultiple": True}
    assert result["SETTINGS"] == {"type": "object", "title": "Extra properties (type dependent)"}


async def test_enumeration_fields(rest: RestClient) -> None:
    assert (await rest.call("crm.userfield.enumeration.fields")).result == {
        "ID": {"type": "int", "title": "ID", "isReadOnly": True},
        "SORT": {"type": "int", "title": "Sort"},
        "VALUE": {"type": "string", "title": "Value"},
        "DEF": {"type": "string", "title": "Default value"},
        "DEL": {"type": "string", "title": "Element deletion flag"},
    }


@pytest.mark.parametrize(
    ("type_id", "expected"),
    [
        ("double", {"DEFAULT_VALUE": {"type": "double", "title": "Default value"},
                    "PRECISION": {"type": "int", "title": "Precision"}}),
        ("string", {"DEFAULT_VALUE": {"type": "string", "title": "Default value"},
                    "ROWS": {"type": "int", "title": "Rows per text box"}}),
        ("boolean", {"DEFAULT_VALUE": {"type": "int", "title": "Default value"},
                     "DISPLAY": {"type": "string", "title": "Design"}}),
        ("enumeration", {"DISPLAY": {"type": "string", "title": "Design"},
                         "LIST_HEIGHT": {"type": "int", "title": "List height"}}),
        ("datetime", {"DEFAULT_VALUE": {"type": "datetime", "title": "Default value"}}),
        ("crm", {k: {"type": "char", "title": k.title()}
                 for k in ("LEAD", "CONTACT", "COMPANY", "DEAL")}),
        ("money", []),
        ("no_such_type", []),
    ],
)  # fmt: skip
async def test_settings_fields(rest: RestClient, type_id: str, expected: Any) -> None:
    assert (await rest.call("crm.userfield.settings.fields", {"type": type_id})).result == expected


@pytest.mark.parametrize("params", [{}, {"type": ""}, {"type": "  "}, {"type": ["string"]}])
async def test_settings_fields_needs_a_type(rest: RestClient, params: Any) -> None:
    reply = await rest.call("crm.userfield.settings.fields", params)
    assert error(reply) == (400, "", "Parameter 'type' is not specified or empty.")


async def test_settings_fields_by_form_and_get(rest: RestClient) -> None:
    reply = await rest.call("crm.userfield.settings.fields", form="TYPE=integer", get=True)
    assert reply.result == {"DEFAULT_VALUE": {"type": "int", "title": "Default value"}}


# --- access ---------------------------------------------------------------------------------


async def test_only_administrators_change_definitions(rest: RestClient, db: AsyncEngine) -> None:
    field_id = await add(rest, FIELD_NAME="ADMIN_ONLY", USER_TYPE_ID="string")
    now = dt.datetime.now(dt.UTC)
    async with transaction(db) as conn:
        user_id = await accounts.create_user(conn, login="clerk", now=now)
        code = await accounts.create_webhook(conn, user_id=user_id, scopes=["crm"], now=now)
    clerk = RestClient(rest.http, f"/rest/{user_id}/{code}/")
    before = await counts(db)
    for method, params in (
        (ADD, {"fields": {"FIELD_NAME": "X", "USER_TYPE_ID": "string"}}),
        ("crm.deal.userfield.update", {"id": field_id, "fields": {"SORT": 1}}),
        ("crm.deal.userfield.delete", {"id": field_id}),
    ):
        assert error(await clerk.call(method, params)) == (400, "", "Access denied.")
    assert await counts(db) == before
    assert (await clerk.call("crm.deal.userfield.get", {"id": field_id})).status == 200
    assert len((await clerk.call("crm.deal.userfield.list")).result) == 1


# --- hostile input --------------------------------------------------------------------------


async def test_hostile_keys_are_ignored(rest: RestClient, db: AsyncEngine) -> None:
    field_id = await add(rest, **{
        "FIELD_NAME": "SAFE", "USER_TYPE_ID": "string", "ID": 99999, "ENTITY_ID": "CRM_LEAD",
        "SORT; DROP TABLE user_fields": 1, "__proto__": {"x": 1}, "CREATED_AT": "1999-01-01",
        "SETTINGS": {"'; DELETE FROM deals; --": 1, "ROWS": 2}})  # fmt: skip
    row = await get(rest, field_id)
    assert row["ID"] != "99999" and row["ENTITY_ID"] == "CRM_DEAL"
    assert row["SETTINGS"] == {**STRING_DEFAULTS, "ROWS": 2}
    assert await count_rows(db, "user_fields") == 1


async def test_huge_strings_are_refused(rest: RestClient, db: AsyncEngine) -> None:
    huge = "x" * 300_000
    for fields in ({"FIELD_NAME": "H", "USER_TYPE_ID": huge},
                   {"FIELD_NAME": "H", "USER_TYPE_ID": "string", "XML_ID": huge},
                   {"FIELD_NAME": "H", "USER_TYPE_ID": "string", "LABEL": huge},
                   {"FIELD_NAME": "H", "USER_TYPE_ID": "enumeration",
                    "LIST": [{"VALUE": huge}]}):  # fmt: skip
        reply = await rest.call(ADD, {"fields": fields})
        assert reply.status == 400, reply.body
        assert "Traceback" not in str(reply.body)
    assert await counts(db) == (0, 0, 0, 0)
