"""``crm.deal.contact.*`` handlers: one deal's contact links (spec deals §5).

Classic proxies: ``id`` is the deal, called ``ownerEntityID`` in errors, which carry an
empty code (ERROR_CORE for links ``items.set`` cannot use). As on Bitrix, the deal is
looked up before the link is judged, so a missing deal is "Not found." whatever the
link. The rules live in ``deals.links``.
"""

from __future__ import annotations

import functools
from typing import Any

from relatecrm.bitrix.call import Call, Handler
from relatecrm.bitrix.errors import LinkAccessDenied
from relatecrm.bitrix.filters import ascii_upper
from relatecrm.bitrix.params import php_list, resolve
from relatecrm.deals import links
from relatecrm.errors import (
    InvalidLink,
    InvalidLinkItems,
    InvalidLinkOwner,
    InvalidParameter,
    RecordAccessDenied,
    UnknownContact,
)
from relatecrm.values import Unconvertible, is_null, to_flag, to_int


def _this_deal(handler: Handler) -> Handler:
    """A deal outside the caller's rights is ACCESS_DENIED "Access denied!" here, while no
    right at all stays the classic "Access denied." (deals spec §5.7)."""

    @functools.wraps(handler)
    async def checked(call: Call) -> Any:
        try:
            return await handler(call)
        except RecordAccessDenied:
            raise LinkAccessDenied() from None

    return checked


def _field(type_: str, title: str, *, required: bool = False, read_only: bool = False) -> Any:
    flags = {"isRequired": required, "isReadOnly": read_only, "isImmutable": False,
             "isMultiple": False, "isDynamic": False}  # fmt: skip
    return {"type": type_, **flags, "title": title}


# Spec §5.1. Bitrix itself describes only SORT, IS_PRIMARY and CONTACT_ID (titles
# "Sorting", "Primary", "Contact"); the spec adds the read-only ROLE_ID that items.get shows.
FIELDS = {
    "CONTACT_ID": _field("integer", "CONTACT_ID", required=True),
    "SORT": _field("integer", "SORT"),
    "ROLE_ID": _field("integer", "ROLE_ID", read_only=True),
    "IS_PRIMARY": _field("char", "IS_PRIMARY"),
}


def _owner(call: Call, *, quoted: bool) -> int:
    """The deal id; add and delete quote the parameter's name in the error, items.* do not."""
    try:
        deal_id = to_int(resolve(call.params, "id"))
    except Unconvertible:
        deal_id = 0
    if deal_id <= 0:
        raise InvalidLinkOwner() if quoted else InvalidLinkOwner.unquoted()
    return deal_id


def _array(call: Call, name: str, message: str) -> Any:
    value = resolve(call.params, name)
    if not isinstance(value, dict | list):
        raise InvalidParameter(message)
    return value


def _contact_id(fields: Any) -> int | None:
    if not isinstance(fields, dict):
        return None
    upper = {ascii_upper(str(key)): value for key, value in fields.items()}
    try:
        contact_id = to_int(upper.get("CONTACT_ID"))
    except Unconvertible:
        return None
    return contact_id if contact_id > 0 else None


def _link(fields: Any) -> links.Wanted | None:
    """One link as asked for; None if CONTACT_ID, SORT or IS_PRIMARY cannot be read."""
    contact_id = _contact_id(fields)
    if contact_id is None:
        return None
    upper = {ascii_upper(str(key)): value for key, value in fields.items()}
    try:
        sort = None if is_null(upper.get("SORT")) else to_int(upper["SORT"])
        primary = to_flag(upper.get("IS_PRIMARY")) == "Y"
    except Unconvertible:
        return None
    return links.Wanted(contact_id, sort, primary)


def render(link: links.Link) -> dict[str, Any]:
    return {"CONTACT_ID": link.contact_id, "SORT": link.sort, "ROLE_ID": link.role_id,
            "IS_PRIMARY": "Y" if link.primary else "N"}  # fmt: skip


async def fields(call: Call) -> dict[str, Any]:
    return FIELDS


@_this_deal
async def add(call: Call) -> bool:
    deal_id = _owner(call, quoted=True)
    wanted = _link(_array(call, "fields", "The parameter 'fields' must be array."))
    if wanted is None:
        await links.require_deal(call.conn, deal_id)
        raise InvalidLink()
    try:
        return await links.add(call.conn, call.ctx, deal_id, wanted)
    except UnknownContact:
        raise InvalidLink() from None


@_this_deal
async def delete(call: Call) -> bool:
    deal_id = _owner(call, quoted=True)
    contact_id = _contact_id(_array(call, "fields", "The parameter 'item' must be array."))
    if contact_id is None:
        await links.require_deal(call.conn, deal_id)
        raise InvalidLink()
    return await links.remove(call.conn, call.ctx, deal_id, contact_id)


@_this_deal
async def items_get(call: Call) -> list[dict[str, Any]]:
    deal_id = _owner(call, quoted=False)
    return [render(link) for link in await links.items(call.conn, call.ctx, deal_id)]


@_this_deal
async def items_set(call: Call) -> bool:
    deal_id = _owner(call, quoted=False)
    raw = _array(call, "items", "The parameter items must be array.")
    items = php_list(raw) or (list(raw.values()) if isinstance(raw, dict) else [])
    wanted = [_link(item) for item in items]
    if any(item is None for item in wanted):
        await links.require_deal(call.conn, deal_id)
        raise InvalidLinkItems()
    try:
        await links.replace_all(call.conn, call.ctx, deal_id, [w for w in wanted if w])
    except UnknownContact as error:
        raise InvalidLinkItems(error.message) from None
    return True


@_this_deal
async def items_delete(call: Call) -> bool:
    await links.clear(call.conn, call.ctx, _owner(call, quoted=False))
    return True
