"""Count what each request costs at the driver: round trips (asyncpg), thread hops (aiosqlite).

Statements alone do not say where the time goes: SQLAlchemy's pool pings a
PostgreSQL connection with its own transaction before every checkout, and every
aiosqlite call is a hop to the connection's worker thread and back. Both are
invisible to ``before_cursor_execute``, so the capture also wraps the driver
connection itself, per instance, in this process only:

* asyncpg: every message exchange with the server goes through the connection's
  protocol object (``query`` for simple statements such as BEGIN/COMMIT,
  ``bind_execute`` for a prepared statement, ``prepare`` on a cache miss); the
  connection's ``_protocol`` slot is swapped for a counting proxy.
* aiosqlite: every call runs through ``Connection._execute``, which queues the
  work for the worker thread and awaits the answer; the instance gets a counting
  ``_execute``.

Private attributes of the drivers are used knowingly: this is a diagnostic for
the numbers table, and a driver upgrade that breaks it only costs the column.
"""

from __future__ import annotations

import functools
from typing import Any

ROUND_TRIPS = {
    "query", "prepare", "bind_execute", "bind_execute_many", "bind", "execute", "close_statement",
}  # fmt: skip


class _CountingProtocol:
    """Delegates everything to asyncpg's protocol; records the round-trip methods."""

    def __init__(self, inner: Any, log: list[str]) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_log", log)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if name not in ROUND_TRIPS or not callable(value):
            return value

        def counted(*args: Any, **kwargs: Any) -> Any:
            label = name
            if name == "query" and args:
                label = f"query {str(args[0]).split(None, 1)[0].upper() if args[0] else ''}"
            self._log.append(label.strip())
            return value(*args, **kwargs)

        return counted

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)


def _label(function: Any) -> str:
    target = function.func if isinstance(function, functools.partial) else function
    return str(getattr(target, "__name__", type(target).__name__))


def count_calls(driver_connection: Any, log: list[str]) -> bool:
    """Start recording ``driver_connection``'s round trips or hops into ``log``."""
    module = type(driver_connection).__module__
    if module.startswith("asyncpg"):
        protocol = driver_connection._protocol
        if not isinstance(protocol, _CountingProtocol):
            driver_connection._protocol = _CountingProtocol(protocol, log)
        return True
    if module.startswith("aiosqlite"):
        execute = driver_connection._execute

        async def counted(fn: Any, *args: Any, **kwargs: Any) -> Any:
            log.append(_label(fn))
            return await execute(fn, *args, **kwargs)

        driver_connection._execute = counted
        return True
    return False


def summarize(calls: list[str]) -> str:
    """``7 (query BEGIN, bind_execute x2, ...)``: the count, then runs of equal calls."""
    runs: list[list[Any]] = []
    for call in calls:
        if runs and runs[-1][0] == call:
            runs[-1][1] += 1
        else:
            runs.append([call, 1])
    parts = [name if times == 1 else f"{name} x{times}" for name, times in runs]
    return f"{len(calls)} ({', '.join(parts)})"
