"""What custom fields are made of, as data: the types, and the descriptors that
``crm.userfield.fields`` and ``crm.userfield.enumeration.fields`` report.

Titles are the English texts of Bitrix's rest module (``lang/en/lib/userfieldproxy.php``),
what an English portal answers. The English docs' examples were captured on a Russian
portal and translated (compare b24restdocs with bitrix-tools/b24-rest-docs), so their
titles ("Mandatory", "Sorting") are not what a server sends.
"""

from __future__ import annotations

from typing import Any

# The types crm.deal.userfield.add accepts, in crm.userfield.types order. Bitrix also
# lists crm_status, iblock_section and iblock_element; we have no directories or
# information blocks to bind to, so we neither offer nor accept them.
TYPES: dict[str, str] = {
    "string": "String",
    "integer": "Integer",
    "double": "Number",
    "boolean": "Yes/No",
    "enumeration": "List",
    "datetime": "Date/Time",
    "date": "Date",
    "money": "Money",
    "url": "Link",
    "address": "Google Map address",
    "file": "File",
    "employee": "Bind to user",
    "crm": "Bind to CRM elements",
}

# (name, type, title, flags: R read-only, I immutable, M multiple), in Bitrix's order.
FIELD_SPECS = (
    ("ID", "int", "ID", "R"),
    ("ENTITY_ID", "string", "Object", "I"),
    ("FIELD_NAME", "string", "Code", "I"),
    ("USER_TYPE_ID", "string", "Data type", "I"),
    ("XML_ID", "string", "External ID (XML ID)", ""),
    ("SORT", "int", "Sort", ""),
    ("MULTIPLE", "char", "Multiple", ""),
    ("MANDATORY", "char", "Required", ""),
    ("SHOW_FILTER", "char", "Show in filter", ""),
    ("SHOW_IN_LIST", "char", "Show in list", ""),
    ("EDIT_IN_LIST", "char", "User editable", ""),
    ("IS_SEARCHABLE", "char", "Searchable", ""),
    ("EDIT_FORM_LABEL", "string", "Edit form label", ""),
    ("LIST_COLUMN_LABEL", "string", "List column text", ""),
    ("LIST_FILTER_LABEL", "string", "Filter label", ""),
    ("ERROR_MESSAGE", "string", "Error message", ""),
    ("HELP_MESSAGE", "string", "Help", ""),
    ("LIST", "uf_enum_element", "List items", "M"),
    ("SETTINGS", "object", "Extra properties (type dependent)", ""),
)
ENUM_SPECS = (
    ("ID", "int", "ID", "R"),
    ("SORT", "int", "Sort", ""),
    ("VALUE", "string", "Value", ""),
    ("DEF", "string", "Default value", ""),
    ("DEL", "string", "Element deletion flag", ""),
)
_FLAGS = {"R": "isReadOnly", "I": "isImmutable", "M": "isMultiple"}


def _describe(specs: tuple[tuple[str, str, str, str], ...]) -> dict[str, dict[str, Any]]:
    """Bitrix lists only the attributes a field has (``isReadOnly`` only where true)."""
    out: dict[str, dict[str, Any]] = {}
    for name, type_, title, flags in specs:
        out[name] = {"type": type_, "title": title, **{_FLAGS[f]: True for f in flags}}
    return out


def describe_types() -> list[dict[str, str]]:
    return [{"ID": type_id, "title": title} for type_id, title in TYPES.items()]


def describe_fields() -> dict[str, dict[str, Any]]:
    return _describe(FIELD_SPECS)


def describe_enum_fields() -> dict[str, dict[str, Any]]:
    return _describe(ENUM_SPECS)
