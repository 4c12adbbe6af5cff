"""The contact and company field tables; everything else is derived from them.

As for deals, one table per entity drives ``*.fields``, which fields add/update accept,
value coercion, the filter/order/select allow-list and the output order of get/list.
Descriptor order and titles are those of the public ``crm.contact.fields`` and
``crm.company.fields`` examples; output order is that of their ``get`` examples.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from relatecrm.deals.fields import FieldSpec


@dataclass(frozen=True)
class MultiType:
    """A multi-field (``PHONE`` ...): the ``VALUE_TYPE`` codes it takes and the default one."""

    name: str
    title: str
    value_types: tuple[str, ...]
    default: str = "WORK"


# VALUE_TYPE codes of the crm_multifield data type (docs), plus the messenger and site
# codes real portals hold (VK, IMOL for open lines ...), so that their data imports.
MULTI_TYPES: dict[str, MultiType] = {
    t.name: t
    for t in (
        MultiType("PHONE", "Phone", ("WORK", "MOBILE", "FAX", "HOME", "PAGER", "MAILING",
                                     "OTHER")),
        MultiType("EMAIL", "E-mail", ("WORK", "HOME", "MAILING", "OTHER")),
        MultiType("WEB", "Website", ("WORK", "HOME", "FACEBOOK", "VK", "LIVEJOURNAL",
                                     "TWITTER", "OTHER")),
        MultiType("IM", "Messenger", ("FACEBOOK", "TELEGRAM", "VK", "SKYPE", "VIBER",
                                      "INSTAGRAM", "BITRIX24", "OPENLINE", "IMOL", "ICQ",
                                      "MSN", "JABBER", "OTHER"), default="OTHER"),
    )
}  # fmt: skip
MULTI_NAMES: tuple[str, ...] = tuple(MULTI_TYPES)

# (name, type, title, flags, statusType); flags: R read-only, D deprecated, M multiple,
# Q described as required.
Row = tuple[str, str, str, str, str | None]


def _specs(rows: tuple[Row, ...]) -> dict[str, FieldSpec]:
    specs = (
        FieldSpec(
            name,
            type_,
            title,
            read_only="R" in flags,
            multiple="M" in flags,
            deprecated="D" in flags,
            status_type=status,
            settings={"parentEntityTypeId": 1} if name == "LEAD_ID" else None,
        )
        for name, type_, title, flags, status in rows
    )
    return {spec.name: spec for spec in specs}


_ORIGIN: tuple[Row, ...] = (
    ("ORIGINATOR_ID", "string", "External Source", "", None),
    ("ORIGIN_ID", "string", "Identifier in External Source", "", None),
    ("ORIGIN_VERSION", "string", "Original Version", "", None),
)
_UTM: tuple[Row, ...] = (
    ("UTM_SOURCE", "string", "Advertising System", "", None),
    ("UTM_MEDIUM", "string", "Traffic Type", "", None),
    ("UTM_CAMPAIGN", "string", "Campaign Identifier", "", None),
    ("UTM_CONTENT", "string", "Campaign Content", "", None),
)
_MULTI: tuple[Row, ...] = tuple(
    (t.name, "crm_multifield", t.title, "M", None) for t in MULTI_TYPES.values()
)


def _tail(utm_term: str, last_activity: str) -> tuple[Row, ...]:
    """The fields both entities end with (the docs title two of them differently)."""
    return (
        *_ORIGIN,
        *_UTM,
        ("UTM_TERM", "string", utm_term, "", None),
        ("LAST_ACTIVITY_TIME", "datetime", last_activity, "R", None),
        ("LAST_ACTIVITY_BY", "user", "Last Activity Author", "R", None),
        *_MULTI,
    )


CONTACT_ROWS: tuple[Row, ...] = (
    ("ID", "integer", "ID", "R", None),
    ("HONORIFIC", "crm_status", "Salutation", "", "HONORIFIC"),
    ("NAME", "string", "First Name", "Q", None),
    ("SECOND_NAME", "string", "Middle Name", "Q", None),
    ("LAST_NAME", "string", "Last Name", "Q", None),
    ("BIRTHDATE", "date", "Birthdate", "", None),
    ("TYPE_ID", "crm_status", "Contact Type", "", "CONTACT_TYPE"),
    ("SOURCE_ID", "crm_status", "Source", "", "SOURCE"),
    ("SOURCE_DESCRIPTION", "string", "Additional Source Info", "", None),
    ("POST", "string", "Position", "", None),
    ("COMMENTS", "string", "Comment", "", None),
    ("OPENED", "char", "Available to all", "", None),
    ("EXPORT", "char", "Participates in contact export", "", None),
    ("HAS_PHONE", "char", "Phone set", "R", None),
    ("HAS_EMAIL", "char", "E-mail set", "R", None),
    ("HAS_IMOL", "char", "Open channel set", "R", None),
    ("ASSIGNED_BY_ID", "user", "Responsible", "", None),
    ("CREATED_BY_ID", "user", "Created by", "R", None),
    ("MODIFY_BY_ID", "user", "Modified by", "R", None),
    ("DATE_CREATE", "datetime", "Creation Date", "R", None),
    ("DATE_MODIFY", "datetime", "Modification Date", "R", None),
    ("COMPANY_ID", "crm_company", "Company", "D", None),
    ("LEAD_ID", "crm_lead", "Lead", "R", None),
    *_tail("Campaign Search Condition", "Last Activity"),
)

COMPANY_ROWS: tuple[Row, ...] = (
    ("ID", "integer", "ID", "R", None),
    ("TITLE", "string", "Company Name", "Q", None),
    ("COMPANY_TYPE", "crm_status", "Company Type", "", "COMPANY_TYPE"),
    ("INDUSTRY", "crm_status", "Industry", "", "INDUSTRY"),
    ("EMPLOYEES", "crm_status", "Number of Employees", "", "EMPLOYEES"),
    ("CURRENCY_ID", "crm_currency", "Currency", "", None),
    ("REVENUE", "double", "Annual Revenue", "", None),
    ("OPENED", "char", "Available to Everyone", "", None),
    ("COMMENTS", "string", "Comment", "", None),
    ("HAS_PHONE", "char", "Phone Set", "R", None),
    ("HAS_EMAIL", "char", "E-mail Set", "R", None),
    ("HAS_IMOL", "char", "Open Line Set", "R", None),
    ("IS_MY_COMPANY", "char", "My Company", "", None),
    ("ASSIGNED_BY_ID", "user", "Responsible Person", "", None),
    ("CREATED_BY_ID", "user", "Created By", "R", None),
    ("MODIFY_BY_ID", "user", "Modified By", "R", None),
    ("DATE_CREATE", "datetime", "Creation Date", "R", None),
    ("DATE_MODIFY", "datetime", "Modification Date", "R", None),
    ("LEAD_ID", "crm_lead", "Lead", "R", None),
    *_tail("Campaign Search Term", "Last Activity Time"),
)


@dataclass(frozen=True, eq=False)
class Entity:
    """One client entity: its field table and the names it goes by elsewhere."""

    name: str  # outbox entity_type: "contact"
    code: str  # multifields.entity_type: "CONTACT"
    event: str  # event prefix: "onCrmContact" + Add/Update/Delete
    fields: Mapping[str, FieldSpec]
    output_order: tuple[str, ...]  # get's key order (multi-fields follow, in MULTI_NAMES order)
    described_required: frozenset[str] = frozenset()
    title_field: str | None = None  # must not be empty (companies' TITLE)
    # Fields filters, order and select may name: every stored single-valued field.
    queryable: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        names = frozenset(name for name, spec in self.fields.items() if spec.column_name)
        object.__setattr__(self, "queryable", names)

    def describe(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name, spec in self.fields.items():
            out[name] = spec.describe()
            if name in self.described_required:
                out[name]["isRequired"] = True
        return out


def _required(rows: tuple[Row, ...]) -> frozenset[str]:
    return frozenset(row[0] for row in rows if "Q" in row[3])


CONTACT = Entity(
    name="contact",
    code="CONTACT",
    event="onCrmContact",
    fields=_specs(CONTACT_ROWS),
    output_order=(
        "ID",
        "POST",
        "COMMENTS",
        "HONORIFIC",
        "NAME",
        "SECOND_NAME",
        "LAST_NAME",
        "LEAD_ID",
        "TYPE_ID",
        "SOURCE_ID",
        "SOURCE_DESCRIPTION",
        "COMPANY_ID",
        "BIRTHDATE",
        "EXPORT",
        "HAS_PHONE",
        "HAS_EMAIL",
        "HAS_IMOL",
        "DATE_CREATE",
        "DATE_MODIFY",
        "ASSIGNED_BY_ID",
        "CREATED_BY_ID",
        "MODIFY_BY_ID",
        "OPENED",
        "ORIGINATOR_ID",
        "ORIGIN_ID",
        "ORIGIN_VERSION",
        "LAST_ACTIVITY_TIME",
        "UTM_SOURCE",
        "UTM_MEDIUM",
        "UTM_CAMPAIGN",
        "UTM_CONTENT",
        "UTM_TERM",
        "LAST_ACTIVITY_BY",
    ),  # fmt: skip
    described_required=_required(CONTACT_ROWS),
)

COMPANY = Entity(
    name="company",
    code="COMPANY",
    event="onCrmCompany",
    fields=_specs(COMPANY_ROWS),
    output_order=(
        "ID",
        "COMPANY_TYPE",
        "TITLE",
        "LEAD_ID",
        "HAS_PHONE",
        "HAS_EMAIL",
        "HAS_IMOL",
        "ASSIGNED_BY_ID",
        "CREATED_BY_ID",
        "MODIFY_BY_ID",
        "INDUSTRY",
        "REVENUE",
        "CURRENCY_ID",
        "EMPLOYEES",
        "COMMENTS",
        "DATE_CREATE",
        "DATE_MODIFY",
        "OPENED",
        "IS_MY_COMPANY",
        "ORIGINATOR_ID",
        "ORIGIN_ID",
        "ORIGIN_VERSION",
        "UTM_SOURCE",
        "UTM_MEDIUM",
        "UTM_CAMPAIGN",
        "UTM_CONTENT",
        "UTM_TERM",
        "LAST_ACTIVITY_BY",
        "LAST_ACTIVITY_TIME",
    ),  # fmt: skip
    described_required=_required(COMPANY_ROWS),
    title_field="TITLE",
)
