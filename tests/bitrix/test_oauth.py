"""OAuth 2.0 on the wire: consent page, ``/oauth/token/``, tokens on ``/rest`` (spec §7.2).

Everything goes through the real ASGI app on both backends. Expiry is tested by moving
the OAuth routes' clock (``app.state.oauth.clock``), never by sleeping.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.accounts import oauth
from relatecrm.accounts import service as accounts
from relatecrm.accounts.models import users
from relatecrm.app import create_app
from relatecrm.config import Settings
from relatecrm.db import transaction

REDIRECT = "https://app.example.com/callback"
TOKEN_KEYS = ["access_token", "expires", "expires_in", "scope", "domain", "server_endpoint",
              "status", "client_endpoint", "member_id", "user_id", "refresh_token"]  # fmt: skip
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Portal:
    """The app under test, an HTTP client, user 1's webhook code and one OAuth app."""

    app: FastAPI
    http: httpx.AsyncClient
    engine: AsyncEngine
    webhook: str
    client_id: str
    secret: str

    def move_clock(self, seconds: float) -> None:
        self.app.state.oauth.clock = lambda: _now() + dt.timedelta(seconds=seconds)

    async def new_app(self, *, scopes: list[str], title: str = "Other", url: str = REDIRECT) -> Any:
        async with transaction(self.engine) as conn:
            return await oauth.create_app(
                conn, title=title, scopes=scopes, redirect_url=url, now=_now()
            )

    async def consent_page(self, **params: str) -> httpx.Response:
        query = {"client_id": self.client_id, "state": "st-1", **params}
        return await self.http.get("/oauth/authorize/", params=query)

    async def approve(self, page: httpx.Response, **fields: str) -> httpx.Response:
        match = CSRF.search(page.text)
        assert match, page.text
        form = {"csrf_token": match.group(1), "client_id": self.client_id, "state": "st-1",
                "user": "1", "webhook_code": self.webhook, **fields}  # fmt: skip
        return await self.http.post("/oauth/authorize/", data=form)

    async def code(self, **params: str) -> str:
        reply = await self.approve(await self.consent_page(**params))
        assert reply.status_code == 302, reply.text
        return parse_qs(urlsplit(reply.headers["location"]).query)["code"][0]

    async def token(self, post: bool = False, **params: str) -> httpx.Response:
        fields = {"client_id": self.client_id, "client_secret": self.secret, **params}
        if post:
            return await self.http.post("/oauth/token/", data=fields)
        return await self.http.get("/oauth/token/", params=fields)

    async def grant(self) -> dict[str, Any]:
        reply = await self.token(grant_type="authorization_code", code=await self.code())
        assert reply.status_code == 200, reply.text
        body: dict[str, Any] = reply.json()
        return body

    async def rest(self, method: str, token: str, how: str = "auth") -> httpx.Response:
        if how == "bearer":
            return await self.http.post(
                f"/rest/{method}", json={}, headers={"authorization": f"Bearer {token}"}
            )
        if how == "access_token":
            return await self.http.get(f"/rest/{method}.json", params={"access_token": token})
        return await self.http.post(f"/rest/{method}", json={"auth": token})


@pytest.fixture
async def portal(db: AsyncEngine) -> AsyncIterator[Portal]:
    settings = Settings(database_url=db.url.render_as_string(hide_password=False))
    app = create_app(settings)
    async with transaction(db) as conn:
        webhook = await accounts.create_webhook(conn, user_id=1, scopes=["crm"], now=_now())
        created, secret = await oauth.create_app(
            conn, title="Sales app", scopes=["crm", "user"], redirect_url=REDIRECT, now=_now()
        )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        yield Portal(app, http, db, webhook, created.client_id, secret)
    await app.state.engine.dispose()


def oauth_error(reply: httpx.Response, error: str, description: str | None = None) -> None:
    assert reply.status_code == 400, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert set(body) == {"error", "error_description"} and body["error"] == error, body
    if description is not None:
        assert body["error_description"] == description


def rest_error(reply: httpx.Response, status: int, error: str, description: str) -> None:
    assert (reply.status_code, reply.json()) == (
        status,
        {"error": error, "error_description": description},
    )


# --- the full flow -----------------------------------------------------------------


async def test_full_flow_and_three_ways_to_present_the_token(portal: Portal) -> None:
    page = await portal.consent_page(response_type="code", redirect_uri=REDIRECT)
    assert page.status_code == 200 and "Sales app" in page.text and "crm, user" in page.text
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    cookie = page.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" in cookie

    reply = await portal.approve(page)
    assert reply.status_code == 302
    location = urlsplit(reply.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    params = parse_qs(location.query, keep_blank_values=True)
    assert list(params) == ["code", "state", "domain", "member_id", "scope", "server_domain"]
    assert params["state"] == ["st-1"] and params["scope"] == ["crm,user"]
    assert params["domain"] == params["server_domain"] == ["testserver"]
    assert re.fullmatch(r"[0-9a-f]{32}", params["member_id"][0])
    assert "scope=crm%2Cuser" in location.query  # encoded as Bitrix does

    before = int(_now().timestamp())
    exchanged = await portal.token(grant_type="authorization_code", code=params["code"][0])
    assert exchanged.status_code == 200 and exchanged.headers["cache-control"] == "no-store"
    body = exchanged.json()
    assert list(body) == TOKEN_KEYS
    assert body["expires_in"] == 3600 and before + 3600 <= body["expires"] <= before + 3601
    assert body["scope"] == "crm,user" and body["user_id"] == 1 and body["status"] == "L"
    assert body["client_endpoint"] == body["server_endpoint"] == "https://testserver/rest/"
    assert body["domain"] == "testserver" and body["member_id"] == params["member_id"][0]
    assert body["access_token"] != body["refresh_token"]

    token = body["access_token"]
    added = await portal.http.post(
        "/rest/crm.deal.add", json={"auth": token, "fields": {"TITLE": "A"}}
    )
    assert added.status_code == 200, added.text
    for how in ("auth", "access_token", "bearer"):
        listed = await portal.rest("crm.deal.list", token, how)
        assert listed.status_code == 200, (how, listed.text)
        assert [deal["TITLE"] for deal in listed.json()["result"]] == ["A"]
    batch = await portal.http.post(
        "/rest//batch", json={"auth": token, "cmd": {"a": "crm.deal.list?select[]=ID"}}
    )
    assert batch.status_code == 200 and batch.json()["result"]["result_error"] == []


async def test_token_endpoint_accepts_a_form_post_and_no_trailing_slash(portal: Portal) -> None:
    fields = {"grant_type": "authorization_code", "client_id": portal.client_id,
              "client_secret": portal.secret, "code": await portal.code()}  # fmt: skip
    reply = await portal.http.post("/oauth/token", data=fields)
    assert reply.status_code == 200 and list(reply.json()) == TOKEN_KEYS
    json_reply = await portal.http.post(
        "/oauth/token/", json={**fields, "code": await portal.code()}
    )
    assert json_reply.status_code == 200, json_reply.text


async def test_registered_url_keeps_its_query(portal: Portal) -> None:
    created, _ = await portal.new_app(scopes=["crm"], url="https://app.example.com/cb?x=1&y=2")
    portal.client_id = created.client_id
    reply = await portal.approve(await portal.consent_page())
    assert reply.headers["location"].startswith("https://app.example.com/cb?x=1&y=2&code=")


async def test_a_pasted_webhook_url_works_as_the_code(portal: Portal) -> None:
    page = await portal.consent_page()
    reply = await portal.approve(
        page, user="", webhook_code=f"https://testserver/rest/1/{portal.webhook}/"
    )
    assert reply.status_code == 302


# --- expiry, refresh and rotation ---------------------------------------------------


async def test_expired_access_token(portal: Portal) -> None:
    portal.move_clock(-3600)  # issued an hour ago: it expires now
    body = await portal.grant()
    reply = await portal.rest("crm.deal.list", body["access_token"])
    rest_error(reply, 401, "expired_token", "The access token provided has expired")
    portal.move_clock(0)
    refreshed = await portal.token(grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert refreshed.status_code == 200
    assert (await portal.rest("crm.deal.list", refreshed.json()["access_token"])).status_code == 200


async def test_access_token_lifetime_is_a_setting(db: AsyncEngine) -> None:
    settings = Settings(database_url=db.url.render_as_string(hide_password=False),
                        oauth_access_ttl=60, member_id="m-1")  # fmt: skip
    app = create_app(settings)
    async with transaction(db) as conn:
        webhook = await accounts.create_webhook(conn, user_id=1, scopes=["crm"], now=_now())
        created, secret = await oauth.create_app(
            conn, title="T", scopes=["crm"], redirect_url=REDIRECT, now=_now()
        )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as http:
        portal = Portal(app, http, db, webhook, created.client_id, secret)
        body = await portal.grant()
        assert body["expires_in"] == 60 and body["member_id"] == "m-1"
        portal.move_clock(-61)
        stale = await portal.grant()
        reply = await portal.rest("crm.deal.list", stale["access_token"])
        assert reply.json()["error"] == "expired_token"
    await app.state.engine.dispose()


async def test_refresh_rotates_both_tokens(portal: Portal) -> None:
    first = await portal.grant()
    reply = await portal.token(
        post=True, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert reply.status_code == 200 and list(reply.json()) == TOKEN_KEYS
    second = reply.json()
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert second["user_id"] == 1 and second["scope"] == "crm,user"
    # The old pair is dead, the new one works.
    rest_error(
        await portal.rest("crm.deal.list", first["access_token"]),
        401, "invalid_token", "The access token provided is invalid",
    )  # fmt: skip
    again = await portal.token(grant_type="refresh_token", refresh_token=first["refresh_token"])
    oauth_error(again, "invalid_grant", "Invalid refresh token")
    assert (await portal.rest("crm.deal.list", second["access_token"])).status_code == 200
    third = await portal.token(grant_type="refresh_token", refresh_token=second["refresh_token"])
    assert third.status_code == 200


async def test_refresh_token_expires(portal: Portal) -> None:
    body = await portal.grant()
    portal.move_clock(180 * 24 * 3600)
    reply = await portal.token(grant_type="refresh_token", refresh_token=body["refresh_token"])
    oauth_error(reply, "invalid_grant", "Refresh token has expired")


async def test_code_lives_thirty_seconds(portal: Portal) -> None:
    code = await portal.code()
    portal.move_clock(30)
    reply = await portal.token(grant_type="authorization_code", code=code)
    oauth_error(reply, "invalid_grant", "The authorization code has expired")
    portal.move_clock(0)
    fresh = await portal.code()
    portal.move_clock(29)
    assert (await portal.token(grant_type="authorization_code", code=fresh)).status_code == 200


# --- refusals of the token endpoint -------------------------------------------------


async def test_client_credentials(portal: Portal) -> None:
    code = await portal.code()
    wrong = await portal.token(grant_type="authorization_code", code=code, client_secret="x" * 50)
    oauth_error(wrong, "invalid_client", "The client credentials are invalid")
    unknown = await portal.token(grant_type="authorization_code", code=code, client_id="local.x.1")
    oauth_error(unknown, "invalid_client", "The client credentials are invalid")
    missing = await portal.token(grant_type="authorization_code", code=code, client_secret="")
    oauth_error(
        missing, "invalid_client", "Client credentials were not found in the headers or body"
    )
    # None of that spent the code.
    assert (await portal.token(grant_type="authorization_code", code=code)).status_code == 200


async def test_a_reused_code_is_refused_and_revokes_its_tokens(portal: Portal) -> None:
    code = await portal.code()
    first = await portal.token(grant_type="authorization_code", code=code)
    assert first.status_code == 200
    again = await portal.token(grant_type="authorization_code", code=code)
    oauth_error(
        again, "invalid_grant", "Authorization code doesn't exist or is invalid for the client"
    )
    reply = await portal.rest("crm.deal.list", first.json()["access_token"])
    assert reply.status_code == 401 and reply.json()["error"] == "invalid_token"
    refresh = await portal.token(
        grant_type="refresh_token", refresh_token=first.json()["refresh_token"]
    )
    oauth_error(refresh, "invalid_grant")


async def test_a_code_is_bound_to_its_app(portal: Portal) -> None:
    code = await portal.code()
    other, other_secret = await portal.new_app(scopes=["crm"])
    stolen = await portal.token(grant_type="authorization_code", code=code,
                                client_id=other.client_id, client_secret=other_secret)  # fmt: skip
    oauth_error(stolen, "invalid_grant")
    # A refresh token is bound the same way.
    body = await portal.grant()
    foreign = await portal.token(grant_type="refresh_token", refresh_token=body["refresh_token"],
                                 client_id=other.client_id, client_secret=other_secret)  # fmt: skip
    oauth_error(foreign, "invalid_grant", "Invalid refresh token")
    # The rightful app can still use both.
    assert (await portal.token(grant_type="authorization_code", code=code)).status_code == 200
    ok = await portal.token(grant_type="refresh_token", refresh_token=body["refresh_token"])
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("fields", "error", "description"),
    [
        ({}, "invalid_request", "The grant type was not specified in the request"),
        ({"grant_type": "password"}, "unsupported_grant_type",
         'Grant type "password" not supported'),
        ({"grant_type": "authorization_code"}, "invalid_request",
         'Missing parameter: "code" is required'),
        ({"grant_type": "refresh_token"}, "invalid_request", 'No "refresh_token" parameter found'),
        ({"grant_type": "authorization_code", "code": "nope"}, "invalid_grant", None),
        ({"grant_type": "refresh_token", "refresh_token": "x" * 5000}, "invalid_grant", None),
    ],
)  # fmt: skip
async def test_token_request_errors(
    portal: Portal, fields: dict[str, str], error: str, description: str | None
) -> None:
    oauth_error(await portal.token(**fields), error, description)
    oauth_error(await portal.token(post=True, **fields), error, description)


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"grant_type[]=refresh_token&client_id[x]=1", "application/x-www-form-urlencoded"),
        (b"[1, 2]", "application/json"),
        (b"{not json", "application/json"),
        (b'{"grant_type": "refresh_token", "refresh_token": "\\ud800", "client_id": "\\ud800",'
         b' "client_secret": "\\udfff"}', "application/json"),
        (b"--x\r\nbroken", "multipart/form-data; boundary=x"),
        (b"a=1&" * 20000, "application/x-www-form-urlencoded"),
        (b"\xff\xfe\x00", "text/plain"),
    ],
)  # fmt: skip
async def test_bad_token_requests_are_never_a_500(
    portal: Portal, content: bytes, content_type: str
) -> None:
    reply = await portal.http.post(
        "/oauth/token/", content=content, headers={"content-type": content_type}
    )
    assert reply.status_code == 400, reply.text
    assert reply.json()["error"] in ("invalid_request", "invalid_client", "invalid_grant")


# --- access tokens on /rest ---------------------------------------------------------


async def test_rest_refusals(portal: Portal) -> None:
    rest_error(
        await portal.http.post("/rest/crm.deal.list", json={}),
        401, "NO_AUTH_FOUND", "Wrong authorization data",
    )  # fmt: skip
    rest_error(
        await portal.http.post("/rest/crm.deal.list", json={"auth": ["x"]}),
        401, "NO_AUTH_FOUND", "Wrong authorization data",
    )  # fmt: skip
    rest_error(
        await portal.rest("crm.deal.list", "unknown-token"),
        401, "invalid_token", "The access token provided is invalid",
    )  # fmt: skip
    body = await portal.grant()
    # The header is read first, as Bitrix does; a bogus parameter does not matter.
    header_first = await portal.http.post(
        "/rest/crm.deal.list",
        json={"auth": "bogus"},
        headers={"authorization": f"bearer {body['access_token']}"},
    )
    assert header_first.status_code == 200
    # A webhook path is a webhook call: the token is not consulted.
    wrong_hook = await portal.http.post(
        "/rest/1/0000/crm.deal.list", json={"auth": body["access_token"]}
    )
    assert wrong_hook.json()["error"] == "INVALID_CREDENTIALS"


async def test_scopes_are_the_apps(portal: Portal) -> None:
    created, secret = await portal.new_app(scopes=["user"])
    portal.client_id, portal.secret = created.client_id, secret
    body = await portal.grant()
    assert body["scope"] == "user"
    reply = await portal.rest("crm.deal.list", body["access_token"])
    assert reply.status_code == 403 and reply.json() == {
        "error": "insufficient_scope",
        "error_description": (
            "The request requires higher privileges than provided by the access token"
        ),
    }


async def test_an_inactive_user_cannot_call(portal: Portal) -> None:
    async with transaction(portal.engine) as conn:
        user_id = await accounts.create_user(conn, login="ann", now=_now())
        code = await accounts.create_webhook(conn, user_id=user_id, scopes=["user"], now=_now())
    portal.webhook = code
    reply = await portal.approve(await portal.consent_page(), user="ann")
    assert reply.status_code == 302
    code_param = parse_qs(urlsplit(reply.headers["location"]).query)["code"][0]
    body = (await portal.token(grant_type="authorization_code", code=code_param)).json()
    assert body["user_id"] == user_id
    assert (await portal.rest("crm.deal.list", body["access_token"])).status_code == 200
    async with transaction(portal.engine) as conn:
        await conn.execute(update(users).where(users.c.id == user_id).values(active=False))
    rest_error(
        await portal.rest("crm.deal.list", body["access_token"]),
        401, "authorization_error", "Unable to authorize user",
    )  # fmt: skip
    refused = await portal.token(grant_type="refresh_token", refresh_token=body["refresh_token"])
    oauth_error(refused, "invalid_grant", "The user is not active")


async def test_a_revoked_app(portal: Portal) -> None:
    body = await portal.grant()
    code = await portal.code()
    async with transaction(portal.engine) as conn:
        await oauth.revoke_app(conn, portal.client_id, now=_now())
    rest_error(
        await portal.rest("crm.deal.list", body["access_token"]),
        401, "APPLICATION_NOT_FOUND", "Application not found",
    )  # fmt: skip
    refused = await portal.token(grant_type="refresh_token", refresh_token=body["refresh_token"])
    oauth_error(refused, "invalid_client", "The application is not installed")
    exchanged = await portal.token(grant_type="authorization_code", code=code)
    oauth_error(exchanged, "invalid_client")
    page = await portal.consent_page()
    assert page.status_code == 400 and "Application not found" in page.text
    assert "csrf_token" not in page.text


# --- the consent page ---------------------------------------------------------------


async def test_redirect_uri_must_be_the_registered_one(portal: Portal) -> None:
    for evil in ("https://evil.example/", REDIRECT + "/../x", REDIRECT.upper()):
        page = await portal.consent_page(redirect_uri=evil)
        assert page.status_code == 400 and "location" not in page.headers
        assert "does not match" in page.text and "csrf_token" not in page.text
    # A form edited to carry another redirect_uri is refused the same way.
    page = await portal.consent_page()
    reply = await portal.approve(page, redirect_uri="https://evil.example/")
    assert reply.status_code == 400 and "location" not in reply.headers


async def test_csrf(portal: Portal) -> None:
    page = await portal.consent_page()
    token = CSRF.search(page.text).group(1)  # type: ignore[union-attr]
    form = {"csrf_token": token, "client_id": portal.client_id, "state": "s",
            "user": "1", "webhook_code": portal.webhook}  # fmt: skip
    # Without the cookie (a cross-site POST does not carry a SameSite=Strict cookie).
    portal.http.cookies.clear()
    reply = await portal.http.post("/oauth/authorize/", data=form)
    assert reply.status_code == 403 and "location" not in reply.headers
    # With a cookie but a token that is not its own.
    page = await portal.consent_page()
    reply = await portal.http.post("/oauth/authorize/", data={**form, "csrf_token": "A" * 43})
    assert reply.status_code == 403 and "location" not in reply.headers
    reply = await portal.http.post("/oauth/authorize/", data={**form, "csrf_token": ""})
    assert reply.status_code == 403
    # The page's own token works.
    reply = await portal.approve(page)
    assert reply.status_code == 302


async def test_wrong_credentials_on_the_consent_page(portal: Portal) -> None:
    for user, code in (("1", "0" * 16), ("2", portal.webhook), ("", ""), ("admin", "x")):
        page = await portal.consent_page()
        reply = await portal.approve(page, user=user, webhook_code=code)
        assert reply.status_code == 403 and "location" not in reply.headers
        assert "wrong or revoked webhook code" in reply.text and "csrf_token" in reply.text
    # The login works as well as the id.
    reply = await portal.approve(await portal.consent_page(), user="admin")
    assert reply.status_code == 302


async def test_everything_shown_is_escaped(portal: Portal) -> None:
    hostile = "<script>alert(1)</script>\"'&"
    created, _ = await portal.new_app(scopes=["crm"], title=hostile,
                                      url="https://app.example.com/cb?a=<b>&c=\"d\"")  # fmt: skip
    portal.client_id = created.client_id
    state = '"><img src=x onerror=alert(1)>'
    page = await portal.consent_page(state=state)
    assert page.status_code == 200
    assert "<script>" not in page.text and "<img" not in page.text and 'c="d"' not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#x27;&amp;" in page.text
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in page.text
    reply = await portal.approve(page, state=state, user='"><b>x</b>', webhook_code="nope")
    assert reply.status_code == 403 and "<b>x</b>" not in reply.text
    reply = await portal.approve(page, state=state)
    assert parse_qs(urlsplit(reply.headers["location"]).query)["state"] == [state]


@pytest.mark.parametrize(
    "params",
    [
        {"client_id": ""},
        {"client_id": "local.nope.1"},
        {"client_id": "x" * 10000},
        {"state": "s" * 2001},
        {"response_type": "token"},
    ],
)
async def test_bad_consent_requests(portal: Portal, params: dict[str, str]) -> None:
    page = await portal.consent_page(**params)
    assert page.status_code == 400 and page.headers["content-type"].startswith("text/html")
    assert "csrf_token" not in page.text


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"", "application/x-www-form-urlencoded"),
        (b"client_id[]=1&csrf_token[x]=2", "application/x-www-form-urlencoded"),
        (b"\xff\xfe", "text/plain"),
        (b"a=" + b"x" * 20000, "application/x-www-form-urlencoded"),
    ],
)
async def test_bad_consent_posts_are_never_a_500(
    portal: Portal, content: bytes, content_type: str
) -> None:
    await portal.consent_page()  # a valid cookie, so the body itself is what is judged
    reply = await portal.http.post(
        "/oauth/authorize/", content=content, headers={"content-type": content_type}
    )
    assert 400 <= reply.status_code < 500 and "location" not in reply.headers


async def test_app_info_describes_the_application_to_its_token(portal: Portal) -> None:
    body = await portal.grant()
    reply = await portal.rest("app.info", body["access_token"])
    assert reply.status_code == 200, reply.text
    info = reply.json()["result"]
    assert list(info) == ["ID", "CODE", "VERSION", "STATUS", "INSTALLED", "PAYMENT_EXPIRED",
                          "DAYS", "LANGUAGE_ID", "LICENSE", "LICENSE_TYPE",
                          "LICENSE_FAMILY"]  # fmt: skip
    assert isinstance(info["ID"], int) and info["CODE"] == portal.client_id
    assert (info["STATUS"], info["INSTALLED"], info["LICENSE"]) == ("L", True, "en_selfhosted")
    hook = await portal.http.post(f"/rest/1/{portal.webhook}/app.info", json={})
    assert hook.json()["result"] == {"SCOPE": ["crm"], "LICENSE": "en_selfhosted"}
