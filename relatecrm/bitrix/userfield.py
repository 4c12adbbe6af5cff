"""``crm.deal.userfield.*`` and ``crm.userfield.*`` handlers: custom field definitions.

Classic CRM methods: scalars are strings (``"ID": "6997"``, ``"SORT": "2000"``), errors
have an empty code unless the main module raised them (``ERROR_CORE``), and writing a
definition takes a CRM administrator, as on Bitrix24 (protocol spec §9.5).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from relatecrm.bitrix.call import Call
from relatecrm.bitrix.envelope import ListResult
from relatecrm.bitrix.filters import ascii_upper
from relatecrm.bitrix.params import resolve
from relatecrm.errors import AccessDenied, InvalidParameter
from relatecrm.userfields import catalog, definitions, labels, settings
from relatecrm.userfields.registry import UserField


def _yes(value: bool) -> str:
    return "Y" if value else "N"


def render(field: UserField, tz: dt.tzinfo, *, lang: str | None, maps: bool) -> dict[str, Any]:
    """The field object of the docs' ``get`` example; labels are language maps for
    ``get``, strings in ``lang`` for ``list`` with ``filter.LANG``, absent otherwise."""
    out: dict[str, Any] = {
        "ID": str(field.id),
        "ENTITY_ID": field.entity_id,
        "FIELD_NAME": field.field_name,
        "USER_TYPE_ID": field.user_type_id,
        "XML_ID": field.xml_id,
        "SORT": str(field.sort),
        "MULTIPLE": _yes(field.multiple),
        "MANDATORY": _yes(field.mandatory),
        "SHOW_FILTER": field.show_filter,
        "SHOW_IN_LIST": _yes(field.show_in_list),
        "EDIT_IN_LIST": _yes(field.edit_in_list),
        "IS_SEARCHABLE": _yes(field.is_searchable),
        "SETTINGS": settings.for_output(field.user_type_id, field.settings, tz),
    }
    if maps:
        out.update({kind: dict(field.labels.get(kind, {})) for kind in labels.KINDS})
    elif lang is not None:
        out.update(labels.for_language(field.labels, lang))
    if field.user_type_id == "enumeration":
        out["LIST"] = [
            {"ID": str(item.id), "SORT": str(item.sort), "VALUE": item.value,
             "DEF": _yes(item.default), "XML_ID": item.xml_id}
            for item in field.items
        ]  # fmt: skip
    return out


def _upper(mapping: dict[Any, Any]) -> dict[str, Any]:
    return {ascii_upper(str(key)): value for key, value in mapping.items()}


def _map_param(call: Call, name: str) -> dict[str, Any] | None:
    """An array parameter; None when absent; "must be array" when it is not a map."""
    value = resolve(call.params, name)
    if value is None:
        return None
    if value == [] or value == "":
        return {}
    if not isinstance(value, dict):
        raise InvalidParameter.must_be_array(name)
    return value


def _admin(call: Call) -> None:
    if not call.principal.is_admin:
        raise AccessDenied()


async def add(call: Call) -> int:
    _admin(call)
    # Without `fields` the parameters themselves are the fields ([CORE] restservice.php).
    sent = _map_param(call, "fields")
    fields = _upper(call.params if sent is None else sent)
    return await definitions.add(call.conn, call.ctx, fields)


async def update(call: Call) -> bool:
    _admin(call)
    field_id = definitions.check_id(resolve(call.params, "id"))
    sent = _map_param(call, "fields")
    if sent is None:
        raise InvalidParameter.must_be_array("fields")
    fields = _upper(sent)
    # b24pysdk's crm.deal.userfield.update sends LIST beside `fields`, not inside it.
    if fields.get("LIST") is None and (top_list := resolve(call.params, "LIST")) is not None:
        fields["LIST"] = top_list
    await definitions.update(call.conn, call.ctx, field_id, fields)
    return True


async def get(call: Call) -> dict[str, Any]:
    field_id = definitions.check_id(resolve(call.params, "id"))
    field = await definitions.get(call.conn, field_id)
    return render(field, call.ctx.tz, lang=None, maps=True)


async def list_(call: Call) -> ListResult:
    order = _map_param(call, "order") or {}
    filter_ = _upper(_map_param(call, "filter") or {})
    lang = filter_.get("LANG")
    lang = lang.strip().lower() if isinstance(lang, str) and lang.strip() else None
    found = await definitions.list_fields(
        call.conn,
        filter=filter_,
        order=[(ascii_upper(str(k)), v if isinstance(v, str) else "") for k, v in order.items()],
    )
    rows = [render(field, call.ctx.tz, lang=lang, maps=False) for field in found]
    # Every field in one reply, with its count: the method has no pages.
    return ListResult(rows, total=len(rows))


async def delete(call: Call) -> bool:
    _admin(call)
    field_id = definitions.check_id(resolve(call.params, "id"))
    await definitions.delete(call.conn, call.ctx, field_id)
    return True


async def types(call: Call) -> list[dict[str, str]]:
    return catalog.describe_types()


async def fields(call: Call) -> dict[str, Any]:
    return catalog.describe_fields()


async def enumeration_fields(call: Call) -> dict[str, Any]:
    return catalog.describe_enum_fields()


async def settings_fields(call: Call) -> dict[str, Any]:
    type_id = resolve(call.params, "type")
    if not isinstance(type_id, str) or not type_id.strip():
        raise InvalidParameter("Parameter 'type' is not specified or empty.")
    return settings.describe(type_id.strip())
