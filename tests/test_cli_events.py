"""``relatecrm events list | attempts | replay`` through typer's CliRunner, on deliveries a
real worker made to a real receiver, on both backends (reliability §5.1 W10)."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from relatecrm.cli import app
from relatecrm.db import transaction
from relatecrm.events import signing
from relatecrm.events.models import event_handlers
from tests.events.conftest import add_hook, running_worker
from tests.events.receiver import Received, Receiver, Reply
from tests.events.test_operations import (
    all_deliveries,
    base_time,
    fast,
    record_events,
    settle,
)

Run = Callable[..., Awaitable[tuple[int, str, str]]]
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def cli(db: AsyncEngine) -> Run:
    """The command in a thread: it runs its own event loop, as from a shell."""
    env = {"RELATECRM_DATABASE_URL": db.url.render_as_string(hide_password=False)}
    runner = CliRunner()

    async def run(*args: str) -> tuple[int, str, str]:
        result = await asyncio.to_thread(runner.invoke, app, list(args), env=env)
        return result.exit_code, result.stdout, result.stderr

    return run


def iso(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _script(request: Received) -> Reply:
    """?ok answers 200; anything else 503 with a long two-line body."""
    if request.path.endswith("?ok"):
        return Reply(body=b"fine")
    return Reply(status=503, body=b"down\n" + b"x" * 300)


async def test_list_and_attempts_output(db: AsyncEngine) -> None:
    """One line per delivery, newest first, each filter narrowing (6 rows: 3 events x 2
    handlers); ``attempts`` prints both tries of a failed delivery with the response cut
    to 200 characters on one line."""
    run, base = cli(db), base_time()
    async with Receiver(_script) as receiver:
        [good] = await add_hook(db, receiver.url + "?ok", ["onCrmDealAdd"])
        [bad] = await add_hook(db, receiver.url + "?down", ["onCrmDealAdd"])
        events = await record_events(db, 3, base)
        async with running_worker(db, fast(db, delivery_retry_schedule="0.1")):
            stored = await settle(db)
    assert len(receiver.requests) == 3 + 6

    code, out, err = await run("events", "list")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert [int(line.split("\t")[0]) for line in lines] == [r["id"] for r in reversed(stored)]
    newest_bad = next(r for r in reversed(stored) if r["handler_id"] == bad.id)
    failed_line = next(line for line in lines if line.startswith(f"{newest_bad['id']}\t"))
    assert re.fullmatch(
        rf"{newest_bad['id']}\toutbox={events[2]}\tonCrmDealAdd\tdeal:3\thandler={bad.id}\t"
        rf"failed\tattempts=2\tfinished={STAMP}\tHTTP 503",
        failed_line,
    ), failed_line
    ok_line = next(line for line in lines if f"\thandler={good.id}\t" in line)
    assert re.search(rf"\tdelivered\tattempts=1\tfinished={STAMP}\tHTTP 200$", ok_line), ok_line

    async def listed(*args: str) -> list[str]:
        code, out, err = await run("events", "list", *args)
        assert (code, err) == (0, ""), err
        return out.splitlines()

    assert len(await listed("--status", "failed")) == 3
    assert all("\tfailed\t" in line for line in await listed("--status", "failed"))
    assert len(await listed("--handler", str(good.id))) == 3
    assert len(await listed("--event", "ONCRMDEALADD")) == 6
    assert len(await listed("--limit", "2")) == 2
    window = await listed("--since", iso(base + dt.timedelta(minutes=2)),
                          "--until", iso(base + dt.timedelta(minutes=3)))  # fmt: skip
    assert {line.split("\t")[3] for line in window} == {"deal:2"} and len(window) == 2

    code, out, err = await run("events", "attempts", str(newest_bad["id"]))
    assert (code, err) == (0, "")
    tries = out.splitlines()
    assert len(tries) == 2, out
    preview = "down\\n" + "x" * 195  # 200 characters, the newline escaped
    for line in tries:
        assert re.fullmatch(
            rf"\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z\t\d+ms\thttp_error\t503\t127\.0\.0\.1"
            rf"\t-\t{re.escape(preview)}",
            line,
        ), line
    code, out, _ = await run("events", "attempts", str(stored[0]["id"]))
    assert re.fullmatch(r"\S+\t\d+ms\tsuccess\t200\t127\.0\.0\.1\t-\tfine\n", out), out


async def test_w10_replay_commands(db: AsyncEngine) -> None:
    """W10 through the CLI: ``--delivery`` (1), ``--event-id`` + ``--handler`` (1) and a
    time range of one handler's dead letters (``--status failed``: events 3 and 4
    failed, the range holds 3) queue 3 new rows with ``replay_of``; the worker sends
    each once more with its original webhook-id and a new timestamp and signature."""
    run, base = cli(db), base_time()
    failing = {"on": True}

    def script(request: Received) -> Reply:
        deal = dict(parse_qsl(request.body.decode()))["data[FIELDS][ID]"]
        return Reply(status=500) if failing["on"] and deal in ("3", "4") else Reply()

    async with Receiver(script) as receiver:
        [one] = await add_hook(db, receiver.url + "?1", ["onCrmDealAdd"])
        [two] = await add_hook(db, receiver.url + "?2", ["onCrmDealAdd"])
        events = await record_events(db, 4, base)
        settings = fast(db, delivery_retry_schedule="")
        async with running_worker(db, settings):
            before = await settle(db)
        assert Counter(r["status"] for r in before) == {"delivered": 4, "failed": 4}
        failing["on"] = False
        latest = max(int(r.headers["webhook-timestamp"]) for r in receiver.requests)
        while int(time.time()) <= latest:
            await asyncio.sleep(0.05)

        first = before[0]  # event 1 to handler one
        code, out, err = await run("events", "replay", "--delivery", str(first["id"]))
        assert (code, out, err) == (0, "1 delivery queued.\n", "")
        code, out, _ = await run("events", "replay", "--event-id", str(events[1]),
                                 "--handler", str(two.id))  # fmt: skip
        assert (code, out) == (0, "1 delivery queued.\n")
        code, out, _ = await run("events", "replay", "--since", iso(base),
                                 "--until", iso(base + dt.timedelta(minutes=4)),
                                 "--handler", str(one.id), "--status", "failed")  # fmt: skip
        assert (code, out) == (0, "1 delivery queued.\n")  # event 3 (event 4 is at minute 4)
        queued = (await all_deliveries(db))[len(before) :]
        assert [(r["outbox_id"], r["handler_id"], r["status"]) for r in queued] == [
            (events[0], one.id, "pending"), (events[1], two.id, "pending"),
            (events[2], one.id, "pending"),
        ]  # fmt: skip
        by_pair = {(r["outbox_id"], r["handler_id"]): r["id"] for r in before}
        assert [r["replay_of"] for r in queued] == [
            by_pair[events[0], one.id],
            by_pair[events[1], two.id],
            by_pair[events[2], one.id],
        ]
        code, out, _ = await run("events", "list", "--status", "pending")
        assert [line.split("\t")[-1] for line in out.splitlines()] == [
            f"replay_of={r['replay_of']}" for r in reversed(queued)
        ]
        async with running_worker(db, settings):
            after = await settle(db)
    assert after[: len(before)] == before  # history untouched
    assert [r["status"] for r in after[len(before) :]] == ["delivered"] * 3
    replayed = receiver.requests[len(before) :]
    assert sorted(r.headers["webhook-id"] for r in replayed) == sorted(
        signing.message_id(event, handler.id)
        for event, handler in ((events[0], one), (events[1], two), (events[2], one))
    )
    for request in replayed:
        handler = one if request.path.endswith("?1") else two
        assert handler.secret and int(request.headers["webhook-timestamp"]) > latest
        signing.verify(handler.secret, request.body, request.headers)


async def test_replay_errors_write_nothing(db: AsyncEngine) -> None:
    """Bad dates, unknown ids, a range over --max, missing or mixed selectors and a
    disabled handler: message on stderr, exit 1, no row written; --enable then works."""
    run, base = cli(db), base_time()
    async with Receiver(lambda _r: Reply(status=410)) as receiver:
        [hook] = await add_hook(db, receiver.url, ["onCrmDealAdd"])
        events = await record_events(db, 3, base)
        async with running_worker(db, fast(db)):
            before = await settle(db)
    assert [r["status"] for r in before] == ["failed"] * 3  # 410: the handler is disabled

    cases: list[tuple[list[str], str]] = [
        (["list", "--since", "yesterday"], "Bad --since 'yesterday': use ISO 8601"),
        (["list", "--until", "2026-13-01"], "Bad --until '2026-13-01'"),
        (["attempts", "999999"], "Delivery 999999 not found."),
        (["replay", "--delivery", "999999"], "Delivery 999999 not found."),
        (["replay", "--since", "2026-11-31"], "Bad --since '2026-11-31'"),
        (["replay"], "Choose what to replay"),
        (["replay", "--delivery", str(before[0]["id"]), "--since", iso(base)], "Choose what"),
        (["replay", "--since", iso(base), "--max", "2", "--enable"], "More than 2 events match"),
        (["replay", "--event-id", str(events[0])], f"handler {hook.id}: The handler answered 410"),
    ]
    for args, message in cases:
        code, out, err = await run("events", *args)
        assert (code, out) == (1, ""), (args, code, out, err)
        assert message in err, (args, err)
    assert "Pass --enable" in err  # the disabled handler's refusal says what to do
    assert await all_deliveries(db) == before
    async with transaction(db, write=False) as conn:
        disabled = await conn.scalar(
            select(event_handlers.c.disabled_at).where(event_handlers.c.id == hook.id)
        )
    assert disabled is not None, "a refused --enable must not switch the handler on either"

    code, out, err = await run("events", "replay", "--since", iso(base), "--enable")
    assert (code, err) == (0, "")
    assert out == f"Handler {hook.id} enabled again.\n3 deliveries queued.\n"
    code, out, _ = await run("events", "replay", "--since", iso(base))
    assert (code, out) == (0, "0 deliveries queued.\n3 skipped: already pending or sending.\n")
    async with transaction(db, write=False) as conn:
        handler = (
            await conn.execute(select(event_handlers).where(event_handlers.c.id == hook.id))
        ).one()
    assert (handler.disabled_at, handler.disabled_reason, handler.failing_since) == (None,) * 3
    assert len(await all_deliveries(db)) == 6


def test_every_events_option_names_its_environment_variable() -> None:
    runner = CliRunner()
    for command in (["events", "list"], ["events", "attempts"], ["events", "replay"]):
        help_text = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "300"}).stdout
        options = {o for o in re.findall(r"--([a-z-]+)", help_text) if not o.startswith("no-")}
        options -= {"help"}
        assert help_text.count("RELATECRM_") >= len(options), (command, help_text)
