"""b24pysdk as an OAuth application, unchanged, against a live server over TLS.

The SDK exchanges the code and refreshes through a hard-coded Bitrix host
(``BitrixOAuthRequester._OAUTH_TOKEN_URL``, spec §7.2); the test points that one
constant at the server under test, which is what DNS or a proxy would do in real use.
Expiry needs no sleep: the first pair is minted with a clock an hour behind, through
the same domain function the token endpoint uses.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import re
import ssl
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from b24pysdk import BitrixApp, BitrixToken, Client
from b24pysdk.api.requesters import BitrixOAuthRequester
from b24pysdk.credentials import RenewedOAuth

from relatecrm.accounts import oauth
from relatecrm.db import create_engine, transaction
from tests.acceptance.conftest import RunningServer

pytestmark = pytest.mark.acceptance
REDIRECT = "https://app.example.com/callback"


async def _register(database_url: str) -> tuple[str, str]:
    engine = create_engine(database_url)
    try:
        async with transaction(engine) as conn:
            created, secret = await oauth.create_app(
                conn, title="SDK app", scopes=["crm"], redirect_url=REDIRECT,
                now=dt.datetime.now(dt.UTC),
            )  # fmt: skip
        return created.client_id, secret
    finally:
        await engine.dispose()


async def _stale_pair(
    database_url: str, client_id: str, secret: str, code: str
) -> oauth.TokenGrant:
    """Exchange ``code`` as if an hour ago: the access token is expired on arrival."""
    engine = create_engine(database_url)
    try:
        async with transaction(engine) as conn:
            result = await oauth.exchange_code(
                conn, client_id=client_id, client_secret=secret, code=code,
                now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1), lifetimes=oauth.Lifetimes(),
            )  # fmt: skip
    finally:
        await engine.dispose()
    assert isinstance(result, oauth.TokenGrant)
    return result


def _consent(server: RunningServer, client_id: str) -> str:
    """Approve on the consent page as user 1, the way a browser would; the code."""
    context = ssl.create_default_context(cafile=str(server.ca_pem))
    with httpx.Client(base_url=server.public_url, verify=context) as browser:
        page = browser.get("/oauth/authorize/", params={"client_id": client_id, "state": "s"})
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert page.status_code == 200 and csrf, page.text
        reply = browser.post(
            "/oauth/authorize/",
            data={"csrf_token": csrf.group(1), "client_id": client_id, "state": "s",
                  "user": str(server.user_id), "webhook_code": server.webhook_code},
        )  # fmt: skip
    assert reply.status_code == 302, reply.text
    return parse_qs(urlsplit(reply.headers["location"]).query)["code"][0]


@pytest.fixture
def sdk(relatecrm_server: RunningServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(relatecrm_server.ca_pem))
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    monkeypatch.setattr(
        BitrixOAuthRequester, "_OAUTH_TOKEN_URL", f"{relatecrm_server.public_url}/oauth/token/"
    )
    yield
    gc.collect()  # SDK exceptions keep idle TLS connections alive in reference cycles


def test_sdk_exchanges_a_code_and_calls_with_the_token(
    relatecrm_server: RunningServer, empty_database_url: str, sdk: None
) -> None:
    client_id, secret = asyncio.run(_register(empty_database_url))
    app = BitrixApp(client_id=client_id, client_secret=secret)
    renewed = app.get_oauth_token(_consent(relatecrm_server, client_id))
    assert isinstance(renewed, RenewedOAuth)  # every field the SDK requires is there
    assert renewed.user_id == relatecrm_server.user_id and renewed.scope == ["crm"]
    assert renewed.client_endpoint == f"{relatecrm_server.public_url}/rest/"
    # from_oauth would take the host without its port (urlparse().hostname), so build it.
    token = BitrixToken(
        domain=relatecrm_server.domain,
        auth_token=renewed.oauth_token.access_token,
        refresh_token=renewed.oauth_token.refresh_token,
        expires=renewed.oauth_token.expires,
        expires_in=renewed.oauth_token.expires_in,
        bitrix_app=app,
    )
    client = Client(token, timeout=60)
    deal_id = client.crm.deal.add(fields={"TITLE": "via OAuth"}).response.result
    deals = client.crm.deal.list(select=["ID", "TITLE", "CREATED_BY_ID"]).response.result
    assert [(int(d["ID"]), d["TITLE"], d["CREATED_BY_ID"]) for d in deals] == [
        (int(deal_id), "via OAuth", str(relatecrm_server.user_id))
    ]


def test_sdk_refreshes_by_itself_on_expired_token(
    relatecrm_server: RunningServer, empty_database_url: str, sdk: None
) -> None:
    client_id, secret = asyncio.run(_register(empty_database_url))
    code = _consent(relatecrm_server, client_id)
    stale = asyncio.run(_stale_pair(empty_database_url, client_id, secret, code))
    # No `expires` given: the SDK cannot know, the server's expired_token tells it.
    token = BitrixToken(
        domain=relatecrm_server.domain,
        auth_token=stale.access_token,
        refresh_token=stale.refresh_token,
        bitrix_app=BitrixApp(client_id=client_id, client_secret=secret),
    )
    result = Client(token, timeout=60).crm.deal.list().response.result
    assert result == []
    assert token.auth_token != stale.access_token
    assert token.refresh_token != stale.refresh_token
