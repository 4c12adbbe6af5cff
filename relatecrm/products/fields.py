"""The field tables of products, units of measure and VAT rates.

As for deals and contacts, one table per entity drives ``*.fields``, which fields a write
accepts, value coercion, the filter/order/select allow-list and the key order of get and
list. Product types and the read-only/immutable marks are those of ``CCrmProduct::
GetFieldsInfo`` (Bitrix24 crm module), titles its English captions; the descriptor order is
that of the public ``crm.product.fields`` page, which is also the order get renders (Bitrix
publishes no get example). Measures follow ``Bitrix\\Crm\\Measure::getFieldsInfo``; VAT
rates follow the ``crm.vat.fields`` example, whose descriptors are shorter and carry a
``size``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from relatecrm.deals.fields import FieldSpec

# RelateCRM has one product catalog; Bitrix numbers catalogs like info blocks.
CATALOG_ID = 1
DESCRIPTION_TYPES = ("text", "html")


@dataclass(frozen=True)
class Table:
    """One entity's fields: specs in descriptor order, and which of them have no column."""

    fields: Mapping[str, FieldSpec]
    required: frozenset[str] = frozenset()
    # Described and returned, but not stored: the catalog id and the pictures.
    virtual: frozenset[str] = frozenset()

    @property
    def stored(self) -> tuple[str, ...]:
        return tuple(name for name in self.fields if name not in self.virtual)

    def describe(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name, spec in self.fields.items():
            out[name] = spec.describe()
            if name in self.required:
                out[name]["isRequired"] = True
        return out


def _table(
    rows: tuple[tuple[str, str, str, str], ...], columns: Mapping[str, str] | None = None
) -> Table:
    """Rows of (name, type, flags, title); flags: R read-only, I immutable, Q required,
    V no column of its own. A field's column is its name in lower case unless ``columns``
    says otherwise."""
    specs = {
        name: FieldSpec(name, type_, title, read_only="R" in flags, immutable="I" in flags,
                        column=(columns or {}).get(name))
        for name, type_, flags, title in rows
    }  # fmt: skip
    required = frozenset(row[0] for row in rows if "Q" in row[2])
    virtual = frozenset(row[0] for row in rows if "V" in row[2])
    return Table(specs, required, virtual)


# Writes to CREATED_BY, MODIFIED_BY, DATE_CREATE and TIMESTAMP_X are ignored (the server
# keeps them), and the pictures are not supported, so all of them are described read-only.
PRODUCT = _table(
    (
        ("ID", "integer", "R", "ID"),
        ("CATALOG_ID", "integer", "RV", "Catalog"),
        ("PRICE", "double", "", "Price"),
        ("CURRENCY_ID", "string", "", "Currency"),
        ("NAME", "string", "Q", "Name"),
        ("DESCRIPTION", "string", "", "Description"),
        ("DESCRIPTION_TYPE", "string", "", "Description type"),
        ("ACTIVE", "char", "", "Active"),
        ("SECTION_ID", "integer", "", "Section"),
        ("SORT", "integer", "", "Sort"),
        ("VAT_ID", "integer", "", "Tax rate"),
        ("VAT_INCLUDED", "char", "", "Tax included"),
        ("MEASURE", "integer", "", "Unit of measurement"),
        ("XML_ID", "string", "", "External ID"),
        ("PREVIEW_PICTURE", "product_file", "RV", "Preview image"),
        ("DETAIL_PICTURE", "product_file", "RV", "Full image"),
        ("DATE_CREATE", "datetime", "R", "Created on"),
        ("TIMESTAMP_X", "datetime", "RI", "Modified on"),
        ("MODIFIED_BY", "integer", "R", "Modified by"),
        ("CREATED_BY", "integer", "R", "Created by"),
    )
)

MEASURE = _table(
    (
        ("ID", "integer", "R", "ID"),
        ("CODE", "integer", "Q", "Code"),
        ("MEASURE_TITLE", "string", "Q", "Unit name"),
        ("SYMBOL_RUS", "string", "", "Unit symbol"),
        ("SYMBOL_INTL", "string", "", "Unit symbol (international)"),
        ("SYMBOL_LETTER_INTL", "string", "", "Code name (intl.)"),
        ("IS_DEFAULT", "char", "", "Default"),
    ),
    {"MEASURE_TITLE": "title", "SYMBOL_RUS": "symbol"},
)

# ACTIVE is described as a string of size 1 but filters like any Y/N flag.
VAT = _table(
    (
        ("ID", "integer", "R", "ID"),
        ("TIMESTAMP_X", "datetime", "R", "Modification Date"),
        ("ACTIVE", "char", "", "Activity"),
        ("C_SORT", "integer", "", "Sorting"),
        ("NAME", "string", "", "Name"),
        ("RATE", "double", "", "Rate"),
    ),
    {"C_SORT": "sort"},
)
VAT_SIZES = {"ID": "11", "ACTIVE": "1", "C_SORT": "18", "NAME": "50", "RATE": "18,2"}
# The key order of the crm.vat.get example (it has no TIMESTAMP_X).
VAT_GET_ORDER = ("ID", "ACTIVE", "NAME", "RATE", "C_SORT")


def describe_vat() -> dict[str, dict[str, Any]]:
    """The ``crm.vat.fields`` descriptors: type, size, isRequired, isReadOnly, title."""
    out: dict[str, dict[str, Any]] = {}
    for name, spec in VAT.fields.items():
        item: dict[str, Any] = {"type": "string" if name == "ACTIVE" else spec.type}
        if name in VAT_SIZES:
            item["size"] = VAT_SIZES[name]
        item.update(isRequired=False, isReadOnly=spec.read_only, title=spec.title)
        out[name] = item
    return out
