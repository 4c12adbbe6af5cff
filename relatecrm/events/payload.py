"""The body a Bitrix24 event handler receives (protocol spec §6.2, §6.4; deals spec §7.2).

Pure functions, no I/O: the delivery worker mints tokens and picks the handler, then
calls :func:`form_body` and posts the bytes as ``application/x-www-form-urlencoded``.

The encoding follows PHP ``http_build_query`` with its default RFC 1738 mode, because
that is what the Bitrix24 queue server sends and what b24phpsdk / b24pysdk parse:

* keys in insertion order, nested containers flattened to ``a%5Bb%5D%5Bc%5D``;
  lists are indexed ``0..n-1``;
* a byte is kept if it is an ASCII letter, digit or one of ``-_.``; a space becomes
  ``+``; every other byte of the UTF-8 text becomes ``%XX`` (upper-case hex, so ``~``
  and ``*`` are escaped too, unlike Python's ``quote_plus``);
* ``True`` → ``1``, ``False`` → ``0`` (PHP's ``http_build_query``, not its string
  cast); ints in decimal; floats as PHP prints them with ``precision=14``;
* ``None`` and empty containers produce **no pair at all**, as PHP skips ``NULL``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
_HEX = "0123456789ABCDEF"

# The order of ``auth[...]`` keys in a real body (§6.2, b24phpsdk's captured request).
# Every variant of the block (application with tokens, application without a user,
# outgoing webhook) is a subset of this order; refresh_token sits before the
# application_token as in the deals spec §7.2 example.
AUTH_ORDER = (
    "access_token",
    "expires",
    "expires_in",
    "scope",
    "domain",
    "server_endpoint",
    "status",
    "client_endpoint",
    "member_id",
    "user_id",
    "refresh_token",
    "application_token",
)

# Events whose auth block carries refresh_token (§6.2: sendRefreshToken => true).
REFRESH_TOKEN_EVENTS = frozenset({"ONAPPINSTALL", "ONAPPUPDATE", "ONAPPTEST", "ONOFFLINEEVENT"})

DEFAULT_SERVER_ENDPOINT = "https://oauth.bitrix.info/rest/"


def php_urlencode(text: str) -> str:
    """PHP ``urlencode``: RFC 1738, space as ``+``, only ``[A-Za-z0-9_.-]`` left bare."""
    out: list[str] = []
    for byte in text.encode("utf-8"):
        if byte in _SAFE:
            out.append(chr(byte))
        elif byte == 0x20:
            out.append("+")
        else:
            out.append("%" + _HEX[byte >> 4] + _HEX[byte & 0xF])
    return "".join(out)


def php_float(value: float) -> str:
    """A float as PHP 8 ``http_build_query`` writes it (``precision`` 14, ``%G`` style)."""
    if math.isnan(value):
        return "NAN"
    if math.isinf(value):
        return "INF" if value > 0 else "-INF"
    text = format(value, ".14G")
    mantissa, sep, exponent = text.partition("E")
    if not sep:
        return text
    if "." not in mantissa:
        mantissa += ".0"
    sign, digits = exponent[0], exponent[1:].lstrip("0") or "0"
    return f"{mantissa}E{sign}{digits}"


def php_scalar(value: str | int | float | bool) -> str:
    """The string PHP sends for a scalar leaf."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return php_float(value)
    return value


def _children(value: Any) -> Iterator[tuple[str, Any]] | None:
    if isinstance(value, Mapping):
        return ((str(key), item) for key, item in value.items())
    if isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray):
        return ((str(index), item) for index, item in enumerate(value))
    return None


def flatten(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``data`` as the decoded ``(name, value)`` pairs PHP would send, in order.

    ``{"data": {"FIELDS": {"ID": 5}}}`` → ``[("data[FIELDS][ID]", "5")]``.
    """
    pairs: list[tuple[str, str]] = []

    def walk(name: str, value: Any) -> None:
        if value is None:
            return
        children = _children(value)
        if children is None:
            if not isinstance(value, str | int | float):
                raise TypeError(f"cannot form-encode {type(value).__name__} at {name!r}")
            pairs.append((name, php_scalar(value)))
            return
        for key, item in children:
            walk(f"{name}[{key}]", item)

    for key, value in data.items():
        walk(str(key), value)
    return pairs


def http_build_query(data: Mapping[str, Any]) -> bytes:
    """PHP ``http_build_query($data)`` with the default separator and RFC 1738.

    PHP urlencodes each key segment and writes the brackets as ``%5B``/``%5D``, which is
    exactly urlencoding the whole bracketed name.
    """
    return "&".join(
        f"{php_urlencode(name)}={php_urlencode(value)}" for name, value in flatten(data)
    ).encode("ascii")


def form_body(
    event: str,
    handler_id: int,
    data: Mapping[str, Any],
    ts: int,
    auth: Mapping[str, str] | None,
) -> bytes:
    """The exact body Bitrix24 posts to an event handler (§6.2 key order).

    ``event`` is sent upper-cased (``onCrmDealUpdate`` → ``ONCRMDEALUPDATE``).  ``auth``
    should come from :func:`auth_block`; ``None`` leaves the ``auth`` keys out.
    """
    return http_build_query(
        {
            "event": event.upper(),
            "event_handler_id": handler_id,
            "data": data,
            "ts": ts,
            "auth": auth,
        }
    )


def _ordered(values: Mapping[str, str | int | None]) -> dict[str, str]:
    return {key: php_scalar(value) for key in AUTH_ORDER if (value := values.get(key)) is not None}


def webhook_auth(
    *,
    domain: str,
    member_id: str,
    application_token: str,
    client_endpoint: str | None = None,
    server_endpoint: str | None = DEFAULT_SERVER_ENDPOINT,
) -> dict[str, str]:
    """``auth`` for an outgoing webhook registered by an administrator (§6.2, §6.3).

    Never tokens: ``domain``, ``server_endpoint``, ``client_endpoint``, ``member_id`` and
    ``application_token``.  ``client_endpoint`` defaults to ``https://{domain}/rest/``.
    Pass ``server_endpoint=None`` (and ``client_endpoint=""``) for the bare
    ``domain`` + ``member_id`` + ``application_token`` block of Bitrix's fallback.
    """
    if client_endpoint is None:
        client_endpoint = f"https://{domain}/rest/"
    return _ordered(
        {
            "domain": domain,
            "server_endpoint": server_endpoint,
            "client_endpoint": client_endpoint or None,
            "member_id": member_id,
            "application_token": application_token,
        }
    )


def app_auth(
    *,
    domain: str,
    member_id: str,
    application_token: str,
    access_token: str,
    expires: int,
    expires_in: int = 3600,
    scope: str,
    user_id: int,
    status: str = "L",
    client_endpoint: str | None = None,
    server_endpoint: str = DEFAULT_SERVER_ENDPOINT,
    refresh_token: str | None = None,
) -> dict[str, str]:
    """``auth`` for an OAuth application's handler, change made by a user (§6.2).

    Keys in the captured order: ``access_token, expires, expires_in, scope, domain,
    server_endpoint, status, client_endpoint, member_id, user_id, application_token``;
    ``refresh_token`` only when given (the worker passes it for
    :data:`REFRESH_TOKEN_EVENTS` only).
    """
    if client_endpoint is None:
        client_endpoint = f"https://{domain}/rest/"
    return _ordered(
        {
            "access_token": access_token,
            "expires": expires,
            "expires_in": expires_in,
            "scope": scope,
            "domain": domain,
            "server_endpoint": server_endpoint,
            "status": status,
            "client_endpoint": client_endpoint,
            "member_id": member_id,
            "user_id": user_id,
            "refresh_token": refresh_token,
            "application_token": application_token,
        }
    )


def auth_block(
    *,
    domain: str,
    member_id: str,
    application_token: str,
    access_token: str | None = None,
    expires: int | None = None,
    expires_in: int = 3600,
    scope: str = "crm",
    user_id: int | None = None,
    status: str = "L",
    client_endpoint: str | None = None,
    server_endpoint: str = DEFAULT_SERVER_ENDPOINT,
    refresh_token: str | None = None,
) -> dict[str, str]:
    """The ``auth`` block: an application's with tokens when ``access_token`` is given,
    otherwise the token-less block of an outgoing webhook (or a robot-made change).

    With ``access_token``, ``expires`` and ``user_id`` are required: b24pysdk rejects a
    token without ``expires`` (§6.2).
    """
    if access_token is None:
        return webhook_auth(
            domain=domain,
            member_id=member_id,
            application_token=application_token,
            client_endpoint=client_endpoint,
            server_endpoint=server_endpoint,
        )
    if expires is None or user_id is None:
        raise ValueError("an access_token needs expires and user_id")
    return app_auth(
        domain=domain,
        member_id=member_id,
        application_token=application_token,
        access_token=access_token,
        expires=expires,
        expires_in=expires_in,
        scope=scope,
        user_id=user_id,
        status=status,
        client_endpoint=client_endpoint,
        server_endpoint=server_endpoint,
        refresh_token=refresh_token,
    )


def _stringify(value: Any) -> Any:
    if value is None:
        return None
    children = _children(value)
    if children is not None:
        if isinstance(value, Mapping):
            # PHP drops NULL entries; in a list they keep their index (flatten skips them).
            return {key: _stringify(item) for key, item in children if item is not None}
        return [_stringify(item) for _, item in children]
    return php_scalar(value)


def event_data(outbox_row: Mapping[str, Any]) -> dict[str, Any]:
    """Bitrix's ``data`` for an outbox row: its ``payload`` with every leaf a string.

    ``{"FIELDS": {"ID": 5}}`` → ``{"FIELDS": {"ID": "5"}}``; for
    ``onCrmDealMoveToCategory`` the row carries ``ID, CATEGORY_ID, STAGE_ID`` (deals spec
    §7.2) and they come out in that order.  A row without ``FIELDS.ID`` gets the row's
    ``entity_id``.  ``None`` leaves are dropped, as PHP would drop them from the body.
    """
    payload = outbox_row.get("payload") or {}
    data = _stringify(payload)
    if not isinstance(data, dict):
        raise TypeError("outbox payload must be an object")
    fields = data.get("FIELDS")
    if fields is None or (isinstance(fields, dict) and "ID" not in fields):
        fields = dict(fields or {})
        data["FIELDS"] = {"ID": str(outbox_row["entity_id"]), **fields}
    if str(outbox_row.get("event", "")).upper() == "ONCRMDEALMOVETOCATEGORY":
        moved = data["FIELDS"]
        order = ("ID", "CATEGORY_ID", "STAGE_ID")
        data["FIELDS"] = {
            **{key: moved[key] for key in order if key in moved},
            **{key: value for key, value in moved.items() if key not in order},
        }
    return data
