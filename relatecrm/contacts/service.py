"""Contact and company rules: defaults, writability, references, multi-fields and events.

Every dialect's contact and company methods end here; ``entity`` (``fields.CONTACT`` or
``fields.COMPANY``) says which. Functions take an open connection inside the caller's
transaction and never commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.accounts.permissions import ADD, DELETE, READ, UPDATE
from relatecrm.accounts.service import user_exists
from relatecrm.contacts import multifields, repository
from relatecrm.contacts.fields import CONTACT, MULTI_NAMES, Entity
from relatecrm.context import Context
from relatecrm.deals import links
from relatecrm.deals.fields import FieldSpec
from relatecrm.errors import InvalidFieldValue, NotFound
from relatecrm.events import outbox
from relatecrm.listing import ListQuery, Page
from relatecrm.values import Unconvertible, coerce


def describe_fields(entity: Entity) -> dict[str, dict[str, Any]]:
    return entity.describe()


def _kind(entity: Entity) -> str:
    """The entity's name in roles: "contact" or "company"."""
    return entity.code.lower()


async def _gate(
    conn: AsyncConnection, ctx: Context, entity: Entity, row_id: int, action: str
) -> None:
    """The row exists (locked) and the caller may act on it; see ``deals.access``."""
    ctx.rights.require(_kind(entity), action)
    row = await repository.fetch(conn, entity, row_id, ["ID", "ASSIGNED_BY_ID"], lock=True)
    if row is None:
        raise NotFound()
    ctx.rights.check(_kind(entity), action, row["ASSIGNED_BY_ID"])


def _coerce(entity: Entity, spec: FieldSpec, raw: Any, tz: dt.tzinfo) -> Any:
    """The field's Python value; InvalidFieldValue for anything that is not of its type."""
    try:
        if isinstance(raw, Mapping | list):
            raise Unconvertible(raw)
        value = coerce(spec.type, raw, tz)
        if isinstance(value, str) and len(value) > repository.max_length(entity, spec):
            raise Unconvertible(raw)
    except Unconvertible:
        raise InvalidFieldValue(spec.name, spec.title) from None
    return value


def _writable(
    entity: Entity, fields: Mapping[str, Any], *, creating: bool, tz: dt.tzinfo
) -> tuple[dict[str, Any], list[multifields.Change]]:
    """Known writable fields as Python values, and the multi-field changes; the rest is
    ignored, as documented ("an incorrect field in fields will be ignored")."""
    values: dict[str, Any] = {}
    changes: list[multifields.Change] = []
    for name, raw in fields.items():
        spec = entity.fields.get(name)
        if spec is None or spec.read_only:
            continue
        if spec.multiple:
            changes += multifields.read(name, raw, creating=creating)
        else:
            values[name] = _coerce(entity, spec, raw, tz)
    if values.get("COMPANY_ID") is not None and values["COMPANY_ID"] <= 0:
        values["COMPANY_ID"] = None  # as on deals: 0 means no company
    return values, changes


def _invalid(entity: Entity, name: str) -> InvalidFieldValue:
    return InvalidFieldValue(name, entity.fields[name].title)


async def _allowed(
    conn: AsyncConnection, entity: Entity, values: dict[str, Any], *, creating: bool
) -> dict[str, tuple[list[str], bool]]:
    """For each reference field to check: its codes (defaults first) and whether they bind.

    A reference list RelateCRM does not hold yet (``CONTACT_TYPE``, ``INDUSTRY`` ...
    have no rows until someone adds them) is not enforced and gives no default;
    currencies always bind.
    """
    wanted = [
        spec
        for spec in entity.fields.values()
        if spec.type in ("crm_status", "crm_currency")
        and (creating or values.get(spec.name) is not None)
    ]
    lists = await repository.reference_lists(conn, {s.status_type for s in wanted if s.status_type})
    allowed = {s.name: (lists[s.status_type], bool(lists[s.status_type])) for s in wanted
               if s.status_type}  # fmt: skip
    if any(spec.type == "crm_currency" for spec in wanted):
        allowed["CURRENCY_ID"] = (await repository.currency_codes(conn), True)
    return allowed


async def _check(
    conn: AsyncConnection, entity: Entity, values: dict[str, Any], *, creating: bool
) -> None:
    """Reference values must exist; on add, empty ones take the documented defaults
    ("Default: the first available ..."; the base currency for ``CURRENCY_ID``)."""
    for name, (codes, binding) in (await _allowed(conn, entity, values, creating=creating)).items():
        value = values.get(name)
        if value is None and creating and codes:
            values[name] = codes[0]
        elif value is not None and binding and value not in codes:
            raise _invalid(entity, name)
    if "ASSIGNED_BY_ID" in values and (
        values["ASSIGNED_BY_ID"] is None or not await user_exists(conn, values["ASSIGNED_BY_ID"])
    ):
        raise _invalid(entity, "ASSIGNED_BY_ID")
    company_id = values.get("COMPANY_ID")
    if company_id is not None and not await repository.company_exists(conn, company_id):
        raise _invalid(entity, "COMPANY_ID")
    title = entity.title_field
    if title and (creating or title in values) and not str(values.get(title) or "").strip():
        raise _invalid(entity, title)


def _columns(entity: Entity, values: Mapping[str, Any]) -> dict[str, Any]:
    return {entity.fields[name].column_name or name: value for name, value in values.items()}


async def add(
    conn: AsyncConnection, ctx: Context, entity: Entity, fields: Mapping[str, Any]
) -> int:
    ctx.rights.require(_kind(entity), ADD)
    values, changes = _writable(entity, fields, creating=True, tz=ctx.tz)
    if values.get("ASSIGNED_BY_ID") is None:
        values.pop("ASSIGNED_BY_ID", None)
    await _check(conn, entity, values, creating=True)
    values.setdefault("ASSIGNED_BY_ID", ctx.user_id)
    ctx.rights.check_assignee(_kind(entity), ADD, values["ASSIGNED_BY_ID"])
    plan = multifields.plan([], changes)
    columns = _columns(entity, values)
    columns.update(plan.flags())
    columns.update(
        dict.fromkeys(("created_by_id", "modify_by_id", "last_activity_by"), ctx.user_id)
    )
    columns.update(dict.fromkeys(("date_create", "date_modify", "last_activity_time"), ctx.now))
    row_id = await repository.insert_row(conn, entity, columns)
    await repository.insert_values(conn, entity, row_id, plan.added)
    await _record(conn, ctx, entity, "Add", row_id)
    return row_id


async def update(
    conn: AsyncConnection, ctx: Context, entity: Entity, row_id: int, fields: Mapping[str, Any]
) -> None:
    """Apply ``fields``: only the fields given change; multi-field items add, change or
    delete single values (see ``contacts.multifields``)."""
    await _gate(conn, ctx, entity, row_id, UPDATE)
    values, changes = _writable(entity, fields, creating=False, tz=ctx.tz)
    if "ASSIGNED_BY_ID" in values:
        ctx.rights.check_assignee(_kind(entity), UPDATE, values["ASSIGNED_BY_ID"])
    await _check(conn, entity, values, creating=False)
    columns = _columns(entity, values)
    if changes:
        existing = await repository.multifield_rows(conn, entity, [row_id], MULTI_NAMES)
        plan = multifields.plan(existing, changes)
        await repository.delete_values(conn, plan.deleted)
        for value_id, change in plan.changed.items():
            await repository.update_value(conn, value_id, change)
        await repository.insert_values(conn, entity, row_id, plan.added)
        columns.update(plan.flags())
    columns.update(modify_by_id=ctx.user_id, date_modify=ctx.now)
    await repository.update_row(conn, entity, row_id, columns)
    await _record(conn, ctx, entity, "Update", row_id)


def _grouped(rows: list[dict[str, Any]]) -> dict[int, dict[str, list[dict[str, Any]]]]:
    """Multi-field rows as each owner's ``{"PHONE": [{"ID", "VALUE_TYPE", "VALUE",
    "TYPE_ID"}, ...], ...}``, types in field-table order; types without values are absent."""
    owners: dict[int, dict[str, list[dict[str, Any]]]] = {}
    for row in rows:
        by_type = owners.setdefault(row["entity_id"], {name: [] for name in MULTI_NAMES})
        by_type[row["type_id"]].append(
            {
                "ID": row["id"],
                "VALUE_TYPE": row["value_type"],
                "VALUE": row["value"],
                "TYPE_ID": row["type_id"],
            }
        )
    return {owner: {k: v for k, v in types.items() if v} for owner, types in owners.items()}


async def get(conn: AsyncConnection, ctx: Context, entity: Entity, row_id: int) -> dict[str, Any]:
    """Every field in the canonical order, then the multi-fields that have values."""
    ctx.rights.require(_kind(entity), READ)
    row = await repository.fetch(conn, entity, row_id, entity.output_order)
    if row is None:
        raise NotFound()
    ctx.rights.check(_kind(entity), READ, row["ASSIGNED_BY_ID"])
    values = await repository.multifield_rows(conn, entity, [row_id], MULTI_NAMES)
    row.update(_grouped(values).get(row_id, {}))
    return row


async def list_rows(conn: AsyncConnection, ctx: Context, entity: Entity, query: ListQuery) -> Page:
    """One page; multi-fields named in ``select`` come after the other fields, as arrays."""
    restrict = ctx.rights.clause(
        _kind(entity), READ, repository.TABLES[entity.code].c.assigned_by_id
    )
    multi = [name for name in query.select if name in MULTI_NAMES]
    if not multi:
        return await repository.list_page(conn, entity, query, ctx.tz, restrict)
    scalar = [name for name in query.select if name not in MULTI_NAMES]
    keyed = scalar if "ID" in scalar else ["ID", *scalar]  # values are found by owner id
    page = await repository.list_page(conn, entity, replace(query, select=keyed), ctx.tz, restrict)
    ids = [row["ID"] for row in page.rows]
    grouped = _grouped(await repository.multifield_rows(conn, entity, ids, multi))
    for row in page.rows:
        row_id = row["ID"] if "ID" in scalar else row.pop("ID")
        row.update(grouped.get(row_id, {}))
    return page


async def delete(conn: AsyncConnection, ctx: Context, entity: Entity, row_id: int) -> None:
    """Delete the contact or company and its multi-field values. Its deals forget it first
    (``deals.links``: links go, the next primary steps up, each deal records its update);
    a company's contacts lose their ``COMPANY_ID``.

    The row is locked before the deals, the order every link writer follows."""
    await _gate(conn, ctx, entity, row_id, DELETE)
    if entity.code == CONTACT.code:
        await links.forget_contact(conn, ctx, row_id)
    else:
        await links.forget_company(conn, ctx, row_id)
    await repository.delete_row(conn, entity, row_id)
    await _record(conn, ctx, entity, "Delete", row_id)


async def _record(
    conn: AsyncConnection, ctx: Context, entity: Entity, action: str, row_id: int
) -> None:
    await outbox.record(
        conn,
        f"{entity.event}{action}",
        entity_type=entity.name,
        entity_id=row_id,
        payload={"FIELDS": {"ID": row_id}},
        now=ctx.now,
        user_id=ctx.user_id,
    )
