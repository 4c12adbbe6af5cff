"""Custom field values: what clients send, per type, turned into the Python values we store.

Each ``USER_TYPE_ID`` is one row of ``RULES``: the typed column of ``uf_deal_values`` that
holds it and the function that reads one client value. Coercion is lenient about
spelling (``"1"``/``"Y"``/``true``), strict about meaning: a value that cannot be of the
field's type raises :class:`~relatecrm.errors.InvalidFieldValue` and nothing is written.

A write is prepared in two steps. :func:`prepare` (here, pure) picks the custom fields out
of ``fields``, reads every value, adds ``SETTINGS.DEFAULT_VALUE`` on add and checks
``MANDATORY``; ``store.resolve`` then checks what only the database knows (users,
currencies, linked CRM items) and stores uploaded files. Both run before the deal row is
touched, so an invalid write changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from relatecrm.context import Context
from relatecrm.errors import InvalidFieldValue, RequiredFieldMissing
from relatecrm.userfields import files
from relatecrm.userfields.registry import UserField
from relatecrm.values import (
    Unconvertible,
    is_null,
    parse_date,
    parse_datetime,
    to_decimal,
    to_flag,
    to_int,
    to_string,
)

# CRM item types a ``crm`` field may link, by the prefix of a value such as ``C_12``.
CRM_PREFIXES = {"L": "LEAD", "C": "CONTACT", "CO": "COMPANY", "D": "DEAL"}
DEFAULT_PRECISION = 2


@dataclass(frozen=True)
class Money:
    """A ``money`` value: stored as ``"amount|CUR"`` text and its amount as a number."""

    amount: Decimal
    currency: str

    @property
    def text(self) -> str:
        return f"{self.amount}|{self.currency}"


@dataclass(frozen=True)
class Upload:
    """A file sent in a write, not stored yet."""

    name: str
    content: bytes


@dataclass(frozen=True)
class Keep:
    """``{"id": N}``: a file the field already holds, kept as it is."""

    file_id: int


def label(field: UserField, kind: str = "EDIT_FORM_LABEL") -> str:
    """One of the field's labels (``LIST_COLUMN_LABEL``...): English, else any language,
    else the edit-form label, else the field's name."""
    for key in (kind, "EDIT_FORM_LABEL"):
        texts = field.labels.get(key) or {}
        text = texts.get("en") or next((t for t in texts.values() if t), "")
        if text:
            return str(text)
    return field.field_name


def title(field: UserField) -> str:
    """The field's name in messages: its edit-form label."""
    return label(field)


def invalid(field: UserField) -> InvalidFieldValue:
    return InvalidFieldValue(field.field_name, title(field))


def _precision(field: UserField) -> int:
    try:
        return max(0, min(12, to_int(field.settings.get("PRECISION", DEFAULT_PRECISION))))
    except Unconvertible:
        return DEFAULT_PRECISION


def _double(field: UserField, raw: Any, tz: dt.tzinfo) -> float:
    # Bitrix rounds a double to the field's PRECISION when it saves it.
    unit = Decimal(1).scaleb(-_precision(field))
    return float(to_decimal(raw).quantize(unit, rounding=ROUND_HALF_UP))


def _boolean(field: UserField, raw: Any, tz: dt.tzinfo) -> int:
    return 1 if to_flag(raw) == "Y" else 0


def _enumeration(field: UserField, raw: Any, tz: dt.tzinfo) -> int:
    """The id of one of the field's items; an unknown id is refused (not its VALUE text)."""
    item_id = to_int(raw)
    if all(item.id != item_id for item in field.items):
        raise Unconvertible(raw)
    return item_id


def _positive(field: UserField, raw: Any, tz: dt.tzinfo) -> int:
    number = to_int(raw)
    if number <= 0:
        raise Unconvertible(raw)
    return number


def allowed_crm_types(field: UserField) -> list[str]:
    """The prefixes a ``crm`` field links (SETTINGS ``LEAD``/``CONTACT``/... = ``Y``)."""
    chosen = [p for p, name in CRM_PREFIXES.items() if str(field.settings.get(name)) == "Y"]
    return chosen or list(CRM_PREFIXES)


def _crm(field: UserField, raw: Any, tz: dt.tzinfo) -> str:
    """``D_12``/``C_5``...; a plain id when the field links one type only (stored plain)."""
    text = to_string(raw).strip().upper()
    allowed = allowed_crm_types(field)
    prefix, _, number = text.rpartition("_")
    if not prefix and len(allowed) == 1:
        prefix = allowed[0]
    if prefix not in allowed or not number.isdigit() or int(number) <= 0:
        raise Unconvertible(raw)
    return str(int(number)) if len(allowed) == 1 else f"{prefix}_{int(number)}"


def _money(field: UserField, raw: Any, tz: dt.tzinfo) -> Money:
    """``"100.50|USD"``; the currency may be left out (the base currency is added later)."""
    text = to_string(raw).strip()
    amount, _, currency = text.partition("|")
    number = to_decimal(amount).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    currency = currency.strip().upper()
    if currency and not (currency.isascii() and currency.isalpha() and len(currency) == 3):
        raise Unconvertible(raw)
    return Money(number, currency)


def _file(field: UserField, raw: Any, tz: dt.tzinfo) -> Upload | Keep | None:
    """An upload (``{"fileData": [name, base64]}`` or ``[name, base64]``), ``{"id": N}``
    to keep a file the field holds, or ``{"id": N, "remove": "Y"}`` (None: dropped)."""
    if isinstance(raw, dict) and "fileData" not in raw and "id" in raw:
        if str(raw.get("remove", "")).upper() == "Y":
            return None
        return Keep(to_int(raw["id"]))
    try:
        name, content = files.decode_upload(raw)
    except ValueError as exc:
        raise Unconvertible(raw) from exc
    return Upload(name, content)


@dataclass(frozen=True)
class TypeRule:
    """How one type is stored and read: its value column and its coercer."""

    column: str
    coerce: Callable[[UserField, Any, dt.tzinfo], Any]
    text: bool = False  # compared through value_key, LIKE applies


def _text(field: UserField, raw: Any, tz: dt.tzinfo) -> str:
    return to_string(raw)


RULES: dict[str, TypeRule] = {
    "string": TypeRule("value_text", _text, text=True),
    "url": TypeRule("value_text", _text, text=True),
    "address": TypeRule("value_text", _text, text=True),
    "crm": TypeRule("value_text", _crm, text=True),
    "money": TypeRule("value_text", _money, text=True),
    "integer": TypeRule("value_int", lambda f, raw, tz: to_int(raw)),
    "double": TypeRule("value_num", _double),
    "boolean": TypeRule("value_int", _boolean),
    "enumeration": TypeRule("value_int", _enumeration),
    "employee": TypeRule("value_int", _positive),
    "file": TypeRule("value_int", _file),
    "date": TypeRule("value_date", lambda f, raw, tz: parse_date(raw)),
    "datetime": TypeRule("value_time", lambda f, raw, tz: parse_datetime(raw, tz)),
}
# Types this server has no rule for (iblock_*, crm_status, REST types) are kept as text.
FALLBACK = RULES["string"]


def rule(field: UserField) -> TypeRule:
    return RULES.get(field.user_type_id, FALLBACK)


def _items(field: UserField, raw: Any) -> list[Any]:
    """The values a write sends: a list, a PHP form array, or one scalar."""
    if field.user_type_id == "file" and _one_upload(raw):
        return [raw]
    if isinstance(raw, dict):
        keys = list(raw)
        if not field.multiple:
            raise invalid(field)
        if all(str(k).isascii() and str(k).isdigit() for k in keys):
            return [raw[k] for k in sorted(keys, key=int)]
        return list(raw.values())
    if isinstance(raw, list | tuple):
        if not field.multiple:
            raise invalid(field)
        return list(raw)
    return [raw]


def _one_upload(raw: Any) -> bool:
    """A single file value, as opposed to a list of them."""
    if isinstance(raw, dict):
        return (
            "fileData" in raw
            or "id" in raw
            or set(raw) == {"0", "1"}
            and all(isinstance(v, str) for v in raw.values())
        )
    return isinstance(raw, list | tuple) and len(raw) == 2 and all(isinstance(v, str) for v in raw)


def _empty(raw: Any) -> bool:
    return (isinstance(raw, str) and raw.strip() == "") or is_null(raw)


def coerce(field: UserField, raw: Any, tz: dt.tzinfo) -> list[Any]:
    """The field's values from one client value; ``[]`` means "no value" (clears)."""
    values: list[Any] = []
    items = _items(field, raw)
    if not field.multiple and len(items) > 1:
        raise invalid(field)
    for item in items:
        if _empty(item) or (isinstance(item, list | dict) and not item):
            continue
        if isinstance(item, list | dict) and field.user_type_id != "file":
            raise invalid(field)
        try:
            value = rule(field).coerce(field, item, tz)
        except Unconvertible:
            raise invalid(field) from None
        if isinstance(value, str) and "\x00" in value:
            raise invalid(field)
        if value is not None:
            values.append(value)
    return values


def default(field: UserField, ctx: Context) -> list[Any]:
    """What an add stores when it does not send the field (``SETTINGS.DEFAULT_VALUE``, or
    the enumeration items marked ``DEF``); an unreadable default is no default."""
    if field.user_type_id == "enumeration":
        chosen = [item.id for item in field.items if item.default]
        return chosen if field.multiple else chosen[:1]
    setting = field.settings.get("DEFAULT_VALUE")
    if isinstance(setting, dict):  # date/datetime: {"TYPE": NONE|NOW|FIXED, "VALUE": ...}
        kind = str(setting.get("TYPE", "NONE")).upper()
        if kind == "NOW":
            now = ctx.now.astimezone(ctx.tz)
            return [now.date() if field.user_type_id == "date" else ctx.now]
        setting = setting.get("VALUE") if kind == "FIXED" else None
    if setting is None or isinstance(setting, list | dict) or field.user_type_id == "file":
        return []
    try:
        return coerce(field, setting, ctx.tz)
    except InvalidFieldValue:
        return []


def pick(fields: Mapping[str, Any], known: Mapping[str, UserField]) -> dict[str, Any]:
    """The custom fields of a write that exist; unknown ``UF_*`` names are ignored."""
    return {name: raw for name, raw in fields.items() if name in known}


def prepare(
    known: Mapping[str, UserField], given: Mapping[str, Any], ctx: Context, *, creating: bool
) -> dict[str, list[Any]]:
    """Every value a write sets, by field name; on add with defaults and MANDATORY checked.

    On update only the given fields change, and a mandatory one may not be emptied.
    """
    prepared = {name: coerce(known[name], raw, ctx.tz) for name, raw in given.items()}
    if creating:
        for name, field in known.items():
            if name not in prepared:
                prepared[name] = default(field, ctx)
    for name, values in prepared.items():
        field = known[name]
        if field.mandatory and not values and (creating or name in given):
            raise RequiredFieldMissing(field.field_name, title(field))
    return prepared


def stored(field: UserField, row: Mapping[Any, Any]) -> Any:
    """The Python value of one stored value row (money: its ``"amount|CUR"`` text)."""
    return row[rule(field).column]


def filter_value(
    field: UserField, raw: Any, tz: dt.tzinfo, *, ordered: bool = False
) -> tuple[str, Any]:
    """(value column, Python value) a filter compares with; Unconvertible if unreadable.

    Money equality compares the text when the value names a currency (``"100.00|USD"``),
    else the amount; ``ordered`` comparisons (``>``, ``<=``...) always compare amounts.
    Booleans take ``1``/``0`` (what Bitrix documents) or any Y/N spelling.
    """
    kind = field.user_type_id
    if kind == "money":
        money = _money(field, raw, tz)
        if money.currency and not ordered:
            return "value_text", money.text
        return "value_num", float(money.amount)
    if kind == "crm":
        try:
            return "value_text", _crm(field, raw, tz)
        except Unconvertible:
            return "value_text", to_string(raw).strip().upper()
    if kind in ("enumeration", "employee", "file"):
        return "value_int", to_int(raw)
    if kind == "double":
        return "value_num", float(to_decimal(raw))
    return rule(field).column, rule(field).coerce(field, raw, tz)
