"""The results table on stdout, and the same run as JSON in ``bench/results/``.

The JSON keeps everything needed to compare two runs later without rerunning
either: the machine, the versions, the arguments, every statement the server ran
per operation, all samples, and the query plans.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import platform
import sqlite3
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import orjson

from bench.capture import Template
from bench.workload import Measured

PACKAGES = [
    "sqlalchemy", "asyncpg", "aiosqlite", "uvicorn", "uvloop", "httptools", "starlette",
    "fastapi", "orjson", "httpx",
]  # fmt: skip


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _git_revision() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{'+dirty' if dirty else ''}" if head else "unknown"


def code_state() -> dict[str, str]:
    """The git revision and a hash of the ``relatecrm`` sources as they are right now.

    Others edit the working tree while benchmarks run; the revision alone cannot say
    which code was measured, the hash of the files can (and differs if they moved).
    """
    root = Path(__file__).resolve().parents[1] / "relatecrm"
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return {"git": _git_revision(), "sources_sha256": digest.hexdigest()[:16]}


def machine(pg_version: str | None) -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "cpu": _cpu_model(),
        "nproc": os.cpu_count(),
        "memory": _memory(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": pg_version,
        "packages": versions,
    }


def _us(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def table(results: list[Measured], primary: str, extras: list[str], counts: dict[str, int]) -> str:
    """Medians in µs: ours, floor, raw and the two ratios the brief asks for."""
    head = ["operation", "SQL", "ours p50", "ours p95", "floor p50", f"raw p50 ({primary})"]
    head += [f"{name} p50" for name in extras]
    head += ["ours/floor", "ours/raw", "ours-floor-raw"]
    lines = [head]
    for measured in results:
        if measured.operation.startswith("client check"):
            continue
        stats = measured.stats()
        ours, floor, raw = stats.get("ours"), stats.get("floor"), stats.get(primary)
        row = [measured.operation, str(counts.get(measured.operation, "")) or "-"]
        row += [_us(ours.median), _us(ours.p95)] if ours else ["-", "-"]
        row += [_us(floor.median) if floor else "-", _us(raw.median) if raw else "-"]
        row += [_us(stats[name].median) if name in stats else "-" for name in extras]
        if ours and floor and raw:
            rest = ours.median - floor.median - raw.median
            row += [f"{ours.median / floor.median:.1f}x", f"{ours.median / raw.median:.1f}x"]
            row += [_us(rest)]
        else:
            row += ["-", "-", "-"]
        lines.append(row)
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]

    def fmt(line: list[str]) -> str:
        cells = [line[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(line[1:], widths[1:], strict=True)]
        return "| " + " | ".join(cells) + " |"

    rule = "|" + "|".join("-" * (w + 1) + (":" if i else "-") for i, w in enumerate(widths)) + "|"
    return "\n".join([fmt(lines[0]), rule, *map(fmt, lines[1:])])


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    return repr(value)


def _template_json(template: Template) -> dict[str, Any]:
    return {
        "ended_with": template.ended_with,
        "response_bytes": template.response_bytes,
        "statements": [
            {"sql": s.sql, "params": [_jsonable(p) for p in s.params]} for s in template.statements
        ],
    }


def write_json(
    directory: Path,
    run: dict[str, Any],
    results: list[Measured],
    templates: list[Template],
    plans: dict[str, str],
) -> Path:
    """``<backend>-<deals>-<UTC stamp>.json``; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"{run['backend']}-{run['deals']}-{stamp}.json"
    by_name = {t.operation: t for t in templates}
    document = {
        **run,
        "results": [
            {
                "operation": m.operation,
                "stats_us": {k: dataclasses.asdict(v) for k, v in m.stats().items()},
                "samples_us": {k: [round(s * 1e6, 1) for s in v] for k, v in m.samples.items()},
                "sql": _template_json(by_name[m.operation]) if m.operation in by_name else None,
            }
            for m in results
        ],
        "plans": plans,
    }
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
    return path


def summary(
    run: dict[str, Any], results: list[Measured], plans: dict[str, str], drivers: list[str]
) -> str:
    """Everything the terminal shows at the end: table, client check, driver calls, plans."""
    out = [f"\n{run['backend']}, {run['deals']:,} deals, {run['iterations']} calls each, µs:\n"]
    out.append(table(results, drivers[0], drivers[1:], run["statements"]))
    client = next((m for m in results if m.operation.startswith("client check")), None)
    if client is not None:
        stats = client.stats()
        out.append(
            f"\nclient check, /floor/ p50: httpx {stats['httpx'].median:,.0f} µs, "
            f"http.client {stats['http.client'].median:,.0f} µs (every HTTP column above "
            "includes httpx's share)"
        )
    what = "round trips" if run["backend"] == "postgresql" else "aiosqlite thread hops"
    out.append(f"\ndriver calls per request ({what}):")
    for operation, calls in run["driver_calls"].items():
        out.append(f"  {operation}\n    ours: {calls['ours']}\n    raw:  {calls['raw']}")
    for name, plan in plans.items():
        out.append(f"\nplan of the list {name}:\n{plan}")
    return "\n".join(out)
