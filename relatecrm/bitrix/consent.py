"""``/oauth/authorize/``: the page where a user approves an OAuth app (spec §7.2 step 1).

Who consents: the page asks for the user's ID (or login) and one of that user's
webhook codes, or the whole webhook URL. A webhook code already proves "this is user
N" to this server, so no password store is needed; the code goes only to this server
and never to the app. The app then acts as that user, with the app's scopes.

Defences: the form carries a CSRF token that must equal a ``SameSite=Strict``,
``HttpOnly`` cookie set with the page (double submit); the page may not be framed
(CSP ``frame-ancestors 'none'`` and ``X-Frame-Options``); every value shown is
HTML-escaped. After approval the browser goes to the app's *registered* redirect URL,
with ``code``, ``state``, ``domain``, ``member_id``, ``scope`` and ``server_domain`` as
Bitrix sends them; a ``redirect_uri`` that differs is refused, never followed.
"""

from __future__ import annotations

import hmac
import html
import logging
import re
import secrets
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit, urlunsplit

from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from relatecrm.accounts import oauth
from relatecrm.accounts.oauth import App
from relatecrm.accounts.service import authenticate_webhook
from relatecrm.bitrix.oauth import OAuthRoutes, form_fields, read_small_body
from relatecrm.db import transaction

log = logging.getLogger("relatecrm.oauth")

AUTHORIZE_PATHS = ("/oauth/authorize/", "/oauth/authorize")
MAX_STATE = 2000
CSRF_COOKIE = "relatecrm_oauth_csrf"
CSRF_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
WEBHOOK_URL = re.compile(r"/rest/+([^/?#]+)/+([^/?#]+)")
PAGE_HEADERS = {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
}
STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;"
    "line-height:1.4}label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.4rem;"
    "box-sizing:border-box}button{margin-top:1rem;padding:.5rem 1.5rem}.error{color:#b00020}"
)


class PageError(Exception):
    """A consent request that cannot be served: a status and a message for the user."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def page(status: int, title: str, body: str) -> Response:
    """A minimal page; ``title`` and ``body`` are escaped HTML already."""
    document = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>{STYLE}</style></head><body>{body}</body></html>\n"
    )
    return Response(document.encode("utf-8"), status_code=status, headers=PAGE_HEADERS)


def error_page(error: PageError) -> Response:
    text = html.escape(error.message)
    return page(error.status, "Authorization failed", f"<h1>Authorization failed</h1><p>{text}</p>")


def with_query(url: str, params: list[tuple[str, str]]) -> str:
    """``url`` with ``params`` appended to whatever query it already has."""
    parts = urlsplit(url)
    added = urlencode(params)
    return urlunsplit(parts._replace(query=f"{parts.query}&{added}" if parts.query else added))


class ConsentPage:
    """GET shows the form, POST approves; bound to the OAuth routes for clock and settings."""

    def __init__(self, routes: OAuthRoutes) -> None:
        self.routes = routes

    async def handle(self, request: Request) -> Response:
        try:
            if request.method == "POST":
                return await self._approve(request)
            return await self._show(request)
        except PageError as error:
            return error_page(error)
        except Exception:
            log.exception("internal error on the OAuth consent page")
            return error_page(PageError(500, "Internal error. Please try again later."))

    async def _checked_app(self, conn: AsyncConnection, fields: Mapping[str, str]) -> App:
        """The app a consent request names, after every check that does not need the user."""
        client_id = fields.get("client_id", "")
        if not client_id:
            raise PageError(400, "The client_id parameter is required.")
        if len(fields.get("state", "")) > MAX_STATE:
            raise PageError(400, "The state parameter is too long.")
        if fields.get("response_type", "code") not in ("", "code"):
            raise PageError(400, "Only response_type=code is supported.")
        app = await oauth.find_app(conn, client_id)
        if app is None or app.revoked:
            raise PageError(400, "Application not found. It may not be installed on this CRM.")
        redirect_uri = fields.get("redirect_uri", "")
        if redirect_uri and redirect_uri != app.redirect_url:
            raise PageError(
                400, "The redirect_uri does not match the application's registered redirect URL."
            )
        return app

    async def _show(self, request: Request) -> Response:
        fields = form_fields(request.url.query)
        async with transaction(self.routes.engine, write=False) as conn:
            app = await self._checked_app(conn, fields)
        cookie = request.cookies.get(CSRF_COOKIE, "")
        csrf = cookie if CSRF_SHAPE.fullmatch(cookie) else secrets.token_urlsafe(32)
        response = self._form(200, app, fields, csrf, error="")
        if csrf != cookie:
            response.set_cookie(
                CSRF_COOKIE, csrf, max_age=3600, path="/oauth/", httponly=True,
                secure=request.url.scheme == "https", samesite="strict",
            )  # fmt: skip
        return response

    async def _approve(self, request: Request) -> Response:
        raw = await read_small_body(request)
        if raw is None:
            raise PageError(413, "The form is too large.")
        fields = form_fields(raw)
        cookie = request.cookies.get(CSRF_COOKIE, "")
        sent = fields.get("csrf_token", "")
        if not (CSRF_SHAPE.fullmatch(cookie) and hmac.compare_digest(cookie, sent)):
            raise PageError(
                403, "This form has expired or did not come from this page. Go back and reload it."
            )
        user, code = fields.get("user", "").strip(), fields.get("webhook_code", "").strip()
        if match := WEBHOOK_URL.search(code):
            user, code = match.group(1), match.group(2)
        routes = self.routes
        async with transaction(routes.engine) as conn:
            app = await self._checked_app(conn, fields)
            principal = await authenticate_webhook(conn, user, code) if user and code else None
            if principal is None:
                error = "Unknown user, or a wrong or revoked webhook code."
                return self._form(403, app, fields, cookie, error=error)
            issued = await oauth.issue_code(
                conn, app, user_id=principal.user_id, now=routes.clock(), lifetimes=routes.lifetimes
            )
        base = routes.base_url(request)
        host = urlsplit(base).netloc
        params = [
            ("code", issued),
            ("state", fields.get("state", "")),
            ("domain", host),
            ("member_id", routes.member_id(base)),
            ("scope", ",".join(app.scopes)),
            ("server_domain", host),
        ]
        headers = {"cache-control": "no-store", "referrer-policy": "no-referrer"}
        headers["location"] = with_query(app.redirect_url, params)
        return Response(status_code=302, headers=headers)

    def _form(
        self, status: int, app: App, fields: Mapping[str, str], csrf: str, *, error: str
    ) -> Response:
        e = html.escape
        title = e(app.title)
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{e(value)}">'
            for name, value in (
                ("csrf_token", csrf),
                ("client_id", app.client_id),
                ("state", fields.get("state", "")),
                ("response_type", "code"),
                ("redirect_uri", fields.get("redirect_uri", "")),
            )
        )
        notice = f'<p class="error" role="alert">{e(error)}</p>' if error else ""
        body = (
            f"<h1>Authorize {title}</h1>"
            f"<p>The application <strong>{title}</strong> (<code>{e(app.client_id)}</code>) "
            f"asks to act as you in this CRM with the scopes "
            f"<strong>{e(', '.join(app.scopes))}</strong>.</p>"
            f"<p>After you approve, your browser goes to <code>{e(app.redirect_url)}</code>.</p>"
            f'{notice}<form method="post" action="/oauth/authorize/">{hidden}'
            '<label for="user">Your user ID or login</label>'
            f'<input id="user" name="user" autocomplete="username" required '
            f'value="{e(fields.get("user", ""))}">'
            '<label for="code">One of your webhook codes, or the whole webhook URL</label>'
            '<input id="code" name="webhook_code" type="password" '
            'autocomplete="current-password" required>'
            '<button type="submit">Approve</button></form>'
            "<p>Your code is checked by this CRM and never given to the application.</p>"
        )
        return page(status, f"Authorize {title}", body)
