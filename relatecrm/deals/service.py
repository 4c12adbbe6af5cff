"""Deal rules: defaults, writability, stage consistency, contact links and events.

Every dialect's add/update/get/list/delete ends here. Functions take an open
connection inside the caller's transaction and never commit. Each checks the caller's
rights (``ctx.rights``; single deals through ``deals.access``, lists by a WHERE term).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.accounts.permissions import ADD, DEAL, DELETE, READ, UPDATE
from relatecrm.accounts.service import user_exists
from relatecrm.context import Context
from relatecrm.deals import access, events, repository, rows, stages
from relatecrm.deals.clientfields import (
    apply_contacts,
    check_clients,
    coerce_field,
    contact_list,
    lock_clients,
)
from relatecrm.deals.fields import FIELDS, OUTPUT_ORDER, TRACE, describe_user_field
from relatecrm.errors import InvalidFieldValue, InvalidId, NotFound
from relatecrm.listing import ListQuery, Page
from relatecrm.pipelines import service as pipelines
from relatecrm.userfields import files as uf_files
from relatecrm.userfields import registry
from relatecrm.userfields import store as uf_store
from relatecrm.userfields import values as uf_values
from relatecrm.userfields.registry import UserField
from relatecrm.values import Unconvertible, to_int

ENTITY = "deal"
DEFAULT_CATEGORY = 0


# The deal's custom fields by FIELD_NAME. Callers that also render them load them once and
# pass them in; otherwise each function loads them itself.
UserFields = Mapping[str, UserField]


async def user_fields(conn: AsyncConnection) -> dict[str, UserField]:
    return await registry.load(conn)


async def describe_fields(
    conn: AsyncConnection, known: UserFields | None = None
) -> dict[str, dict[str, Any]]:
    """System fields, then the custom fields in SORT order (deals spec §3.6)."""
    described = {name: spec.describe() for name, spec in FIELDS.items()}
    for name, field in (await registry.load(conn) if known is None else known).items():
        described[name] = describe_user_field(field)
    return described


def check_id(value: Any) -> int:
    """A positive deal id, or InvalidId."""
    try:
        deal_id = to_int(value)
    except Unconvertible:
        raise InvalidId() from None
    if deal_id <= 0:
        raise InvalidId()
    return deal_id


def _writable(fields: Mapping[str, Any], *, creating: bool, ctx: Context) -> dict[str, Any]:
    """Known, writable fields coerced to Python values; everything else is ignored."""
    values: dict[str, Any] = {}
    for name, raw in fields.items():
        spec = TRACE if creating and name == "TRACE" else FIELDS.get(name)
        if spec is None or not (spec.writable_on_add if creating else spec.writable_on_update):
            continue
        if spec.name == "CONTACT_IDS":
            values[name] = contact_list(raw)
        elif isinstance(raw, Mapping | list):
            raise InvalidFieldValue(spec.name, spec.title)
        else:
            values[name] = coerce_field(spec, raw, ctx)
    # CLOSED follows the stage's semantics; a client cannot set it on its own.
    values.pop("CLOSED", None)
    for name in ("COMPANY_ID", "CONTACT_ID"):
        if values.get(name) is not None and values[name] <= 0:
            values[name] = None
    return values


REFERENCED = ("CURRENCY_ID", "TYPE_ID", "SOURCE_ID")


async def _check_references(
    conn: AsyncConnection, values: dict[str, Any], refs: pipelines.References | None
) -> None:
    """Reference values must exist; ``refs`` may be None when no such value is written."""
    allowed: dict[str, Any] = {}
    if refs is not None:
        allowed = {
            "CURRENCY_ID": refs.currencies,
            "TYPE_ID": refs.type_ids,
            "SOURCE_ID": refs.source_ids,
        }
    for name in REFERENCED:
        value = values.get(name)
        if value is not None and value not in allowed.get(name, ()):
            raise InvalidFieldValue(name, FIELDS[name].title)
    assigned = values.get("ASSIGNED_BY_ID")
    if "ASSIGNED_BY_ID" in values and (assigned is None or not await user_exists(conn, assigned)):
        raise InvalidFieldValue("ASSIGNED_BY_ID", FIELDS["ASSIGNED_BY_ID"].title)
    probability = values.get("PROBABILITY")
    if probability is not None and not 0 <= probability <= 100:
        raise InvalidFieldValue("PROBABILITY", FIELDS["PROBABILITY"].title)


def _columns(values: Mapping[str, Any]) -> dict[str, Any]:
    columns: dict[str, Any] = {}
    for name, value in values.items():
        spec = TRACE if name == "TRACE" else FIELDS[name]
        if spec.column_name:
            columns[spec.column_name] = value
    return columns


async def add(
    conn: AsyncConnection, ctx: Context, fields: Mapping[str, Any], known: UserFields | None = None
) -> int:
    ctx.rights.require(DEAL, ADD)
    values = _writable(fields, creating=True, ctx=ctx)
    known = await registry.load(conn) if known is None else known
    custom = uf_values.prepare(known, uf_values.pick(fields, known), ctx, creating=True)
    category_id = values.get("CATEGORY_ID")
    category_id = DEFAULT_CATEGORY if category_id is None else category_id
    refs = await _funnel_references(conn, category_id)
    await _check_references(conn, values, refs)
    check_clients(values, await lock_clients(conn, ctx, fields))
    await uf_store.resolve(conn, known, custom, ctx)
    stage = await stages.resolve(conn, refs.stages, values.get("STAGE_ID"), fallback=True)
    assert stage is not None
    today = ctx.now.astimezone(ctx.tz).date()
    defaults: dict[str, Any] = {
        "TYPE_ID": next(iter(refs.type_ids), None),
        "SOURCE_ID": next(iter(refs.source_ids), None),
        "CURRENCY_ID": refs.base_currency,
        "ASSIGNED_BY_ID": ctx.user_id,
        "BEGINDATE": today,
        "CLOSEDATE": today + dt.timedelta(days=7),
        "OPENED": "Y",
    }
    for name, default in defaults.items():
        if values.get(name) is None:
            values[name] = default
    ctx.rights.check_assignee(DEAL, ADD, values["ASSIGNED_BY_ID"])
    values.pop("STAGE_ID", None)
    values["CATEGORY_ID"] = category_id
    columns = _columns({k: v for k, v in values.items() if k != "CONTACT_IDS"})
    columns.update(stages.columns(stage, ctx))
    columns.setdefault("title", None)
    title_given = bool(columns["title"])
    if not title_given:
        columns["title"] = ""
    columns.update(
        created_by_id=ctx.user_id,
        modify_by_id=ctx.user_id,
        date_create=ctx.now,
        date_modify=ctx.now,
        last_activity_time=ctx.now,
        last_activity_by=ctx.user_id,
    )
    deal_id = await repository.insert_deal(conn, columns)
    if deal_id is None:
        raise InvalidFieldValue("CATEGORY_ID", FIELDS["CATEGORY_ID"].title)
    later: dict[str, Any] = {} if title_given else {"title": f"Deal #{deal_id}"}
    await apply_contacts(conn, deal_id, values, later, creating=True)
    await repository.update_deal(conn, deal_id, later)
    await uf_store.write(conn, deal_id, known, custom, creating=True)
    await stages.record(conn, ctx, deal_id, stage, stages.CREATED)
    await events.record(conn, ctx, "onCrmDealAdd", deal_id)
    return deal_id


async def _funnel_references(conn: AsyncConnection, category_id: int) -> pipelines.References:
    """The funnel's references; a funnel that does not exist (has no stages) is an error."""
    refs = None if category_id < 0 else await pipelines.references(conn, category_id)
    if refs is None or not refs.stages:
        raise InvalidFieldValue("CATEGORY_ID", FIELDS["CATEGORY_ID"].title)
    return refs


def _target_category(ctx: Context, fields: Mapping[str, Any], current: int) -> int | None:
    """The funnel a ``crm.item.update`` moves the deal to, or None if it stays."""
    if "CATEGORY_ID" not in fields:
        return None
    category_id = coerce_field(FIELDS["CATEGORY_ID"], fields["CATEGORY_ID"], ctx)
    if category_id is None or category_id == current:
        return None
    return int(category_id)


async def update(
    conn: AsyncConnection,
    ctx: Context,
    deal_id: int,
    fields: Mapping[str, Any],
    *,
    move_category: bool = False,
    known: UserFields | None = None,
) -> None:
    """Apply ``fields``; only ``move_category`` callers (crm.item.update) may change funnel."""
    ctx.rights.require(DEAL, UPDATE)
    clients = await lock_clients(conn, ctx, fields)
    wanted = ["CATEGORY_ID", "STAGE_ID"]
    current = await access.deal(conn, ctx, deal_id, UPDATE, wanted, for_update=True)
    values = _writable(fields, creating=False, ctx=ctx)
    if "ASSIGNED_BY_ID" in values:
        ctx.rights.check_assignee(DEAL, UPDATE, values["ASSIGNED_BY_ID"])
    known = await registry.load(conn) if known is None else known
    custom = uf_values.prepare(known, uf_values.pick(fields, known), ctx, creating=False)
    wanted = values.pop("STAGE_ID", None)
    target = _target_category(ctx, fields, current["CATEGORY_ID"]) if move_category else None
    refs = None
    if target is not None:
        refs = await _funnel_references(conn, target)
    elif wanted is not None or any(values.get(name) is not None for name in REFERENCED):
        refs = await pipelines.references(conn, current["CATEGORY_ID"])
    await _check_references(conn, values, refs)
    check_clients(values, clients)
    dropped_files = await uf_store.resolve(conn, known, custom, ctx, deal_id)
    columns = _columns({k: v for k, v in values.items() if k != "CONTACT_IDS"})
    if "title" in columns and not columns["title"]:
        columns["title"] = f"Deal #{deal_id}"
    if target is not None:
        assert refs is not None
        stage = await stages.resolve(conn, refs.stages, wanted, fallback=True)
        assert stage is not None
        if wanted is not None and stage.status_id != wanted:
            raise stages.invalid_stage()  # an explicit stage must belong to the new funnel
        columns.update(stages.columns(stage, ctx))
        await stages.record(conn, ctx, deal_id, stage, stages.CATEGORY_CHANGED)
    elif refs is not None and wanted is not None and wanted != current["STAGE_ID"]:
        moved = await stages.resolve(conn, refs.stages, wanted, fallback=False)
        if moved is not None:
            columns.update(stages.columns(moved, ctx))
            await stages.record(conn, ctx, deal_id, moved, stages.move_type(moved))
    await apply_contacts(conn, deal_id, values, columns, creating=False)
    await rows.enforce_totals(conn, deal_id, columns)  # rows decide the amount unless manual
    columns.update(modify_by_id=ctx.user_id, date_modify=ctx.now)
    await repository.update_deal(conn, deal_id, columns)
    await uf_store.write(conn, deal_id, known, custom)
    if dropped_files:
        await uf_files.delete(conn, dropped_files)
    await events.record(conn, ctx, "onCrmDealUpdate", deal_id)
    if target is not None:
        await events.record(
            conn,
            ctx,
            "onCrmDealMoveToCategory",
            deal_id,
            {"CATEGORY_ID": target, "STAGE_ID": columns["stage_id"]},
        )


async def get(
    conn: AsyncConnection, ctx: Context, deal_id: int, known: UserFields | None = None
) -> dict[str, Any]:
    """The system fields in output order, then every custom field (None or [] if empty)."""
    deal = await access.deal(conn, ctx, deal_id, READ, OUTPUT_ORDER)
    known = await registry.load(conn) if known is None else known
    if known:
        deal.update((await uf_store.read(conn, [deal_id], list(known.values())))[deal_id])
    return deal


async def list_deals(
    conn: AsyncConnection,
    ctx: Context,
    query: ListQuery,
    *,
    linked_contacts: bool = False,
    known: UserFields | None = None,
) -> Page:
    """A page of deals; ``linked_contacts`` lets the filter name CONTACT_IDS (crm.item.list).

    ``query.select`` may name custom fields: their values are read for the page's deals
    in one more query, and the rows keep the order of ``query.select``.
    """
    known = await registry.load(conn) if known is None else known
    chosen = [known[name] for name in query.select if name in known]
    columns = [name for name in query.select if name not in known]
    if chosen and "ID" not in columns:
        columns.insert(0, "ID")  # values are looked up by deal id, shown or not
    page = await repository.list_page(
        conn,
        replace(query, select=columns) if chosen else query,
        ctx.tz,
        linked_contacts=linked_contacts,
        custom=uf_store.queryables(known),
        restrict=ctx.rights.clause(DEAL, READ, repository.ASSIGNED),
    )
    if chosen:
        found = await uf_store.read(conn, [row["ID"] for row in page.rows], chosen)
        page.rows = [
            {name: found[row["ID"]][name] if name in known else row[name] for name in query.select}
            for row in page.rows
        ]
    return page


async def delete(conn: AsyncConnection, ctx: Context, deal_id: int) -> None:
    """Delete the deal; its custom field values go with it (foreign key cascade), and the
    files they held are forgotten."""
    await access.deal(conn, ctx, deal_id, DELETE, for_update=True)
    held = await uf_store.file_ids_of(conn, deal_id)
    if not await repository.delete_deal(conn, deal_id):
        raise NotFound()
    if held:
        await uf_files.delete(conn, held)
    await events.record(conn, ctx, "onCrmDealDelete", deal_id)


async def contact_ids(conn: AsyncConnection, deal_ids: list[int]) -> dict[int, list[int]]:
    """The linked contacts of each deal (crm.item.* shows them as ``contactIds``)."""
    return await repository.contacts_of(conn, deal_ids)
