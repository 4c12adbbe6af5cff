"""The deal field table: one spec per field, and everything else is derived from it.

This table drives ``crm.deal.fields``, which fields add/update accept, value
coercion, the filter/order/select allow-list and the output order of get/list.
The order of ``SYSTEM_FIELDS`` is the order of the seed's ``crm.deal.fields`` reply.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from relatecrm.userfields import values as uf_values
from relatecrm.userfields.registry import UserField

# Bitrix refuses LIKE on reference fields; the filter treats it as equality there.
NO_LIKE_TYPES = frozenset({"crm_status", "crm_contact", "crm_company"})


@dataclass(frozen=True)
class FieldSpec:
    """One deal field as Bitrix describes it, plus where we keep it."""

    name: str
    type: str
    title: str
    read_only: bool = False
    immutable: bool = False
    multiple: bool = False
    status_type: str | None = None
    deprecated: bool = False
    settings: dict[str, Any] | None = None
    # None: the field has no column of its own (CONTACT_IDS lives in deal_contacts).
    column: str | None = field(default=None)

    @property
    def column_name(self) -> str | None:
        return None if self.multiple else (self.column or self.name.lower())

    @property
    def writable_on_add(self) -> bool:
        return not self.read_only

    @property
    def writable_on_update(self) -> bool:
        return not self.read_only and not self.immutable

    @property
    def likeable(self) -> bool:
        return self.type in ("string", "location") and self.type not in NO_LIKE_TYPES

    def describe(self) -> dict[str, Any]:
        """The ``crm_rest_field_description`` with the seed's key order."""
        out: dict[str, Any] = {
            "type": self.type,
            "isRequired": False,
            "isReadOnly": self.read_only,
            "isImmutable": self.immutable,
            "isMultiple": self.multiple,
            "isDynamic": False,
        }
        if self.status_type:
            out["statusType"] = self.status_type
        if self.deprecated:
            out["isDeprecated"] = True
        out["title"] = self.title
        if self.settings is not None:
            out["settings"] = self.settings
        return out


def _ro(name: str, type_: str, title: str) -> FieldSpec:
    return FieldSpec(name, type_, title, read_only=True)


SYSTEM_FIELDS: tuple[FieldSpec, ...] = (
    _ro("ID", "integer", "ID"),
    FieldSpec("TITLE", "string", "Title"),
    FieldSpec("TYPE_ID", "crm_status", "Type", status_type="DEAL_TYPE"),
    FieldSpec("CATEGORY_ID", "crm_category", "Sales Funnel", immutable=True),
    FieldSpec("STAGE_ID", "crm_status", "Deal Stage", status_type="DEAL_STAGE"),
    _ro("STAGE_SEMANTIC_ID", "string", "Stage Group"),
    _ro("IS_NEW", "char", "New Deal"),
    FieldSpec("IS_RECURRING", "char", "Recurring Deal"),
    FieldSpec("IS_RETURN_CUSTOMER", "char", "Repeat Deal"),
    FieldSpec("IS_REPEATED_APPROACH", "char", "Repeated Approach"),
    FieldSpec("PROBABILITY", "integer", "Probability"),
    FieldSpec("CURRENCY_ID", "crm_currency", "Currency"),
    FieldSpec("OPPORTUNITY", "double", "Amount"),
    FieldSpec("IS_MANUAL_OPPORTUNITY", "char", "IS_MANUAL_OPPORTUNITY"),
    FieldSpec("TAX_VALUE", "double", "Tax Rate"),
    FieldSpec("COMPANY_ID", "crm_company", "Company", settings={"parentEntityTypeId": 4}),
    FieldSpec("CONTACT_ID", "crm_contact", "Contact", deprecated=True),
    FieldSpec("CONTACT_IDS", "crm_contact", "Contacts", multiple=True),
    FieldSpec(
        "QUOTE_ID", "crm_quote", "Estimate", read_only=True, settings={"parentEntityTypeId": 7}
    ),
    FieldSpec("BEGINDATE", "date", "Start Date"),
    FieldSpec("CLOSEDATE", "date", "Close Date"),
    FieldSpec("OPENED", "char", "Available to All"),
    FieldSpec("CLOSED", "char", "Closed"),
    FieldSpec("COMMENTS", "string", "Comment"),
    FieldSpec("ASSIGNED_BY_ID", "user", "Assignee"),
    _ro("CREATED_BY_ID", "user", "Created By"),
    _ro("MODIFY_BY_ID", "user", "Modified By"),
    _ro("MOVED_BY_ID", "user", "MOVED_BY_ID"),
    _ro("DATE_CREATE", "datetime", "Creation Date"),
    _ro("DATE_MODIFY", "datetime", "Modification Date"),
    _ro("MOVED_TIME", "datetime", "MOVED_TIME"),
    FieldSpec("SOURCE_ID", "crm_status", "Source", status_type="SOURCE"),
    FieldSpec("SOURCE_DESCRIPTION", "string", "Additional Info about Source"),
    FieldSpec("LEAD_ID", "crm_lead", "Lead", read_only=True, settings={"parentEntityTypeId": 1}),
    FieldSpec("ADDITIONAL_INFO", "string", "Additional Information"),
    FieldSpec("LOCATION_ID", "location", "Location"),
    FieldSpec("ORIGINATOR_ID", "string", "External Source"),
    FieldSpec("ORIGIN_ID", "string", "Identifier in External Source"),
    FieldSpec("UTM_SOURCE", "string", "Advertising System"),
    FieldSpec("UTM_MEDIUM", "string", "Traffic Type"),
    FieldSpec("UTM_CAMPAIGN", "string", "Campaign Identifier"),
    FieldSpec("UTM_CONTENT", "string", "Campaign Content"),
    FieldSpec("UTM_TERM", "string", "Campaign Search Condition"),
    _ro("LAST_ACTIVITY_TIME", "datetime", "LAST_ACTIVITY_TIME"),
    _ro("LAST_ACTIVITY_BY", "user", "LAST_ACTIVITY_BY"),
)

# TRACE is accepted by add only and never described or returned.
TRACE = FieldSpec("TRACE", "string", "Trace")

FIELDS: dict[str, FieldSpec] = {spec.name: spec for spec in SYSTEM_FIELDS}

# The key order of the seed's crm.deal.get reply (CONTACT_IDS is never returned).
OUTPUT_ORDER: tuple[str, ...] = (
    "ID", "TITLE", "TYPE_ID", "STAGE_ID", "PROBABILITY", "CURRENCY_ID", "OPPORTUNITY",
    "IS_MANUAL_OPPORTUNITY", "TAX_VALUE", "LEAD_ID", "COMPANY_ID", "CONTACT_ID", "QUOTE_ID",
    "BEGINDATE", "CLOSEDATE", "ASSIGNED_BY_ID", "CREATED_BY_ID", "MODIFY_BY_ID", "DATE_CREATE",
    "DATE_MODIFY", "OPENED", "CLOSED", "COMMENTS", "ADDITIONAL_INFO", "LOCATION_ID",
    "CATEGORY_ID", "STAGE_SEMANTIC_ID", "IS_NEW", "IS_RECURRING", "IS_RETURN_CUSTOMER",
    "IS_REPEATED_APPROACH", "SOURCE_ID", "SOURCE_DESCRIPTION", "ORIGINATOR_ID", "ORIGIN_ID",
    "MOVED_BY_ID", "MOVED_TIME", "LAST_ACTIVITY_TIME", "UTM_SOURCE", "UTM_MEDIUM",
    "UTM_CAMPAIGN", "UTM_CONTENT", "UTM_TERM", "LAST_ACTIVITY_BY",
)  # fmt: skip

# Fields a list may filter and sort on: every stored single-valued field.
QUERYABLE: frozenset[str] = frozenset(s.name for s in SYSTEM_FIELDS if s.column_name)

# crm.item.* names: UPPER_SNAKE lower-cased and camel-cased, except four that deals rename.
CAMEL_OVERRIDES = {
    "DATE_CREATE": "createdTime",
    "DATE_MODIFY": "updatedTime",
    "CREATED_BY_ID": "createdBy",
    "MODIFY_BY_ID": "updatedBy",
    "MOVED_BY_ID": "movedBy",
}


def camel_name(upper: str) -> str:
    if upper in CAMEL_OVERRIDES:
        return CAMEL_OVERRIDES[upper]
    first, *rest = upper.lower().split("_")
    return first + "".join(word.capitalize() for word in rest)


CAMEL: dict[str, str] = {spec.name: camel_name(spec.name) for spec in SYSTEM_FIELDS}
FROM_CAMEL: dict[str, str] = {camel: upper for upper, camel in CAMEL.items()}


# Custom fields (UF_CRM_*): descriptors and crm.item.* names, from their definitions.


def describe_user_field(field: UserField) -> dict[str, Any]:
    """A UF descriptor as crm.deal.fields gives it (deals spec §2.1 [EXT]): ``items``
    before ``title``, the field's code as ``title``, its labels after."""
    out: dict[str, Any] = {
        "type": field.user_type_id,
        "isRequired": field.mandatory,
        "isReadOnly": False,
        "isImmutable": False,
        "isMultiple": field.multiple,
        "isDynamic": True,
    }
    if field.user_type_id == "enumeration":
        out["items"] = [{"ID": str(item.id), "VALUE": item.value} for item in field.items]
    out["title"] = field.field_name
    out["listLabel"] = uf_values.label(field, "LIST_COLUMN_LABEL")
    out["formLabel"] = uf_values.label(field, "EDIT_FORM_LABEL")
    out["filterLabel"] = uf_values.label(field, "LIST_FILTER_LABEL")
    out["settings"] = dict(field.settings)
    return out


# Bitrix keeps the plain camelCase conversion for names it can reverse: letters only, or
# UF_CRM_<n>_ followed by digits only or letters only. Anything else is "simplified":
# UF_CRM_ becomes ufCrm_ and the rest is kept (Crm\Service\Converter, crm.item docs).
_REGULAR_UF = (re.compile(r"[A-Z_]+"), re.compile(r"UF_CRM_\d{1,4}_[\d_]+"),
               re.compile(r"UF_CRM_\d{1,4}_[A-Z_]+"))  # fmt: skip


def uf_camel_name(upper: str) -> str:
    """``UF_CRM_HELLO_WORLD`` → ``ufCrmHelloWorld``, ``UF_CRM_10_5186744711`` →
    ``ufCrm10_5186744711`` (underscores between digits stay), ``UF_CRM_1721244482250`` →
    ``ufCrm_1721244482250``."""
    if any(pattern.fullmatch(upper) for pattern in _REGULAR_UF):
        first, *rest = re.sub(r"(\d)_(\d)", "\\1\0\\2", upper).lower().split("_")
        camel = first + "".join(word[:1].upper() + word[1:] for word in rest)
        return camel.replace("\0", "_")
    if upper.upper().startswith("UF_CRM_"):
        return "ufCrm_" + upper[7:]
    if upper.upper().startswith("UF_CRM"):
        return "ufCrm" + upper[6:]
    return "uf" + upper[3:]
