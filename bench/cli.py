"""``python -m bench``: one command from an empty machine state to a results table.

The run is: fresh database, migrations, user 1 and a webhook, N deals, SQL capture
(in-process), server subprocess, interleaved timing of ours/floor/raw, query
plans, table and JSON. Whatever happens (an error, Ctrl-C, SIGTERM) the server is
stopped and the database removed before the command returns, because every step
that creates something is a ``with`` block around the steps after it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import signal
import sys
import tempfile
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import httpx

from bench import customfields, explain, workload
from bench.capture import Request, capture
from bench.database import open_database
from bench.raw import AsyncpgReplayer, count_raw_calls, open_replayers
from bench.report import code_state, machine, summary, write_json
from bench.seed import fill
from bench.server import Server

RESULTS = Path(__file__).resolve().parent / "results"
MAX_DEALS = 1_000_000


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Latency of crm.deal.* on a fresh, filled database: ours vs floor vs raw.",
    )
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("RELATECRM_BENCH_PG_URL"),
        help="PostgreSQL server to create the throwaway database on (any existing database "
        "for the connection, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test); "
        "default $RELATECRM_BENCH_PG_URL. Only 127.0.0.1/localhost is accepted.",
    )
    parser.add_argument("--deals", type=int, default=100_000, help="deals to insert (<= 1M)")
    parser.add_argument("--iterations", type=int, default=300, help="timed calls per variant")
    parser.add_argument("--warmup", type=int, default=30, help="untimed calls per variant first")
    parser.add_argument("--seed", type=int, default=1, help="random seed for data and ids")
    parser.add_argument("--chunk", type=int, default=10_000, help="rows per INSERT transaction")
    parser.add_argument("--results-dir", type=Path, default=RESULTS, help="where JSON goes")
    parser.add_argument("--plain", action="store_true", help="progress as lines, not a bar")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument(
        "--custom-fields",
        action="store_true",
        help="also create two custom fields with a value per deal and time crm.deal.list "
        "filtered on them (bench/customfields.py)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.deals <= MAX_DEALS:
        parser.error(f"--deals must be between 1 and {MAX_DEALS:,}")
    if args.iterations < 1 or args.warmup < 0 or args.chunk < 1:
        parser.error("--iterations and --chunk must be positive, --warmup not negative")
    return args


def others_running(samples: int = 20) -> float:
    """Runnable processes besides this one, averaged over ~1s (``procs_running``).

    The load average trails by minutes and counts the previous benchmark too; this
    says whether someone else is using the CPUs right now.
    """
    total = 0
    for _ in range(samples):
        try:
            with open("/proc/stat") as stat:
                line = next(x for x in stat if x.startswith("procs_running"))
        except (OSError, StopIteration):
            return 0.0
        total += int(line.split()[1]) - 1
        time.sleep(0.05)
    return max(0.0, total / samples)


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    task = asyncio.current_task()
    assert task is not None
    # SIGTERM cancels the run like Ctrl-C does, so every cleanup block still runs.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    started = time.perf_counter()
    code_before = code_state()
    load_before = os.getloadavg()
    busy = others_running()
    if busy > 0.3:
        say(f"warning: ~{busy:.1f} other processes are using the CPU: expect noisy numbers")
    async with open_database(args.backend, args.database_url, args.keep) as db:
        say(f"{db.backend}: fresh database migrated; inserting {args.deals:,} deals")
        seed_seconds = await fill(
            db.url, args.deals, seed=args.seed, chunk=args.chunk, plain=args.plain
        )
        say(f"inserted in {seed_seconds:.1f}s")
        requests = workload.requests(args.deals)
        seeded = None
        if args.custom_fields:
            say(f"custom fields: inserting {2 * args.deals:,} values")
            seeded = await customfields.fill(
                db.url, args.deals, seed=args.seed, chunk=args.chunk, plain=args.plain
            )
            say(
                f"inserted in {seeded.seconds:.1f}s; filtering on {customfields.INT_FIELD}="
                f"{seeded.int_value} ({seeded.int_matches:,} deals) and "
                f"{customfields.ENUM_FIELD}={seeded.enum_item_id} ({seeded.enum_item}, "
                f"{seeded.enum_matches:,} deals)"
            )
            requests += customfields.requests(seeded)
        say("capturing the SQL of each operation")
        templates = await capture(db.url, db.user_id, db.webhook_code, requests)
        raw_calls = await count_raw_calls(db.backend, db.raw_target, templates)
        replayers = await open_replayers(db.backend, db.raw_target)
        primary = replayers[0]
        pg_version = None
        try:
            if isinstance(primary, AsyncpgReplayer):
                pg_version = await primary.server_version()
            results = await _measure(args, db, requests, templates, replayers)
        finally:
            for replayer in replayers:
                await replayer.close()
        list_template = next(t for t in templates if t.operation == "crm.deal.list (count)")
        plans = await explain.plans(db.backend, db.raw_target, list_template)
        custom_plans: dict[str, str] = {}
        for template in filter(customfields.is_custom, templates):
            custom_plans.update(
                await explain.plans_of(
                    db.backend, db.raw_target, customfields.value_statements(template)
                )
            )
    counts = {
        t.operation: sum(not s.sql.upper().startswith("BEGIN") for s in t.statements)
        for t in templates
    }
    run_info = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "backend": args.backend,
        "deals": args.deals,
        "iterations": args.iterations,
        "warmup": args.warmup,
        "seed": args.seed,
        "seed_seconds": round(seed_seconds, 2),
        "total_seconds": round(time.perf_counter() - started, 2),
        "machine": machine(pg_version),
        "code_before": code_before,
        "code_after": code_state(),
        "loadavg_before": [round(x, 2) for x in load_before],
        "others_running_before": round(busy, 2),
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "raw_drivers": [r.name for r in replayers],
        "statements": counts,
        "driver_calls": {
            t.operation: {"ours": t.driver_calls, "raw": raw_calls.get(t.operation)}
            for t in templates
        },
    }
    if seeded is not None:
        run_info["custom_fields"] = {
            **seeded.as_json(),
            "verdicts": {k: customfields.plan_verdict(v) for k, v in custom_plans.items()},
        }
    plans.update(custom_plans)
    print(summary(run_info, results, plans, [r.name for r in replayers]))
    if seeded is not None:
        print(customfields.comparison(results))
        print(customfields.verdicts(run_info["custom_fields"]["verdicts"]))
    if run_info["code_before"] != run_info["code_after"]:
        say("warning: relatecrm/ changed during the run; the numbers may mix two versions")
    path = write_json(args.results_dir, run_info, results, templates, plans)
    say(f"done in {run_info['total_seconds']}s; results in {path}")
    return run_info


async def _measure(
    args: argparse.Namespace,
    db: Any,
    requests: list[Request],
    templates: list[Any],
    replayers: list[Any],
) -> list[workload.Measured]:
    with tempfile.TemporaryDirectory(prefix="relatecrm-bench-log-") as logs:
        say("starting the server")
        with (
            Server(db.url, Path(logs) / "server.log") as server,
            httpx.Client(base_url=server.base_url, timeout=60, trust_env=False) as client,
        ):
            loop = workload.Loop(
                client, f"/rest/{db.user_id}/{db.webhook_code}/", args.iterations, args.warmup
            )
            results = []
            try:
                for request, template in zip(requests, templates, strict=True):
                    say(f"measuring {request.operation}")
                    results.append(await loop.measure(request, template, replayers, args.deals))
                if isinstance(replayers[0], AsyncpgReplayer):
                    results.append(await loop.measure_ping(replayers[0].ping))
                results.append(workload.measure_client(server.base_url, client, args.iterations))
            except Exception:
                # The log lives in a temporary directory: show it before it is gone.
                print(f"server log (tail):\n{server.log()}", file=sys.stderr)
                raise
            say("stopping the server")
    return results


def _event_loop_runner(main: Coroutine[Any, Any, Any]) -> Any:
    """uvloop when installed, because uvicorn's server picks it too (fair raw numbers)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        _event_loop_runner(run(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("interrupted; server stopped and database removed", file=sys.stderr)
        return 130
    return 0
