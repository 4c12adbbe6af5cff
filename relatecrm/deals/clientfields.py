"""Deal fields that name clients: COMPANY_ID, CONTACT_ID and CONTACT_IDS on add and update.

How they are read, locked (before the deal row, the lock order of ``deals.links``),
checked to exist, and turned into contact links (deals spec §2.6). Split from
``deals.service`` to keep each module readable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.context import Context
from relatecrm.deals import links, repository
from relatecrm.deals.fields import FIELDS, FieldSpec
from relatecrm.errors import InvalidFieldValue
from relatecrm.values import Unconvertible, coerce, to_int


def coerce_field(spec: FieldSpec, value: Any, ctx: Context) -> Any:
    try:
        coerced = coerce(spec.type, value, ctx.tz)
    except Unconvertible:
        raise InvalidFieldValue(spec.name, spec.title) from None
    if isinstance(coerced, str) and len(coerced) > repository.max_length(spec):
        raise InvalidFieldValue(spec.name, spec.title)
    return coerced


def contact_list(value: Any) -> list[int]:
    spec = FIELDS["CONTACT_IDS"]
    if isinstance(value, Mapping):
        # PHP arrays: ordered by index when the keys are 0..n-1, else in the given order.
        keys = list(value)
        indexed = all(str(k).isascii() and str(k).isdigit() for k in keys)
        items = [value[k] for k in (sorted(keys, key=lambda k: int(k)) if indexed else keys)]
    elif isinstance(value, list | tuple):
        items = list(value)
    elif value is None or value == "":
        items = []
    else:
        items = [value]
    ids: list[int] = []
    for item in items:
        if item is None or item == "":
            continue
        try:
            contact_id = to_int(item)
        except Unconvertible:
            raise InvalidFieldValue(spec.name, spec.title) from None
        if contact_id <= 0:
            raise InvalidFieldValue(spec.name, spec.title)
        if contact_id not in ids:
            ids.append(contact_id)
    return ids


def named_clients(fields: Mapping[str, Any], ctx: Context) -> tuple[list[int], list[int]]:
    """The contact and company ids a write names, as far as they can be read: what cannot
    be read is refused later, in the usual order."""
    contacts: list[int] = []
    companies: list[int] = []
    for name in ("COMPANY_ID", "CONTACT_ID", "CONTACT_IDS"):
        if name not in fields:
            continue
        try:
            if name == "CONTACT_IDS":
                ids = contact_list(fields[name])
            else:
                ids = [coerce_field(FIELDS[name], fields[name], ctx) or 0]
        except InvalidFieldValue:
            continue
        (companies if name == "COMPANY_ID" else contacts).extend(ids)
    return contacts, companies


async def lock_clients(
    conn: AsyncConnection, ctx: Context, fields: Mapping[str, Any]
) -> links.Clients:
    """Lock the clients a write names; before the deal row (lock order: ``deals.links``)."""
    contacts, companies = named_clients(fields, ctx)
    return await links.lock_clients(conn, contacts, companies)


def check_clients(values: Mapping[str, Any], found: links.Clients) -> None:
    """COMPANY_ID, CONTACT_ID and CONTACT_IDS must name existing clients (0 is "none");
    a CONTACT_ID that CONTACT_IDS also names is reported once, as CONTACT_IDS."""
    company = values.get("COMPANY_ID")
    if company is not None and company not in found.companies:
        raise InvalidFieldValue("COMPANY_ID", FIELDS["COMPANY_ID"].title)
    contacts: list[int] = values.get("CONTACT_IDS") or []
    contact = values.get("CONTACT_ID")
    if contact is not None and contact not in contacts and contact not in found.contacts:
        raise InvalidFieldValue("CONTACT_ID", FIELDS["CONTACT_ID"].title)
    if any(contact_id not in found.contacts for contact_id in contacts):
        raise InvalidFieldValue("CONTACT_IDS", FIELDS["CONTACT_IDS"].title)


async def apply_contacts(
    conn: AsyncConnection,
    deal_id: int,
    values: Mapping[str, Any],
    columns: dict[str, Any],
    creating: bool,
) -> None:
    """CONTACT_IDS and CONTACT_ID through the link rules (spec §2.6): CONTACT_IDS replaces
    the set; CONTACT_ID makes that contact primary, and empties drop the primary link."""
    if "CONTACT_IDS" in values:
        new = links.normalized([links.Wanted(c) for c in values["CONTACT_IDS"]])
    elif values.get("CONTACT_ID") is not None:
        before = [] if creating else await links.current(conn, deal_id)
        new = links.promoted(before, values["CONTACT_ID"])
    elif "CONTACT_ID" in values and not creating:
        before = await links.current(conn, deal_id)
        primary = links.primary_of(before)
        new = before if primary is None else (links.without(before, primary) or [])
    else:
        return
    await links.store(conn, deal_id, new)
    columns["contact_id"] = links.primary_of(new)
