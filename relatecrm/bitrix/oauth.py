"""OAuth 2.0 for applications on the wire: ``/oauth/token/`` and access tokens on
``/rest`` (protocol spec §7.2, §1.2). The consent page is ``bitrix/consent.py``; the
rules live in ``accounts.oauth``; this module only reads requests and writes answers.

The token endpoint answers GET (query) and POST (form, multipart or JSON), as clients
use both: b24pysdk GETs, b24jssdk and CRest POST a form. Errors are the OAuth shape
``{"error", "error_description"}`` with status 400 and the texts of the PHP OAuth
server Bitrix runs (b24pysdk quotes its ``No "refresh_token" parameter found``).
Answers carry ``Cache-Control: no-store``: they contain secrets.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.requests import Request
from starlette.responses import Response

from relatecrm.accounts import oauth
from relatecrm.accounts.oauth import GrantError, Lifetimes, TokenError, TokenGrant
from relatecrm.bitrix.errors import (
    ApplicationNotFound,
    AuthorizationError,
    BitrixError,
    ExpiredToken,
    InvalidToken,
    NoAuthFound,
)
from relatecrm.config import Settings
from relatecrm.db import transaction

log = logging.getLogger("relatecrm.oauth")

TOKEN_PATHS = ("/oauth/token/", "/oauth/token")
MAX_BODY = 16 * 1024
BEARER = re.compile(r"Bearer\s+", re.IGNORECASE)

# Bitrix checks in this order and answers with these (rest/lib/oauth/auth.php).
REST_ERRORS: dict[TokenError, type[BitrixError]] = {
    TokenError.INVALID: InvalidToken,
    TokenError.APP_NOT_FOUND: ApplicationNotFound,
    TokenError.EXPIRED: ExpiredToken,
    TokenError.USER_INACTIVE: AuthorizationError,
}
GRANT_ERRORS: dict[GrantError, tuple[str, str]] = {
    GrantError.INVALID_CLIENT: ("invalid_client", "The client credentials are invalid"),
    GrantError.APP_REVOKED: ("invalid_client", "The application is not installed"),
    GrantError.INVALID_CODE: (
        "invalid_grant",
        "Authorization code doesn't exist or is invalid for the client",
    ),
    GrantError.EXPIRED_CODE: ("invalid_grant", "The authorization code has expired"),
    GrantError.INVALID_REFRESH: ("invalid_grant", "Invalid refresh token"),
    GrantError.EXPIRED_REFRESH: ("invalid_grant", "Refresh token has expired"),
    GrantError.USER_INACTIVE: ("invalid_grant", "The user is not active"),
}
JSON_HEADERS = {
    "content-type": "application/json; charset=utf-8",
    "cache-control": "no-store",
    "pragma": "no-cache",
}


def presented_token(credentials: Mapping[str, Any], authorization: str | None) -> str | None:
    """The access token, looked for where Bitrix looks: Bearer header, ``auth``, ``access_token``.

    Arrays are skipped, as in ``Auth::getAuthKey``; an empty value counts as none.
    """
    if authorization and (match := BEARER.match(authorization)):
        token = authorization[match.end() :].strip()
        if token:
            return token
    for key in ("auth", "access_token"):
        value = credentials.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and value:
            return value
    return None


async def authenticate_access_token(
    conn: AsyncConnection,
    credentials: Mapping[str, Any],
    authorization: str | None,
    now: dt.datetime,
) -> oauth.AppPrincipal:
    """The principal of an OAuth call to ``/rest/{method}``, or the Bitrix error to answer."""
    token = presented_token(credentials, authorization)
    if token is None:
        raise NoAuthFound()
    result = await oauth.authenticate_token(conn, token, now)
    if isinstance(result, TokenError):
        raise REST_ERRORS[result]()
    return result


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=JSON_HEADERS)


def _oauth_error(error: str, description: str) -> Response:
    return _json(400, {"error": error, "error_description": description})


async def read_small_body(request: Request) -> bytes | None:
    """The body, or None if it is larger than any OAuth form needs to be."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def form_fields(raw: bytes | str) -> dict[str, str]:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return dict(parse_qsl(text, keep_blank_values=True, max_num_fields=100))


async def _request_fields(request: Request) -> dict[str, str] | None:
    """Query merged with a form or JSON body (body wins); None if unreadable."""
    try:
        fields = form_fields(request.url.query)
        if request.method != "POST":
            return fields
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "multipart/form-data":
            form = await request.form(max_files=0, max_fields=100, max_part_size=MAX_BODY)
            fields.update((k, v) for k, v in form.multi_items() if isinstance(v, str))
            return fields
        raw = await read_small_body(request)
        if raw is None:
            return None
        if content_type == "application/json" and raw.strip():
            body = orjson.loads(raw)
            if not isinstance(body, dict):
                return None
            fields.update((k, v) for k, v in body.items() if isinstance(v, str))
        else:
            fields.update(form_fields(raw))
        return fields
    except Exception:  # malformed form, JSON, multipart or too many fields
        return None


class OAuthRoutes:
    """The token endpoint and what the consent page shares: engine, settings, clock."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.clock = clock
        self.lifetimes = Lifetimes(
            code=dt.timedelta(seconds=settings.oauth_code_ttl),
            access=dt.timedelta(seconds=settings.oauth_access_ttl),
            refresh=dt.timedelta(seconds=settings.oauth_refresh_ttl),
        )

    # --- where we are --------------------------------------------------------------

    def base_url(self, request: Request) -> str:
        """The public URL if configured; else the one this request came to."""
        if self.settings.public_url:
            return self.settings.public_url.rstrip("/")
        return f"{request.url.scheme}://{request.url.netloc}"

    def member_id(self, base_url: str) -> str:
        """Bitrix's portal id: configured, or a stable digest of the public URL."""
        return self.settings.portal_member_id(base_url)

    # --- /oauth/token/ ---------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        try:
            return await self._token(request)
        except Exception:
            log.exception("internal error in the OAuth token endpoint")
            return _json(500, {"error": "server_error", "error_description": "Internal error"})

    async def _token(self, request: Request) -> Response:
        fields = await _request_fields(request)
        if fields is None:
            return _oauth_error("invalid_request", "The request body could not be read")
        grant_type = fields.get("grant_type", "")
        if not grant_type:
            return _oauth_error(
                "invalid_request", "The grant type was not specified in the request"
            )
        if grant_type not in ("authorization_code", "refresh_token"):
            shown = grant_type[:50]
            return _oauth_error("unsupported_grant_type", f'Grant type "{shown}" not supported')
        client_id = fields.get("client_id", "")
        client_secret = fields.get("client_secret", "")
        if not client_id or not client_secret:
            return _oauth_error(
                "invalid_client", "Client credentials were not found in the headers or body"
            )
        now = self.clock()
        result: TokenGrant | GrantError
        if grant_type == "authorization_code":
            code = fields.get("code", "")
            if not code:
                return _oauth_error("invalid_request", 'Missing parameter: "code" is required')
            async with transaction(self.engine) as conn:
                result = await oauth.exchange_code(
                    conn, client_id=client_id, client_secret=client_secret, code=code,
                    now=now, lifetimes=self.lifetimes,
                )  # fmt: skip
        else:
            refresh_token = fields.get("refresh_token", "")
            if not refresh_token:
                return _oauth_error("invalid_request", 'No "refresh_token" parameter found')
            async with transaction(self.engine) as conn:
                result = await oauth.refresh(
                    conn, client_id=client_id, client_secret=client_secret,
                    refresh_token=refresh_token, now=now, lifetimes=self.lifetimes,
                )  # fmt: skip
        # Committed: a refusal may have revoked tokens (a replayed code), and that stays.
        if isinstance(result, GrantError):
            return _oauth_error(*GRANT_ERRORS[result])
        return _json(200, self.grant_body(request, result))

    def grant_body(self, request: Request, grant: TokenGrant) -> dict[str, Any]:
        """The keys and order of a real Bitrix answer; ``domain`` is the OAuth server (us)."""
        base = self.base_url(request)
        return {
            "access_token": grant.access_token,
            "expires": int(grant.expires.timestamp()),
            "expires_in": grant.expires_in,
            "scope": ",".join(grant.scopes),
            "domain": urlsplit(base).netloc,
            "server_endpoint": f"{base}/rest/",
            "status": "L",  # a local application
            "client_endpoint": f"{base}/rest/",
            "member_id": self.member_id(base),
            "user_id": grant.user_id,
            "refresh_token": grant.refresh_token,
        }
