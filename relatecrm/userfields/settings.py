"""Per-type ``SETTINGS`` of custom fields, as data.

Two layers, as on Bitrix24: the REST proxy accepts only a few settings per type
(``settable``; the rest of what a client sends is dropped), and the type handler then
stores its full settings array with defaults for everything (``stored``). That is why
the docs' ``get`` example of a string field shows ``SIZE``, ``REGEXP``, ``MIN_LENGTH`` and
``MAX_LENGTH`` although nobody can set them through REST (protocol spec §9.5;
b24restdocs crm-deal-userfield-add.md "Parameter SETTINGS"; the main module's
``prepareSettings`` of each type).

Values of the wrong kind (an object for ``ROWS``, ``"abc"`` for an integer default) are
refused with a 400; values of the right kind but out of range are clamped or defaulted
exactly as Bitrix does (``ROWS`` 1..50, ``PRECISION`` 0..12 with 2 for a negative one,
an unknown ``DISPLAY`` becomes the type's default).

Stored forms other modules read: a datetime ``DEFAULT_VALUE.VALUE`` is ISO-8601 in UTC
(``2024-05-01T07:00:00+00:00``), a date one ``YYYY-MM-DD``; ``TYPE`` is NONE, NOW or FIXED.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from relatecrm.errors import InvalidFieldValue
from relatecrm.values import (
    Unconvertible,
    parse_date,
    parse_datetime,
    to_decimal,
    to_flag,
    to_int,
    to_string,
)

Reader = Callable[[Any, dt.tzinfo], Any]


@dataclass(frozen=True)
class Setting:
    """One setting a client may send: its descriptor and how its value is read."""

    name: str
    type: str  # as crm.userfield.settings.fields reports it
    title: str
    read: Reader


@dataclass(frozen=True)
class TypeSettings:
    """What a type accepts, and everything it stores (with defaults, in output order)."""

    settable: tuple[Setting, ...] = ()
    stored: Mapping[str, Any] = field(default_factory=dict)
    # A rule over the whole result (crm: with no entity type chosen, leads are).
    finish: Callable[[dict[str, Any]], None] | None = None


def _text(value: Any, tz: dt.tzinfo) -> str:
    if isinstance(value, bool):
        raise Unconvertible(value)
    return to_string(value)


def _rows(value: Any, tz: dt.tzinfo) -> int:
    return min(max(to_int(value), 1), 50)


def _optional(read: Callable[[Any], Any]) -> Reader:
    """An empty string means "no default value", as in Bitrix."""

    def reader(value: Any, tz: dt.tzinfo) -> Any:
        if isinstance(value, str) and not value.strip():
            return ""
        return read(value)

    return reader


def _double(value: Any) -> float:
    return float(to_decimal(value))


def _precision(value: Any, tz: dt.tzinfo) -> int:
    precision = to_int(value)
    return 2 if precision < 0 else min(precision, 12)


def _yes_no_number(value: Any, tz: dt.tzinfo) -> int:
    """The boolean default: ``>= 1`` is 1 and ``<= 0`` is 0 (docs); Y/N spellings too."""
    try:
        return 1 if to_int(value) > 0 else 0
    except Unconvertible:
        return 1 if to_flag(value) == "Y" else 0


def _choice(options: tuple[str, ...]) -> Reader:
    """An upper-cased option; an unknown one becomes the first (the type's default)."""

    def reader(value: Any, tz: dt.tzinfo) -> str:
        if not isinstance(value, str):
            raise Unconvertible(value)
        upper = value.strip().upper()
        return upper if upper in options else options[0]

    return reader


def _positive(value: Any, tz: dt.tzinfo) -> int:
    number = to_int(value)
    return number if number > 0 else 1


def _flag(value: Any, tz: dt.tzinfo) -> str:
    return to_flag(value)


def _default_date(with_time: bool) -> Reader:
    """``{VALUE, TYPE: NONE|NOW|FIXED}``; a bare value means TYPE NONE, as in Bitrix."""

    def reader(value: Any, tz: dt.tzinfo) -> dict[str, str]:
        if isinstance(value, Mapping):
            keys = {str(key).upper(): item for key, item in value.items()}
            raw, kind = keys.get("VALUE"), keys.get("TYPE")
        elif isinstance(value, list):
            raise Unconvertible(value)
        else:
            raw, kind = value, None
        if kind is not None and not isinstance(kind, str):
            raise Unconvertible(value)
        kind = (kind or "NONE").strip().upper()
        if kind == "FIXED":
            if with_time:
                return {"VALUE": parse_datetime(raw, tz).isoformat(), "TYPE": kind}
            return {"VALUE": parse_date(raw).isoformat(), "TYPE": kind}
        return {"VALUE": "", "TYPE": "NOW" if kind == "NOW" else "NONE"}

    return reader


def _leads_by_default(settings: dict[str, Any]) -> None:
    """With no entity type chosen a crm field binds leads (the add docs: "If none of the
    following options are passed, binding to leads LEAD = Y will be enabled")."""
    if all(settings.get(key) != "Y" for key in CRM_ENTITIES):
        settings["LEAD"] = "Y"


DEFAULT_VALUE = "Default value"  # the rest module's English title
CRM_ENTITIES = ("LEAD", "CONTACT", "COMPANY", "DEAL")
NO_DEFAULT_DATE = {"VALUE": "", "TYPE": "NONE"}

SETTINGS: dict[str, TypeSettings] = {
    "string": TypeSettings(
        (Setting("DEFAULT_VALUE", "string", DEFAULT_VALUE, _text),
         Setting("ROWS", "int", "Rows per text box", _rows)),
        {"SIZE": 20, "ROWS": 1, "REGEXP": "", "MIN_LENGTH": 0, "MAX_LENGTH": 0,
         "DEFAULT_VALUE": ""},
    ),
    "integer": TypeSettings(
        (Setting("DEFAULT_VALUE", "int", DEFAULT_VALUE, _optional(to_int)),),
        {"SIZE": 20, "MIN_VALUE": 0, "MAX_VALUE": 0, "DEFAULT_VALUE": ""},
    ),
    "double": TypeSettings(
        (Setting("DEFAULT_VALUE", "double", DEFAULT_VALUE, _optional(_double)),
         Setting("PRECISION", "int", "Precision", _precision)),
        {"PRECISION": 2, "SIZE": 20, "MIN_VALUE": 0.0, "MAX_VALUE": 0.0, "DEFAULT_VALUE": ""},
    ),
    "boolean": TypeSettings(
        (Setting("DEFAULT_VALUE", "int", DEFAULT_VALUE, _yes_no_number),
         Setting("DISPLAY", "string", "Design", _choice(("CHECKBOX", "RADIO", "DROPDOWN")))),
        {"DEFAULT_VALUE": 0, "DISPLAY": "CHECKBOX", "LABEL": ["", ""], "LABEL_CHECKBOX": ""},
    ),
    "datetime": TypeSettings(
        (Setting("DEFAULT_VALUE", "datetime", DEFAULT_VALUE, _default_date(True)),),
        {"DEFAULT_VALUE": NO_DEFAULT_DATE, "USE_SECOND": "Y", "USE_TIMEZONE": "N"},
    ),
    "date": TypeSettings(
        (Setting("DEFAULT_VALUE", "date", DEFAULT_VALUE, _default_date(False)),),
        {"DEFAULT_VALUE": NO_DEFAULT_DATE},
    ),
    "enumeration": TypeSettings(
        (Setting("DISPLAY", "string", "Design", _choice(("LIST", "UI", "CHECKBOX", "DIALOG"))),
         Setting("LIST_HEIGHT", "int", "List height", _positive)),
        {"DISPLAY": "LIST", "LIST_HEIGHT": 1, "CAPTION_NO_VALUE": "", "SHOW_NO_VALUE": "Y"},
    ),
    "money": TypeSettings(),
    "url": TypeSettings(
        stored={"POPUP": "Y", "SIZE": 20, "MIN_LENGTH": 0, "MAX_LENGTH": 0, "DEFAULT_VALUE": ""}
    ),
    "address": TypeSettings(),
    "file": TypeSettings(
        stored={"SIZE": 20, "LIST_WIDTH": 0, "LIST_HEIGHT": 0, "MAX_SHOW_SIZE": 0,
                "MAX_ALLOWED_SIZE": 0, "EXTENSIONS": {}, "TARGET_BLANK": "Y"}
    ),
    "employee": TypeSettings(),
    "crm": TypeSettings(
        tuple(Setting(key, "char", key.title(), _flag) for key in CRM_ENTITIES),
        dict.fromkeys(CRM_ENTITIES, "N"),
        _leads_by_default,
    ),
}  # fmt: skip


def _given(raw: Any) -> dict[str, Any]:
    """``SETTINGS`` as sent: a map (keys upper-cased), or nothing; anything else is refused."""
    if raw is None or raw == "" or raw == []:
        return {}
    if not isinstance(raw, Mapping):
        raise InvalidFieldValue("SETTINGS", "SETTINGS")
    return {str(key).upper() if str(key).isascii() else str(key): v for key, v in raw.items()}


def normalize(
    type_id: str, raw: Any, tz: dt.tzinfo, current: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The settings to store: ``current`` (or the type's defaults) with the sent ones read.

    On update only the settings sent change ("The field only overwrites the passed
    values", update docs); settings a type does not accept are dropped.
    """
    spec = SETTINGS[type_id]
    out = copy.deepcopy({**spec.stored, **(current or {})})
    given = _given(raw)
    for setting in spec.settable:
        value = given.get(setting.name)
        if value is None:
            continue
        try:
            out[setting.name] = setting.read(value, tz)
        except Unconvertible:
            label = f"SETTINGS.{setting.name}"
            raise InvalidFieldValue(label, label) from None
    if spec.finish is not None:
        spec.finish(out)
    return out


def describe(type_id: str) -> dict[str, dict[str, str]]:
    """``crm.userfield.settings.fields``: the settings a type accepts (none if unknown)."""
    spec = SETTINGS.get(type_id)
    if spec is None:
        return {}
    return {s.name: {"type": s.type, "title": s.title} for s in spec.settable}


def for_output(type_id: str, settings: Mapping[str, Any], tz: dt.tzinfo) -> dict[str, Any]:
    """Stored settings as clients see them: a fixed datetime default in the portal's zone."""
    out = copy.deepcopy(dict(settings))
    default = out.get("DEFAULT_VALUE")
    if type_id == "datetime" and isinstance(default, dict) and default.get("VALUE"):
        try:
            moment = dt.datetime.fromisoformat(str(default["VALUE"]))
        except ValueError:
            return out
        if moment.tzinfo is not None:
            default["VALUE"] = moment.astimezone(tz).isoformat()
    return out
