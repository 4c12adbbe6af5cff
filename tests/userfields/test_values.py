"""userfields.values: per-type coercion, defaults, MANDATORY, filter values; no database.

Protocol spec §9.5 (types, SETTINGS, LIST) and §8.2 (crm.item names); the Bitrix
behaviours these follow are cited where each rule lives (userfields/values.py).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from relatecrm.bitrix.render import plain_number
from relatecrm.context import Context
from relatecrm.deals.fields import describe_user_field, uf_camel_name
from relatecrm.errors import InvalidFieldValue, RequiredFieldMissing
from relatecrm.userfields import values
from relatecrm.userfields.registry import EnumItem, UserField
from relatecrm.values import Unconvertible

UTC = dt.UTC
CTX = Context(user_id=1, now=dt.datetime(2024, 8, 30, 12, 0, tzinfo=UTC), tz=UTC)


def field(
    type_: str,
    *,
    name: str = "UF_CRM_X",
    multiple: bool = False,
    mandatory: bool = False,
    settings: dict[str, Any] | None = None,
    items: tuple[EnumItem, ...] = (),
    label: str = "My field",
) -> UserField:
    return UserField(
        id=1, entity_id="CRM_DEAL", field_name=name, user_type_id=type_, xml_id=None, sort=100,
        multiple=multiple, mandatory=mandatory, show_filter="N", show_in_list=True,
        edit_in_list=True, is_searchable=False, settings=settings or {},
        labels={"EDIT_FORM_LABEL": {"en": label}} if label else {}, items=items,
    )  # fmt: skip


ITEMS = (EnumItem(79, "One", False, 10, "a"), EnumItem(80, "Two", True, 20, "b"))

# type, settings, raw value, stored Python value
GOOD: list[tuple[str, dict[str, Any], Any, Any]] = [
    ("string", {}, "Hello world!", "Hello world!"),
    ("string", {}, 12, "12"),
    ("integer", {}, "42", 42),
    ("integer", {}, 7.0, 7),
    ("double", {}, "3.14159", 3.14),
    ("double", {"PRECISION": 4}, "3.14159", 3.1416),
    ("double", {}, "2,5", 2.5),
    ("boolean", {}, "Y", 1),
    ("boolean", {}, "false", 0),
    ("boolean", {}, True, 1),
    ("boolean", {}, 0, 0),
    ("date", {}, "2024-08-30", dt.date(2024, 8, 30)),
    ("date", {}, "2024-08-30T23:00:00+02:00", dt.date(2024, 8, 30)),
    ("datetime", {}, "2024-08-30T14:29:00+02:00", dt.datetime(2024, 8, 30, 12, 29, tzinfo=UTC)),
    ("enumeration", {}, "80", 80),
    ("money", {}, "100.5|usd", values.Money(Decimal("100.50"), "USD")),
    ("money", {}, 99, values.Money(Decimal("99.00"), "")),
    ("url", {}, "https://example.com/a?b=c", "https://example.com/a?b=c"),
    ("address", {}, "Main st 1|55.75;37.61", "Main st 1|55.75;37.61"),
    ("employee", {}, "1", 1),
    ("crm", {"CONTACT": "Y", "COMPANY": "Y"}, "co_5", "CO_5"),
    ("crm", {"DEAL": "Y"}, "12", "12"),
    ("crm", {"DEAL": "Y"}, "D_12", "12"),
]


@pytest.mark.parametrize(("type_", "settings", "raw", "expected"), GOOD)
def test_good_values_coerce(type_: str, settings: dict[str, Any], raw: Any, expected: Any) -> None:
    assert values.coerce(field(type_, settings=settings, items=ITEMS), raw, UTC) == [expected]


BAD: list[tuple[str, dict[str, Any], Any]] = [
    ("string", {}, "a\x00b"),
    ("string", {}, ["a", "b"]),
    ("integer", {}, "abc"),
    ("integer", {}, "1.5"),
    ("integer", {}, 2**40),
    ("double", {}, "pi"),
    ("boolean", {}, "maybe"),
    ("date", {}, "30.08.2024"),
    ("datetime", {}, "yesterday"),
    ("enumeration", {}, "81"),
    ("enumeration", {}, "Two"),
    ("money", {}, "ten|USD"),
    ("money", {}, "10|DOLLARS"),
    ("employee", {}, 0),
    ("crm", {"CONTACT": "Y", "COMPANY": "Y"}, "5"),
    ("crm", {"CONTACT": "Y"}, "D_5"),
    ("crm", {}, "X_5"),
    ("integer", {}, {"a": 1}),
]


@pytest.mark.parametrize(("type_", "settings", "raw"), BAD)
def test_bad_values_are_refused_with_the_field_label(
    type_: str, settings: dict[str, Any], raw: Any
) -> None:
    with pytest.raises(InvalidFieldValue) as error:
        values.coerce(field(type_, settings=settings, items=ITEMS), raw, UTC)
    assert error.value.field == "UF_CRM_X"
    assert error.value.message == 'Invalid value for the "My field" field.'


@pytest.mark.parametrize("raw", [None, "", "  ", "null", []])
def test_empty_spellings_clear(raw: Any) -> None:
    assert values.coerce(field("string", multiple=True), raw, UTC) == []
    if not isinstance(raw, list):
        assert values.coerce(field("integer"), raw, UTC) == []


def test_multiple_takes_lists_php_arrays_and_scalars() -> None:
    multi = field("integer", multiple=True)
    assert values.coerce(multi, [3, "1", "", None, 2], UTC) == [3, 1, 2]
    assert values.coerce(multi, {"1": "20", "0": "10"}, UTC) == [10, 20]  # fields[X][]=...
    assert values.coerce(multi, "5", UTC) == [5]
    with pytest.raises(InvalidFieldValue):
        values.coerce(multi, [1, [2]], UTC)


def test_single_fields_refuse_arrays_but_files_take_their_pair() -> None:
    with pytest.raises(InvalidFieldValue):
        values.coerce(field("integer"), {"0": "1"}, UTC)
    upload = values.coerce(field("file"), ["a.txt", "aGVsbG8="], UTC)
    assert upload == [values.Upload("a.txt", b"hello")]
    assert values.coerce(field("file"), {"fileData": ["a.txt", "aGVsbG8="]}, UTC) == upload
    assert values.coerce(field("file"), {"id": "7"}, UTC) == [values.Keep(7)]
    assert values.coerce(field("file"), {"id": "7", "remove": "Y"}, UTC) == []
    pair = {"fileData": ["b.txt", "aGk="]}
    two = values.coerce(field("file", multiple=True), [pair, ["c.txt", "aGk="]], UTC)
    assert two == [values.Upload("b.txt", b"hi"), values.Upload("c.txt", b"hi")]
    with pytest.raises(InvalidFieldValue):
        values.coerce(field("file"), {"fileData": ["a.txt", "not base64!"]}, UTC)


def test_defaults_apply_on_add_only_and_mandatory_is_checked() -> None:
    known = {
        "UF_CRM_S": field("string", name="UF_CRM_S", settings={"DEFAULT_VALUE": "dflt"}),
        "UF_CRM_B": field("boolean", name="UF_CRM_B", settings={"DEFAULT_VALUE": 1}),
        "UF_CRM_E": field("enumeration", name="UF_CRM_E", items=ITEMS),
        "UF_CRM_D": field("date", name="UF_CRM_D", settings={"DEFAULT_VALUE": {"TYPE": "NOW"}}),
        "UF_CRM_T": field(
            "datetime",
            name="UF_CRM_T",
            settings={"DEFAULT_VALUE": {"TYPE": "FIXED", "VALUE": "2024-01-02T03:04:05+00:00"}},
        ),
        "UF_CRM_N": field("integer", name="UF_CRM_N", settings={"DEFAULT_VALUE": "oops"}),
    }
    added = values.prepare(known, {"UF_CRM_S": "given"}, CTX, creating=True)
    assert added == {
        "UF_CRM_S": ["given"],
        "UF_CRM_B": [1],
        "UF_CRM_E": [80],
        "UF_CRM_D": [dt.date(2024, 8, 30)],
        "UF_CRM_T": [dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)],
        "UF_CRM_N": [],
    }
    assert values.prepare(known, {"UF_CRM_S": "x"}, CTX, creating=False) == {"UF_CRM_S": ["x"]}

    required = {"UF_CRM_R": field("string", name="UF_CRM_R", mandatory=True, label="Budget")}
    for given in ({}, {"UF_CRM_R": ""}, {"UF_CRM_R": None}):
        with pytest.raises(RequiredFieldMissing) as error:
            values.prepare(required, given, CTX, creating=True)
        assert error.value.message == "The required field Budget is missing.<br>"
    with pytest.raises(RequiredFieldMissing):
        values.prepare(required, {"UF_CRM_R": " "}, CTX, creating=False)
    assert values.prepare(required, {}, CTX, creating=False) == {}


@pytest.mark.parametrize(
    ("type_", "raw", "expected"),
    [
        ("boolean", "1", ("value_int", 1)),
        ("boolean", "N", ("value_int", 0)),
        ("money", "100.5|USD", ("value_text", "100.50|USD")),
        ("money", "100.5", ("value_num", 100.5)),
        ("double", "2", ("value_num", 2.0)),
        ("enumeration", "99", ("value_int", 99)),  # unknown items just match nothing
        ("string", 5, ("value_text", "5")),
        ("date", "2024-08-30T10:00:00", ("value_date", dt.date(2024, 8, 30))),
    ],
)
def test_filter_values(type_: str, raw: Any, expected: tuple[str, Any]) -> None:
    assert values.filter_value(field(type_, items=ITEMS), raw, UTC) == expected


def test_filter_values_refuse_nonsense() -> None:
    with pytest.raises(Unconvertible):
        values.filter_value(field("integer"), "x", UTC)


def test_money_ranges_compare_amounts() -> None:
    money = field("money")
    assert values.filter_value(money, "50|EUR", UTC, ordered=True) == ("value_num", 50.0)


# Bitrix's own conversion table (crm/universal/index.md) plus deal-style names.
@pytest.mark.parametrize(
    ("upper", "camel"),
    [
        ("UF_CRM_3_DIGIT", "ufCrm3Digit"),
        ("UF_CRM_3_DIGIT10", "ufCrm_3_DIGIT10"),
        ("UF_CRM_3_DIGIT_10", "ufCrm_3_DIGIT_10"),
        ("UF_CRM_3_1747309727", "ufCrm3_1747309727"),
        ("UF_CRM_1747309879", "ufCrm_1747309879"),
        ("UF_CRM_10_5186744711", "ufCrm10_5186744711"),
        ("UF_CRM_1721244482250", "ufCrm_1721244482250"),
        ("UF_CRM_HELLO_WORLD", "ufCrmHelloWorld"),
        ("UF_CRM_MANAGER_NOTE", "ufCrmManagerNote"),
        ("UF_CRM_ABC1", "ufCrm_ABC1"),
    ],
)
def test_uf_camel_names(upper: str, camel: str) -> None:
    assert uf_camel_name(upper) == camel


def test_descriptor_shape() -> None:
    enum = field("enumeration", name="UF_CRM_E", items=ITEMS, settings={"DISPLAY": "LIST"})
    described = describe_user_field(enum)
    assert list(described) == [
        "type", "isRequired", "isReadOnly", "isImmutable", "isMultiple", "isDynamic", "items",
        "title", "listLabel", "formLabel", "filterLabel", "settings",
    ]  # fmt: skip
    assert described["items"] == [{"ID": "79", "VALUE": "One"}, {"ID": "80", "VALUE": "Two"}]
    assert described["title"] == "UF_CRM_E"
    assert described["listLabel"] == described["filterLabel"] == "My field"
    assert describe_user_field(field("string", label=""))["formLabel"] == "UF_CRM_X"


@pytest.mark.parametrize(
    ("number", "text"),
    [(10.0, "10"), (3.14, "3.14"), (-0.5, "-0.5"), (1e20, "100000000000000000000")],
)
def test_doubles_print_like_php(number: float, text: str) -> None:
    assert plain_number(number) == text
