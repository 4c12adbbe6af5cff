"""OAuth applications in the accounts domain (``accounts.oauth``) and the ``app`` commands.

The domain functions take ``now``; these tests move it instead of sleeping.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from relatecrm.accounts import oauth
from relatecrm.accounts.models import oauth_apps, oauth_codes, oauth_tokens
from relatecrm.accounts.oauth import AppPrincipal, GrantError, Lifetimes, TokenError, TokenGrant
from relatecrm.cli import app as cli
from relatecrm.db import transaction
from relatecrm.errors import InvalidParameter, NotFound

T0 = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
LIFE = Lifetimes()
URL = "https://app.example.com/cb"


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


async def new_app(engine: AsyncEngine, scopes: tuple[str, ...] = ("crm",)) -> tuple[oauth.App, str]:
    async with transaction(engine) as conn:
        return await oauth.create_app(conn, title="App", scopes=scopes, redirect_url=URL, now=T0)


async def code_for(engine: AsyncEngine, app: oauth.App, now: dt.datetime = T0) -> str:
    async with transaction(engine) as conn:
        return await oauth.issue_code(conn, app, user_id=1, now=now, lifetimes=LIFE)


async def exchange(
    engine: AsyncEngine, app: oauth.App, secret: str, code: str, now: dt.datetime = T0
) -> TokenGrant | GrantError:
    async with transaction(engine) as conn:
        return await oauth.exchange_code(
            conn, client_id=app.client_id, client_secret=secret, code=code, now=now, lifetimes=LIFE
        )


async def refresh(
    engine: AsyncEngine, app: oauth.App, secret: str, token: str, now: dt.datetime = T0
) -> TokenGrant | GrantError:
    async with transaction(engine) as conn:
        return await oauth.refresh(
            conn, client_id=app.client_id, client_secret=secret, refresh_token=token, now=now,
            lifetimes=LIFE,
        )  # fmt: skip


async def authenticate(engine: AsyncEngine, token: str, now: dt.datetime) -> Any:
    async with transaction(engine, write=False) as conn:
        return await oauth.authenticate_token(conn, token, now)


async def grant(engine: AsyncEngine) -> tuple[oauth.App, str, TokenGrant]:
    app, secret = await new_app(engine)
    result = await exchange(engine, app, secret, await code_for(engine, app))
    assert isinstance(result, TokenGrant)
    return app, secret, result


# --- registration ---------------------------------------------------------------------


async def test_create_app_stores_only_a_hash(db: AsyncEngine) -> None:
    app, secret = await new_app(db, ("CRM", "user, crm", " task "))
    assert re.fullmatch(r"local\.[0-9a-f]{14}\.\d{8}", app.client_id)
    assert re.fullmatch(r"[A-Za-z0-9]{50}", secret)
    assert app.scopes == ("crm", "task", "user") and not app.revoked
    async with db.connect() as conn:
        row = (await conn.execute(select(oauth_apps))).one()
    assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(tuple(row))


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "/relative", "https://", "https://a.example/#frag", "ftp://a.example/",
     "https://user:pw@a.example/", "https://a.example/ x", "https://a.example/\nx", "https://[::1",
     "https://a.example:0/", "data:text/html,hi", "https://a.example/" + "x" * 2000],
)  # fmt: skip
async def test_redirect_urls_are_checked(db: AsyncEngine, url: str) -> None:
    async with transaction(db) as conn:
        with pytest.raises(InvalidParameter):
            await oauth.create_app(conn, title="A", scopes=["crm"], redirect_url=url, now=T0)


@pytest.mark.parametrize(
    ("title", "scopes"), [("", ["crm"]), ("x" * 256, ["crm"]), ("A", []), ("A", [" , "]),
                          ("A", ["crm;drop"]), ("A", ["Ünïcode"])],
)  # fmt: skip
async def test_titles_and_scopes_are_checked(
    db: AsyncEngine, title: str, scopes: list[str]
) -> None:
    async with transaction(db) as conn:
        with pytest.raises(InvalidParameter):
            await oauth.create_app(conn, title=title, scopes=scopes, redirect_url=URL, now=T0)


async def test_list_find_and_revoke(db: AsyncEngine) -> None:
    first, _ = await new_app(db)
    second, _ = await new_app(db)
    async with transaction(db) as conn:
        assert [a.client_id for a in await oauth.list_apps(conn)] == [
            first.client_id,
            second.client_id,
        ]
        assert await oauth.find_app(conn, first.client_id) == first
        assert await oauth.find_app(conn, "") is None
        assert (await oauth.revoke_app(conn, str(first.id), now=T0)).revoked
        second = await oauth.revoke_app(conn, second.client_id, now=T0)
        assert second.revoked
        for ref in (str(first.id), "nope", "99999999999"):
            with pytest.raises(NotFound):
                await oauth.revoke_app(conn, ref, now=T0)
        with pytest.raises(NotFound):
            await oauth.issue_code(conn, second, user_id=1, now=T0, lifetimes=LIFE)


# --- codes, tokens, clock -------------------------------------------------------------


async def test_token_lifetimes_follow_the_clock(db: AsyncEngine) -> None:
    app, secret, tokens = await grant(db)
    assert tokens.expires == at(3600) and tokens.expires_in == 3600 and tokens.user_id == 1
    principal = await authenticate(db, tokens.access_token, at(3599))
    assert isinstance(principal, AppPrincipal)
    assert (principal.user_id, principal.scopes, principal.client_id) == (1, {"crm"}, app.client_id)
    assert principal.is_admin
    assert await authenticate(db, tokens.access_token, at(3600)) is TokenError.EXPIRED
    late = await refresh(db, app, secret, tokens.refresh_token, at(180 * 86400))
    assert late is GrantError.EXPIRED_REFRESH
    renewed = await refresh(db, app, secret, tokens.refresh_token, at(180 * 86400 - 1))
    assert isinstance(renewed, TokenGrant) and renewed.expires == at(180 * 86400 - 1 + 3600)


async def test_codes_expire_and_are_single_use(db: AsyncEngine) -> None:
    app, secret = await new_app(db)
    code = await code_for(db, app)
    assert await exchange(db, app, secret, code, at(30)) is GrantError.EXPIRED_CODE
    assert isinstance(await exchange(db, app, secret, code, at(29)), TokenGrant)
    assert await exchange(db, app, secret, code, at(29)) is GrantError.INVALID_CODE
    assert await exchange(db, app, secret, "f" * 32) is GrantError.INVALID_CODE
    assert await exchange(db, app, secret, "") is GrantError.INVALID_CODE
    assert await exchange(db, app, "wrong", code) is GrantError.INVALID_CLIENT


async def test_a_replayed_code_revokes_the_whole_chain(db: AsyncEngine) -> None:
    app, secret = await new_app(db)
    code = await code_for(db, app)
    first = await exchange(db, app, secret, code)
    assert isinstance(first, TokenGrant)
    second = await refresh(db, app, secret, first.refresh_token, at(10))
    assert isinstance(second, TokenGrant)
    # Replayed after it expired too: still a replay.
    assert await exchange(db, app, secret, code, at(60)) is GrantError.INVALID_CODE
    assert await authenticate(db, second.access_token, at(61)) is TokenError.INVALID
    assert (
        await refresh(db, app, secret, second.refresh_token, at(22)) is GrantError.INVALID_REFRESH
    )


async def test_nothing_secret_is_stored_in_clear(db: AsyncEngine) -> None:
    app, secret, tokens = await grant(db)
    code = await code_for(db, app)
    async with db.connect() as conn:
        stored = str([tuple(row) for table in (oauth_apps, oauth_codes, oauth_tokens)
                      for row in await conn.execute(select(table))])  # fmt: skip
    for clear in (secret, code, tokens.access_token, tokens.refresh_token):
        assert clear not in stored
        assert hashlib.sha256(clear.encode()).hexdigest() in stored


async def test_concurrent_refreshes_have_one_winner(db: AsyncEngine) -> None:
    app, secret, tokens = await grant(db)
    results = await asyncio.gather(
        *(refresh(db, app, secret, tokens.refresh_token, at(5)) for _ in range(4))
    )
    winners = [r for r in results if isinstance(r, TokenGrant)]
    assert len(winners) == 1
    assert all(r is GrantError.INVALID_REFRESH for r in results if r not in winners)
    assert isinstance(await authenticate(db, winners[0].access_token, at(6)), AppPrincipal)


async def test_old_rows_are_purged(db: AsyncEngine) -> None:
    app, secret, tokens = await grant(db)
    await code_for(db, app)  # never exchanged
    later = at(182 * 86400)
    await code_for(db, app, later)  # a consent purges what expired a day before
    async with db.connect() as conn:
        assert len((await conn.execute(select(oauth_codes))).all()) == 1
        assert (await conn.execute(select(oauth_tokens))).all() == []
    assert await authenticate(db, tokens.access_token, later) is TokenError.INVALID


async def test_odd_tokens_are_invalid(db: AsyncEngine) -> None:
    for token in ("", "x" * 513, "\ud800", "\x00"):
        assert await authenticate(db, token, T0) is TokenError.INVALID


# --- the CLI --------------------------------------------------------------------------

CREATED = re.compile(
    r"Client ID: (local\.[0-9a-f]{14}\.\d{8})\n"
    r"Client secret \(shown once\): ([A-Za-z0-9]{50})\n"
    r"Authorization URL: https://crm\.example\.com/oauth/authorize/\?client_id=\1\n"
)


@pytest.fixture
def run(empty_database_url: str):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    env = {
        "RELATECRM_DATABASE_URL": empty_database_url,
        "RELATECRM_PUBLIC_URL": "https://crm.example.com",
    }

    def invoke(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(cli, list(args), env=env)
        return result.exit_code, result.stdout, result.stderr

    return invoke


def test_app_lifecycle(run) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run("app", "create", "--title", "Sales", "--scope", "crm", "--scope", "user",
                       "--redirect-url", URL)  # fmt: skip
    match = CREATED.fullmatch(out)
    assert code == 0 and match, out
    client_id, secret = match.groups()
    code, out, _ = run("app", "list")
    assert code == 0 and out.startswith(f"1\t{client_id}\tscopes=crm,user\tactive\t")
    assert out.rstrip().endswith(f"\t{URL}\tSales") and secret not in out
    code, out, _ = run("app", "revoke", client_id)
    assert code == 0 and out.strip() == f"Application {client_id} revoked."
    assert "\trevoked\t" in run("app", "list")[1]
    code, _, err = run("app", "revoke", "1")
    assert code == 1 and "already revoked" in err


def test_app_create_refuses_bad_input(run) -> None:  # type: ignore[no-untyped-def]
    code, out, err = run("app", "create", "--title", "A", "--scope", "crm",
                         "--redirect-url", "javascript:alert(1)")  # fmt: skip
    assert code == 1 and out == "" and "redirect URL" in err
    code, out, err = run("app", "create", "--title", "A", "--scope", "c r m", "--redirect-url", URL)
    assert code == 1 and out == "" and "Invalid scope" in err
    assert run("app", "list")[1] == ""


def test_app_options_name_their_environment_variables() -> None:
    runner = CliRunner()
    for command in (["app", "create"], ["app", "list"], ["app", "revoke"]):
        help_text = runner.invoke(cli, [*command, "--help"], env={"COLUMNS": "300"}).stdout
        options = {o for o in re.findall(r"--([a-z-]+)", help_text) if not o.startswith("no-")}
        options -= {"help"}
        assert options, command
        assert help_text.count("RELATECRM_") >= len(options), (command, help_text)
