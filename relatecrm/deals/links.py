"""A deal's contact links and its references to clients (spec deals §2.6, §5).

Every way of changing links ends here: ``crm.deal.contact.*``, the CONTACT_IDS and
CONTACT_ID fields of a deal write, and the deletion of a contact or company. The rules:

- a deal with links has exactly one primary link, and ``deals.contact_id`` (the
  deprecated CONTACT_ID) is that link's contact;
- adding a link makes it primary when IS_PRIMARY is Y (the old primary steps down) or
  when the deal has no primary yet; a SORT that is missing or not positive becomes the
  largest SORT plus 10;
- replacing the set keeps the first of repeated contacts, makes the first Y primary (else
  the first link) and numbers missing SORTs (i + 1) * 10 by position;
- removing the primary link promotes the first remaining one by SORT.

Every change that alters a deal's links or client fields records onCrmDealUpdate; asking
for what is already so records nothing.

Lock order (PostgreSQL): whoever writes a reference to a client key-share-locks the client
rows before the deal row, and deleting a client locks the client row before the deals
that name it. Both take the client first, so a link write and a client delete queue
instead of deadlocking, and the delete sees every link committed before it. The foreign
keys (``deals.models``) stay the last guard.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.accounts.permissions import READ, UPDATE
from relatecrm.contacts import repository as clients
from relatecrm.contacts.fields import COMPANY, CONTACT
from relatecrm.context import Context
from relatecrm.deals import access, events, repository
from relatecrm.errors import NotFound, UnknownContact
from relatecrm.values import MAX_INT

STEP = 10


@dataclass(frozen=True)
class Link:
    """One stored link: the contact, its place in the deal's list, whether it is primary."""

    contact_id: int
    sort: int
    primary: bool = False
    role_id: int = 0  # reserved by Bitrix, always 0


@dataclass(frozen=True)
class Wanted:
    """A link as a client asks for it; SORT None (or not positive) takes the default."""

    contact_id: int
    sort: int | None = None
    primary: bool = False


@dataclass(frozen=True)
class Clients:
    """Of the contacts and companies a write names, those that exist, locked until commit."""

    contacts: frozenset[int]
    companies: frozenset[int]


# The rules, as functions of the current links (as stored: by SORT, then contact id).


def ordered(links: Iterable[Link]) -> list[Link]:
    return sorted(links, key=lambda link: (link.sort, link.contact_id))


def primary_of(links: Sequence[Link]) -> int | None:
    return next((link.contact_id for link in links if link.primary), None)


def _primary(links: Sequence[Link], contact_id: int) -> list[Link]:
    return [replace(link, primary=link.contact_id == contact_id) for link in links]


def _sort(wanted: int | None, default: int) -> int:
    return wanted if wanted is not None and wanted > 0 else min(default, MAX_INT)


def normalized(wanted: Sequence[Wanted]) -> list[Link]:
    """The links that replace a deal's set (``items.set``, CONTACT_IDS)."""
    first: dict[int, tuple[int, Wanted]] = {}
    for index, item in enumerate(wanted):
        first.setdefault(item.contact_id, (index, item))
    if not first:
        return []
    chosen = next(
        (item.contact_id for _, item in first.values() if item.primary), next(iter(first))
    )
    links = [
        Link(item.contact_id, _sort(item.sort, (index + 1) * STEP))
        for index, item in first.values()
    ]
    return ordered(_primary(links, chosen))


def with_added(current: Sequence[Link], wanted: Wanted) -> list[Link] | None:
    """The links after adding one; None if the contact is linked already."""
    if any(link.contact_id == wanted.contact_id for link in current):
        return None
    top = max((link.sort for link in current), default=0)
    links = ordered([*current, Link(wanted.contact_id, _sort(wanted.sort, top + STEP))])
    if wanted.primary or primary_of(current) is None:
        links = _primary(links, wanted.contact_id)
    return links


def without(current: Sequence[Link], contact_id: int) -> list[Link] | None:
    """The links after removing one; None if the contact is not linked."""
    gone = next((link for link in current if link.contact_id == contact_id), None)
    if gone is None:
        return None
    rest = ordered(link for link in current if link.contact_id != contact_id)
    if gone.primary and rest:
        rest = _primary(rest, rest[0].contact_id)
    return rest


def promoted(current: Sequence[Link], contact_id: int) -> list[Link]:
    """CONTACT_ID on a deal update (spec §2.6): that contact becomes primary, added if missing."""
    added = with_added(current, Wanted(contact_id, primary=True))
    return added if added is not None else _primary(ordered(current), contact_id)


# Storage.


async def current(conn: AsyncConnection, deal_id: int) -> list[Link]:
    rows = await repository.links_of(conn, deal_id)
    return [
        Link(row["contact_id"], row["sort"], row["is_primary"] == "Y", row["role_id"])
        for row in rows
    ]


async def store(conn: AsyncConnection, deal_id: int, links: Sequence[Link]) -> None:
    """Write the links; the caller keeps ``deals.contact_id`` equal to ``primary_of(links)``."""
    rows = [
        {
            "contact_id": link.contact_id,
            "sort": link.sort,
            "role_id": link.role_id,
            "is_primary": "Y" if link.primary else "N",
        }
        for link in links
    ]
    await repository.replace_links(conn, deal_id, rows)


async def lock_clients(
    conn: AsyncConnection, contact_ids: Iterable[int], company_ids: Iterable[int] = ()
) -> Clients:
    """Lock the named clients before any deal row (see the lock order above)."""
    companies = await clients.lock_existing(conn, COMPANY, company_ids)
    contacts = await clients.lock_existing(conn, CONTACT, contact_ids)
    return Clients(frozenset(contacts), frozenset(companies))


async def _lock_deal(conn: AsyncConnection, ctx: Context, deal_id: int) -> None:
    """Changing a deal's links is changing the deal: the caller needs "update" on it."""
    await access.deal(conn, ctx, deal_id, UPDATE, for_update=True)


async def _save(conn: AsyncConnection, ctx: Context, deal_id: int, links: Sequence[Link]) -> None:
    await store(conn, deal_id, links)
    changed = {"contact_id": primary_of(links), "modify_by_id": ctx.user_id, "date_modify": ctx.now}
    await repository.update_deal(conn, deal_id, changed)
    await events.record(conn, ctx, "onCrmDealUpdate", deal_id)


# What the methods do.


async def require_deal(conn: AsyncConnection, deal_id: int) -> None:
    """NotFound unless the deal exists: checked before the link itself, as Bitrix does."""
    if await repository.fetch(conn, deal_id, ["ID"]) is None:
        raise NotFound()


async def items(conn: AsyncConnection, ctx: Context, deal_id: int) -> list[Link]:
    await access.deal(conn, ctx, deal_id, READ)
    return await current(conn, deal_id)


async def add(conn: AsyncConnection, ctx: Context, deal_id: int, wanted: Wanted) -> bool:
    """Link one contact; False (and nothing written) if it is linked already."""
    found = await lock_clients(conn, [wanted.contact_id])
    await _lock_deal(conn, ctx, deal_id)
    if wanted.contact_id not in found.contacts:
        raise UnknownContact(wanted.contact_id)
    links = with_added(await current(conn, deal_id), wanted)
    if links is None:
        return False
    await _save(conn, ctx, deal_id, links)
    return True


async def remove(conn: AsyncConnection, ctx: Context, deal_id: int, contact_id: int) -> bool:
    """Unlink one contact; False (and nothing written) if it is not linked."""
    await _lock_deal(conn, ctx, deal_id)
    links = without(await current(conn, deal_id), contact_id)
    if links is None:
        return False
    await _save(conn, ctx, deal_id, links)
    return True


async def replace_all(
    conn: AsyncConnection, ctx: Context, deal_id: int, wanted: Sequence[Wanted]
) -> None:
    """Make ``wanted`` the deal's whole set of links (an empty one unlinks all)."""
    found = await lock_clients(conn, [item.contact_id for item in wanted])
    await _lock_deal(conn, ctx, deal_id)
    missing = next((item for item in wanted if item.contact_id not in found.contacts), None)
    if missing is not None:
        raise UnknownContact(missing.contact_id)
    links = normalized(wanted)
    if links != await current(conn, deal_id):
        await _save(conn, ctx, deal_id, links)


async def clear(conn: AsyncConnection, ctx: Context, deal_id: int) -> None:
    await replace_all(conn, ctx, deal_id, [])


# A client is deleted: the caller holds its row lock and deletes it afterwards.


async def forget_contact(conn: AsyncConnection, ctx: Context, contact_id: int) -> None:
    """Unlink the contact from every deal, promoting the next primary where it was one."""
    for deal_id, named in await repository.lock_deals_naming_contact(conn, contact_id):
        before = await current(conn, deal_id)
        after = without(before, contact_id)
        if after is None and named != contact_id:
            continue  # unlinked by a writer that committed while we waited for the deal
        # Not linked but still its CONTACT_ID: the column goes back to the primary link.
        await _save(conn, ctx, deal_id, before if after is None else after)


async def forget_company(conn: AsyncConnection, ctx: Context, company_id: int) -> None:
    """Clear the company from every deal that has it."""
    deal_ids = await repository.lock_deals_of_company(conn, company_id)
    if deal_ids:
        changed = {"modify_by_id": ctx.user_id, "date_modify": ctx.now}
        await repository.clear_company(conn, company_id, changed)
    for deal_id in deal_ids:
        await events.record(conn, ctx, "onCrmDealUpdate", deal_id)
