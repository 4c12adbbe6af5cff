"""Query plans of the list page and its COUNT, from the SQL the server actually ran.

PostgreSQL plans twice. ``EXPLAIN (ANALYZE, BUFFERS)`` with bound values shows
the custom plan a first execution gets. But the server runs these statements as
asyncpg prepared statements, and after five executions PostgreSQL may switch a
prepared statement to a generic plan that ignores the values; so the same
statement is also PREPAREd and EXPLAIN-EXECUTEd under ``plan_cache_mode =
force_generic_plan``, which is the plan a busy server can end up using.
SQLite has one planner path: ``EXPLAIN QUERY PLAN``.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import asyncpg

from bench.capture import Statement, Template


def _literal(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"cannot inline {value!r} into EXECUTE")
    if isinstance(value, int):
        return str(value)
    return "'" + value.replace("'", "''") + "'"


def list_statements(template: Template) -> list[tuple[str, Statement]]:
    """The page SELECT and, if the server ran one, the COUNT."""
    found = []
    for statement in template.statements:
        sql = statement.sql.lower()
        if "from deals" not in sql:
            continue
        found.append(("count" if "count(*)" in sql else "page", statement))
    return found


async def postgresql_plans(dsn: str, labelled: list[tuple[str, Statement]]) -> dict[str, str]:
    conn = await asyncpg.connect(dsn)
    plans: dict[str, str] = {}
    try:
        for kind, statement in labelled:
            rows = await conn.fetch(
                "EXPLAIN (ANALYZE, BUFFERS) " + statement.sql, *statement.params
            )
            plans[f"{kind} (custom plan)"] = "\n".join(row[0] for row in rows)
            try:
                args = ", ".join(_literal(value) for value in statement.params)
            except TypeError as error:  # a value EXECUTE cannot take inline: say so
                plans[f"{kind} (generic plan)"] = f"not taken: {error}"
                continue
            await conn.execute("SET plan_cache_mode = force_generic_plan")
            await conn.execute(f"PREPARE bench_plan AS {statement.sql}")
            try:
                rows = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_plan({args})")
            finally:
                await conn.execute("DEALLOCATE bench_plan")
                await conn.execute("RESET plan_cache_mode")
            plans[f"{kind} (generic plan)"] = "\n".join(row[0] for row in rows)
    finally:
        await conn.close()
    return plans


def sqlite_plans(path: str, labelled: list[tuple[str, Statement]]) -> dict[str, str]:
    conn = sqlite3.connect(path)
    plans: dict[str, str] = {}
    try:
        for kind, statement in labelled:
            rows = conn.execute("EXPLAIN QUERY PLAN " + statement.sql, statement.params)
            depth: dict[int, int] = {0: 0}
            lines = []
            for node, parent, _unused, detail in rows:
                depth[node] = depth.get(parent, 0) + 1
                lines.append("  " * (depth[node] - 1) + detail)
            plans[kind] = "\n".join(lines)
    finally:
        conn.close()
    return plans


async def plans_of(
    backend: str, target: str, labelled: list[tuple[str, Statement]]
) -> dict[str, str]:
    """The plans of the given statements, by label."""
    if backend == "postgresql":
        return await postgresql_plans(target, labelled)
    return sqlite_plans(target, labelled)


async def plans(backend: str, target: str, template: Template) -> dict[str, str]:
    """The list page's and its COUNT's plans."""
    return await plans_of(backend, target, list_statements(template))
