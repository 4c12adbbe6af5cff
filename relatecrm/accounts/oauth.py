"""OAuth 2.0 applications: registration, authorization codes, access and refresh tokens.

The Bitrix flow (protocol spec §7.2): a user approves an app on the consent page and
gets a one-time code (30 s); the app exchanges it, with its secret, for an access
token (1 h) and a refresh token; each refresh replaces both (the old pair stops
working at once, as on Bitrix). Client secrets, codes and tokens are random and
stored only as SHA-256 digests. They are looked up by digest: the digest of a
256-bit secret leaks nothing useful through timing, unlike comparing the secret.

Refusals are returned, not raised. A replayed code must both revoke the tokens it
produced and be refused; the edge commits what happened and then renders the
refusal, where an exception would roll the revocation back.

Every function takes ``now``: tests move the clock instead of sleeping.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.accounts.models import oauth_apps, oauth_codes, oauth_tokens, users
from relatecrm.accounts.service import Principal
from relatecrm.errors import InvalidParameter, NotFound

SCOPE = re.compile(r"[a-z][a-z0-9_]{0,49}")
SECRET_ALPHABET = string.ascii_letters + string.digits
PURGE_AFTER = dt.timedelta(days=1)
MAX_PRESENTED = 512  # longer than any secret we issue: refused without a lookup


@dataclass(frozen=True)
class Lifetimes:
    """How long codes and tokens live (Bitrix: 30 s, 1 h, 180 days)."""

    code: dt.timedelta = dt.timedelta(seconds=30)
    access: dt.timedelta = dt.timedelta(hours=1)
    refresh: dt.timedelta = dt.timedelta(days=180)


@dataclass(frozen=True)
class App:
    """An application as shown to administrators and on the consent page (no secret)."""

    id: int
    client_id: str
    title: str
    scopes: tuple[str, ...]
    redirect_url: str
    created_at: dt.datetime
    revoked: bool


@dataclass(frozen=True)
class AppPrincipal(Principal):
    """A caller with an access token: the user who approved, with the app's scopes."""

    app_id: int
    client_id: str


@dataclass(frozen=True)
class TokenGrant:
    """What the token endpoint hands out; the secrets exist in clear only here."""

    access_token: str
    refresh_token: str
    expires: dt.datetime
    expires_in: int
    scopes: tuple[str, ...]
    user_id: int
    client_id: str


class TokenError(enum.Enum):
    """Why an access token presented to ``/rest`` was refused (checked in Bitrix's order)."""

    INVALID = "invalid"  # unknown, or replaced by a refresh
    APP_NOT_FOUND = "app_not_found"  # the app was revoked
    EXPIRED = "expired"
    USER_INACTIVE = "user_inactive"


class GrantError(enum.Enum):
    """Why the token endpoint refused an exchange or a refresh."""

    INVALID_CLIENT = "invalid_client"  # unknown client_id or wrong secret
    APP_REVOKED = "app_revoked"
    INVALID_CODE = "invalid_code"  # unknown, used, or issued to another app
    EXPIRED_CODE = "expired_code"
    INVALID_REFRESH = "invalid_refresh"  # unknown, rotated, or issued to another app
    EXPIRED_REFRESH = "expired_refresh"
    USER_INACTIVE = "user_inactive"


def _digest(value: str) -> str:
    """SHA-256 hex, as for webhook codes; lone surrogates from JSON hash instead of failing."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def _split(scopes: str) -> tuple[str, ...]:
    return tuple(filter(None, scopes.split(",")))


def _app(row: Any) -> App:
    return App(
        id=int(row.id),
        client_id=row.client_id,
        title=row.title,
        scopes=_split(row.scopes),
        redirect_url=row.redirect_url,
        created_at=row.created_at,
        revoked=row.revoked_at is not None,
    )


def normalize_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """Scope codes, lower case, sorted, each once; commas inside one value split it."""
    found = {part.strip().lower() for scope in scopes for part in scope.split(",")}
    found.discard("")
    for scope in found:
        if not SCOPE.fullmatch(scope):
            raise InvalidParameter(f"Invalid scope '{scope}': use codes such as crm or user.")
    if not found:
        raise InvalidParameter("An application needs at least one scope.")
    return tuple(sorted(found))


def check_redirect_url(url: str) -> str:
    """An absolute http(s) URL with a host and no fragment, user info or blanks.

    The consent page sends browsers, with a fresh code, to this URL and nowhere else,
    so it is checked once here and never taken from a request.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        port_ok = False
    if not (
        port_ok
        and len(url) <= 2000
        and parts.scheme in ("https", "http")
        and parts.hostname
        and not parts.fragment
        and parts.username is None
        and not any(ch.isspace() or ord(ch) < 0x20 or ch == "\x7f" for ch in url)
    ):
        raise InvalidParameter(
            "The redirect URL must be an absolute http:// or https:// URL "
            "with a host and without a #fragment."
        )
    return url


async def create_app(
    conn: AsyncConnection,
    *,
    title: str,
    scopes: Iterable[str],
    redirect_url: str,
    now: dt.datetime,
) -> tuple[App, str]:
    """Register an app; its secret is returned this once and stored only hashed.

    Client ids look like Bitrix local apps' (``local.<14 hex>.<8 digits>``) so that
    clients validating that shape accept them; secrets are 50 letters and digits.
    """
    title = title.strip()
    if not title or len(title) > 255:
        raise InvalidParameter("The title must be 1 to 255 characters.")
    granted = normalize_scopes(scopes)
    url = check_redirect_url(redirect_url)
    client_id = f"local.{secrets.token_hex(7)}.{secrets.randbelow(10**8):08d}"
    secret = "".join(secrets.choice(SECRET_ALPHABET) for _ in range(50))
    result = await conn.execute(
        insert(oauth_apps)
        .values(
            client_id=client_id,
            secret_hash=_digest(secret),
            title=title,
            scopes=",".join(granted),
            redirect_url=url,
            created_at=now,
        )
        .returning(oauth_apps.c.id)
    )
    app = App(int(result.scalar_one()), client_id, title, granted, url, now, revoked=False)
    return app, secret


async def list_apps(conn: AsyncConnection) -> list[App]:
    rows = await conn.execute(select(oauth_apps).order_by(oauth_apps.c.id))
    return [_app(row) for row in rows]


async def find_app(conn: AsyncConnection, client_id: str) -> App | None:
    """The app with this client id, revoked or not; None if there is none."""
    if not client_id or len(client_id) > 64:
        return None
    row = (
        await conn.execute(select(oauth_apps).where(oauth_apps.c.client_id == client_id))
    ).first()
    return None if row is None else _app(row)


async def revoke_app(conn: AsyncConnection, ref: str, *, now: dt.datetime) -> App:
    """Revoke by numeric id or client id: its tokens and secret stop working at once."""
    ref = ref.strip()
    if ref.isascii() and ref.isdigit() and len(ref) <= 10:
        where = oauth_apps.c.id == int(ref)
    else:
        where = oauth_apps.c.client_id == ref
    row = (
        await conn.execute(
            update(oauth_apps)
            .where(where, oauth_apps.c.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(*oauth_apps.c)
        )
    ).first()
    if row is None:
        raise NotFound(f"Application {ref} not found or already revoked.")
    return _app(row)


async def _purge(conn: AsyncConnection, now: dt.datetime) -> None:
    """Forget codes and token pairs a day after they expired (until then a refusal can
    still say "expired" rather than "invalid")."""
    horizon = now - PURGE_AFTER
    await conn.execute(delete(oauth_codes).where(oauth_codes.c.expires_at < horizon))
    await conn.execute(delete(oauth_tokens).where(oauth_tokens.c.refresh_expires_at < horizon))


async def purge_expired(conn: AsyncConnection, now: dt.datetime) -> None:
    """What the delivery worker calls now and then: event tokens expire unused."""
    await _purge(conn, now)


async def issue_code(
    conn: AsyncConnection, app: App, *, user_id: int, now: dt.datetime, lifetimes: Lifetimes
) -> str:
    """A one-time code for ``user_id``'s approval of ``app`` (the user is authenticated)."""
    if app.revoked:
        raise NotFound("Application not found.")
    await _purge(conn, now)
    code = secrets.token_hex(16)
    await conn.execute(
        insert(oauth_codes).values(
            app_id=app.id,
            user_id=user_id,
            code_hash=_digest(code),
            scopes=",".join(app.scopes),
            created_at=now,
            expires_at=now + lifetimes.code,
        )
    )
    return code


def _bounded(value: str) -> bool:
    return 0 < len(value) <= MAX_PRESENTED


async def _client(conn: AsyncConnection, client_id: str, secret: str) -> Any | GrantError:
    """The app row for these client credentials, or why they are refused."""
    if not (_bounded(client_id) and _bounded(secret)):
        return GrantError.INVALID_CLIENT
    row = (
        await conn.execute(select(oauth_apps).where(oauth_apps.c.client_id == client_id))
    ).first()
    if row is None or not hmac.compare_digest(_digest(secret), row.secret_hash):
        return GrantError.INVALID_CLIENT
    if row.revoked_at is not None:
        return GrantError.APP_REVOKED
    return row


async def _user_active(conn: AsyncConnection, user_id: int) -> bool:
    row = await conn.execute(select(users.c.active).where(users.c.id == user_id))
    return bool(row.scalar_one_or_none())


async def _mint(
    conn: AsyncConnection,
    app: Any,
    *,
    user_id: int,
    code_id: int | None,
    scopes: str,
    now: dt.datetime,
    lifetimes: Lifetimes,
) -> TokenGrant:
    access, refresh = secrets.token_hex(32), secrets.token_hex(32)
    expires = now + lifetimes.access
    await conn.execute(
        insert(oauth_tokens).values(
            app_id=app.id,
            user_id=user_id,
            code_id=code_id,
            access_hash=_digest(access),
            refresh_hash=_digest(refresh),
            scopes=scopes,
            created_at=now,
            access_expires_at=expires,
            refresh_expires_at=now + lifetimes.refresh,
        )
    )
    return TokenGrant(
        access_token=access,
        refresh_token=refresh,
        expires=expires,
        expires_in=int(lifetimes.access.total_seconds()),
        scopes=_split(scopes),
        user_id=user_id,
        client_id=app.client_id,
    )


async def exchange_code(
    conn: AsyncConnection,
    *,
    client_id: str,
    client_secret: str,
    code: str,
    now: dt.datetime,
    lifetimes: Lifetimes,
) -> TokenGrant | GrantError:
    """``grant_type=authorization_code``: a code, once, for the app it was issued to.

    A code presented a second time revokes every token issued from it (RFC 6749
    §4.1.2): whoever replays it, the legitimate app or a thief, the chain is suspect.
    """
    app = await _client(conn, client_id, client_secret)
    if isinstance(app, GrantError):
        return app
    if not _bounded(code):
        return GrantError.INVALID_CODE
    row = (
        await conn.execute(select(oauth_codes).where(oauth_codes.c.code_hash == _digest(code)))
    ).first()
    if row is None or row.app_id != app.id:
        return GrantError.INVALID_CODE
    if row.used_at is None and row.expires_at <= now:
        return GrantError.EXPIRED_CODE
    claimed = await conn.execute(
        update(oauth_codes)
        .where(oauth_codes.c.id == row.id, oauth_codes.c.used_at.is_(None))
        .values(used_at=now)
    )
    if claimed.rowcount != 1:  # used before, or by a concurrent exchange just now
        await conn.execute(delete(oauth_tokens).where(oauth_tokens.c.code_id == row.id))
        return GrantError.INVALID_CODE
    if not await _user_active(conn, row.user_id):
        return GrantError.USER_INACTIVE
    return await _mint(
        conn, app, user_id=row.user_id, code_id=row.id, scopes=row.scopes, now=now,
        lifetimes=lifetimes,
    )  # fmt: skip


async def refresh(
    conn: AsyncConnection,
    *,
    client_id: str,
    client_secret: str,
    refresh_token: str,
    now: dt.datetime,
    lifetimes: Lifetimes,
) -> TokenGrant | GrantError:
    """``grant_type=refresh_token``: a new pair; the old access and refresh tokens die.

    Of two concurrent refreshes with one token, exactly one wins: the row is deleted
    with a check of the affected count, and the loser is told ``invalid_grant``.
    """
    app = await _client(conn, client_id, client_secret)
    if isinstance(app, GrantError):
        return app
    if not _bounded(refresh_token):
        return GrantError.INVALID_REFRESH
    await _purge(conn, now)  # first: the row read below then names no purged code
    row = (
        await conn.execute(
            select(oauth_tokens).where(oauth_tokens.c.refresh_hash == _digest(refresh_token))
        )
    ).first()
    if row is None or row.app_id != app.id:
        return GrantError.INVALID_REFRESH
    if row.refresh_expires_at <= now:
        return GrantError.EXPIRED_REFRESH
    if not await _user_active(conn, row.user_id):
        return GrantError.USER_INACTIVE
    gone = await conn.execute(delete(oauth_tokens).where(oauth_tokens.c.id == row.id))
    if gone.rowcount != 1:
        return GrantError.INVALID_REFRESH
    return await _mint(
        conn, app, user_id=row.user_id, code_id=row.code_id, scopes=row.scopes, now=now,
        lifetimes=lifetimes,
    )  # fmt: skip


async def authenticate_token(
    conn: AsyncConnection, token: str, now: dt.datetime
) -> AppPrincipal | TokenError:
    """The caller behind an access token, or why it is refused.

    Checked in the order Bitrix checks (``rest/lib/oauth/auth.php``): the app must be
    installed, then the token unexpired, then the user able to log in.
    """
    if not _bounded(token):
        return TokenError.INVALID
    row = (
        await conn.execute(
            select(
                oauth_tokens.c.access_expires_at,
                oauth_tokens.c.scopes,
                oauth_apps.c.id.label("app_id"),
                oauth_apps.c.client_id,
                oauth_apps.c.revoked_at,
                users.c.id.label("user_id"),
                users.c.is_admin,
                users.c.active,
            )
            .join(oauth_apps, oauth_apps.c.id == oauth_tokens.c.app_id)
            .join(users, users.c.id == oauth_tokens.c.user_id)
            .where(oauth_tokens.c.access_hash == _digest(token))
        )
    ).first()
    if row is None:
        return TokenError.INVALID
    if row.revoked_at is not None:
        return TokenError.APP_NOT_FOUND
    if row.access_expires_at <= now:
        return TokenError.EXPIRED
    if not row.active:
        return TokenError.USER_INACTIVE
    return AppPrincipal(
        user_id=int(row.user_id),
        scopes=frozenset(_split(row.scopes)),
        is_admin=bool(row.is_admin),
        app_id=int(row.app_id),
        client_id=row.client_id,
    )


async def event_grant(
    conn: AsyncConnection, app_id: int, *, user_id: int, now: dt.datetime, lifetimes: Lifetimes
) -> TokenGrant | None:
    """A fresh token for an event POST to ``app_id``'s handler, acting as ``user_id``
    (Bitrix puts one in every user-made event, §6.2); None if the app or user is gone.

    The body never carries its refresh token, so the pair ends with the access token and
    is purged a day later, instead of one row per event living for 180 days."""
    app = (await conn.execute(select(oauth_apps).where(oauth_apps.c.id == app_id))).first()
    if app is None or app.revoked_at is not None or not await _user_active(conn, user_id):
        return None
    short = Lifetimes(code=lifetimes.code, access=lifetimes.access, refresh=lifetimes.access)
    return await _mint(
        conn, app, user_id=user_id, code_id=None, scopes=app.scopes, now=now, lifetimes=short
    )
