"""Introspection: who is calling, what it may call, and what this server is (spec §7.4).

``app.info``, ``profile``, ``scope``, ``methods``, ``method.get``, ``server.time`` and
``feature.get`` are in Bitrix's global scope: any authenticated caller may use them.
``user.current`` and ``user.get`` need ``user``, ``user_basic`` or ``user_brief``, and
show the fields that scope allows. Shapes follow b24restdocs ``api-reference/common/``
and ``api-reference/user/``, and Bitrix's own ``CRestProvider`` and ``Rest\\Api\\User``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from typing import Any

from relatecrm.accounts import users
from relatecrm.accounts.oauth import AppPrincipal
from relatecrm.bitrix.call import BASIC, Call, Method
from relatecrm.bitrix.envelope import ListResult
from relatecrm.bitrix.errors import BitrixError
from relatecrm.bitrix.filters import ascii_upper, parse_select, split_key
from relatecrm.errors import InvalidOrder
from relatecrm.listing import Condition, ListQuery

LANGUAGE = "en"
# What a self-hosted Bitrix24 reports as its license (CRestProvider::appInfo).
LICENSE = f"{LANGUAGE}_selfhosted"

# feature.get codes (common/system/feature-get.md) and whether RelateCRM has them.
# Any other code answers "N", as a cloud portal does for a feature it lacks.
FEATURES: dict[str, bool] = {
    "rest_offline_extended": True,  # event.offline.get/list/clear/error with process_id
    "rest_auth_connector": False,  # no auth_connector key in event payloads
}

# User fields RelateCRM keeps, in Bitrix's output order. ``user_brief`` is the
# "no contact details" scope: it never shows EMAIL (user/user-scope.md).
USER_FIELDS = ("ID", "ACTIVE", "NAME", "LAST_NAME", "EMAIL", "DATE_REGISTER")
BRIEF_FIELDS = tuple(name for name in USER_FIELDS if name != "EMAIL")
# user.get sorts by any user field, whatever the scope shows (the ORM sorts; it does not check).
SORTABLE = frozenset({*USER_FIELDS, "LOGIN"})
FALSE_WORDS = frozenset({"false", "n", "no", "off"})


class CodeEmpty(BitrixError):
    """CODE can't be empty"""

    code = "CODE_EMPTY"
    status = 400


# --- parameters ---------------------------------------------------------------------


def _param(params: Mapping[str, Any], name: str) -> Any:
    """A parameter Bitrix reads after upper-casing every key (``full``, ``Full``, ``FULL``).

    As with PHP's ``array_change_key_case``, the last spelling wins; only ASCII letters
    fold, so ``ſcope`` is not ``SCOPE``.
    """
    found = None
    for key, value in params.items():
        if isinstance(key, str) and ascii_upper(key) == name:
            found = value
    return found


def _php_empty(value: Any) -> bool:
    """PHP ``empty()``: None, false, 0, ``""``, ``"0"`` and empty arrays."""
    return value in ("", "0") if isinstance(value, str) else not value


def _switch(value: Any) -> bool:
    """A yes/no switch such as ``full``: PHP truthiness, except that the words people
    type for "no" (``false``, ``N``, ``no``, ``off``) mean no rather than yes."""
    if isinstance(value, str) and value.strip().lower() in FALSE_WORDS:
        return False
    return not _php_empty(value)


# --- the method table ---------------------------------------------------------------


def _table() -> Mapping[str, Method]:
    """The method table, read at call time: ``methods.py`` imports this module."""
    from relatecrm.bitrix.methods import METHODS

    return METHODS


def _find(name: str) -> Method | None:
    from relatecrm.bitrix.methods import find_method

    return find_method(name)


def _all_scopes() -> list[str]:
    """Every scope some method here belongs to; ``basic`` is implicit, never listed."""
    return sorted({scope for method in _table().values() for scope in method.scopes} - {BASIC})


# --- system -------------------------------------------------------------------------


async def app_info(call: Call) -> dict[str, Any]:
    """An incoming webhook gets its scopes and the license (the ``getPasswordId()`` branch
    of CRestProvider::appInfo); an OAuth application gets its own record, in the order of
    the docs' example. Every RelateCRM application is a local one (``STATUS`` "L"), always
    installed and never paid for, so ``VERSION`` is 1 and ``DAYS`` null.
    """
    principal = call.principal
    if isinstance(principal, AppPrincipal):
        return {
            "ID": principal.app_id,
            "CODE": principal.client_id,
            "VERSION": 1,
            "STATUS": "L",
            "INSTALLED": True,
            "PAYMENT_EXPIRED": "N",
            "DAYS": None,
            "LANGUAGE_ID": "en",
            "LICENSE": LICENSE,
            "LICENSE_TYPE": "selfhosted",
            "LICENSE_FAMILY": "selfhosted",
        }
    return {"SCOPE": sorted(principal.scopes), "LICENSE": LICENSE}


async def scope(call: Call) -> list[str]:
    """The caller's scopes, or with ``full`` every scope this server has."""
    if _switch(_param(call.params, "FULL")):
        return _all_scopes()
    return sorted(call.principal.scopes)


async def methods(call: Call) -> list[str]:
    """Method names: of one ``scope`` (empty means the global ones), all with ``full``,
    else those the caller may call. ``scope`` wins over ``full``, as in Bitrix."""
    table = _table()
    wanted = _param(call.params, "SCOPE")
    if wanted is not None:
        if not isinstance(wanted, str):
            return []
        code = wanted.strip().lower() or BASIC
        return [name for name, method in table.items() if code in method.scopes]
    if _switch(_param(call.params, "FULL")):
        return list(table)
    return [name for name, method in table.items() if method.available_to(call.principal.scopes)]


async def method_get(call: Call) -> dict[str, bool]:
    """Whether ``name`` exists and whether the caller may call it; both false without a
    name. Bitrix reads the key ``name`` exactly; the name itself is looked up as the
    endpoint looks it up (any letter case)."""
    name = call.params.get("name")
    method = _find(name) if isinstance(name, str) and not _php_empty(name) else None
    available = method is not None and method.available_to(call.principal.scopes)
    return {"isExisting": method is not None, "isAvailable": available}


async def server_time(call: Call) -> str:
    """PHP ``date('c')``: the request's clock in the portal's zone, no fraction."""
    return call.ctx.now.astimezone(call.ctx.tz).replace(microsecond=0).isoformat()


async def feature_get(call: Call) -> dict[str, str]:
    code = _param(call.params, "CODE")
    if _php_empty(code):
        raise CodeEmpty()
    enabled = isinstance(code, str) and FEATURES.get(code, False)
    return {"value": "Y" if enabled else "N"}


# --- users --------------------------------------------------------------------------


def visible_fields(scopes: Collection[str]) -> tuple[str, ...]:
    """The user fields a caller's scopes show (Rest\\Api\\User::getAllowedUserFields)."""
    if "user" in scopes or "user_basic" in scopes:
        return USER_FIELDS
    if "user_brief" in scopes:
        return BRIEF_FIELDS
    return ()


def _date(value: dt.datetime, tz: dt.tzinfo) -> str:
    """CRestUtil::convertDate: the day in the portal's zone, at midnight, with its offset."""
    day = value.astimezone(tz).date()
    return dt.datetime.combine(day, dt.time(), tzinfo=tz).isoformat()


def render_user(user: users.User, names: Collection[str], tz: dt.tzinfo) -> dict[str, Any]:
    values: dict[str, Any] = {
        "ID": str(user.id),
        "ACTIVE": user.active,
        "NAME": user.name,
        "LAST_NAME": user.last_name,
        "EMAIL": user.email,
        "DATE_REGISTER": _date(user.date_register, tz),
    }
    return {name: values[name] for name in USER_FIELDS if name in names}


async def profile(call: Call) -> dict[str, Any]:
    """The caller's basic record, needing no user scope; empty for an inactive user."""
    user = await users.get_user(call.conn, call.principal.user_id)
    if user is None or not user.active:
        return {}
    offset = call.ctx.now.astimezone(call.ctx.tz).utcoffset() or dt.timedelta()
    return {
        "ID": str(user.id),
        "ADMIN": user.is_admin,
        "NAME": user.name,
        "LAST_NAME": user.last_name,
        "PERSONAL_GENDER": "",
        # Users have no zone of their own: they live in the portal's.
        "TIME_ZONE": "",
        "TIME_ZONE_OFFSET": int(offset.total_seconds()),
    }


async def user_current(call: Call) -> dict[str, Any]:
    user = await users.get_user(call.conn, call.principal.user_id)
    if user is None:
        return {}
    return render_user(user, visible_fields(call.principal.scopes), call.ctx.tz)


def _user_filter(params: Mapping[str, Any], allowed: Collection[str]) -> list[Condition]:
    """Bitrix reads ``FILTER`` when it is an array, else the whole query, and silently
    drops every key that is not a field the caller may see."""
    raw = _param(params, "FILTER")
    source = raw if isinstance(raw, dict) else {} if isinstance(raw, list) else params
    conditions = []
    for key, value in source.items():
        if isinstance(key, str):
            op, name = split_key(ascii_upper(key))
            if name in allowed:
                conditions.append(Condition(name, op, value, label=name))
    return conditions


def _user_order(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``SORT`` and ``ORDER`` together, else by ID (which the page query adds anyway)."""
    sort, order = _param(params, "SORT"), _param(params, "ORDER")
    if _php_empty(sort) or _php_empty(order):
        return []
    name = ascii_upper(sort) if isinstance(sort, str) else ""
    if name not in SORTABLE:
        raise InvalidOrder.field_not_allowed(sort if isinstance(sort, str) else "Array")
    return [(name, order if isinstance(order, str) else "")]


def _selected(visible: tuple[str, ...], raw: Any) -> tuple[str, ...]:
    names = parse_select(raw)
    if names is None or "*" in names:
        return visible
    wanted = {ascii_upper(name) for name in names}
    return tuple(name for name in visible if name in wanted)


async def user_get(call: Call) -> ListResult:
    """Users by filter, 50 a page from exactly ``start``, with ``total`` and ``next``.

    As in Bitrix, an empty page carries no ``total``, and ``start=-1`` reports 0.
    """
    visible = visible_fields(call.principal.scopes)
    query = ListQuery(
        select=(),
        conditions=_user_filter(call.params, visible),
        order=_user_order(call.params),
        start=call.start,
        round_start=False,
    )
    page = await users.list_users(call.conn, query, call.ctx.tz)
    shown = _selected(visible, _param(call.params, "SELECT"))
    items = [render_user(user, shown, call.ctx.tz) for user in page.users]
    if not items:
        return ListResult(items=[], total=None)
    return ListResult(items=items, total=page.total or 0, next=page.next)
