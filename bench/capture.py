"""Record the exact SQL one request runs, so the raw-driver replay is the same work.

The real app (the bench factory, so the same code the subprocess serves) is called
in-process through httpx's ASGI transport, and a ``before_cursor_execute`` listener
on its engine records every statement with its parameters exactly as they reach
the driver: already compiled for the dialect, already converted by the column
types. Nothing is re-derived by reading the repository code, so the replay cannot
drift from the server when the server's queries change.

Each operation is called three times and only the last call is kept, so first-use
effects (SQLAlchemy's compiled cache, asyncpg's prepared statements, the first
pool pre-ping on a connection) stay out.
The deal id inside the recorded parameters is remembered as a slot, so the replay
can substitute a different id for each ``crm.deal.get``, or the id the replayed
``INSERT ... RETURNING`` produced for the statements of ``crm.deal.add`` after it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import httpx
import orjson
from sqlalchemy import event

from bench.app import create_bench_app
from bench.calls import count_calls, summarize
from relatecrm.config import Settings


@dataclass(frozen=True)
class Statement:
    """One statement as the driver received it, plus where the deal id sits in it."""

    sql: str
    params: tuple[Any, ...]
    id_slots: tuple[int, ...] = ()  # parameters equal to the deal id
    text_slots: tuple[int, ...] = ()  # text parameters that mention it ("Deal #7", JSON)
    returns_deal_id: bool = False  # INSERT INTO deals ... RETURNING deals.id

    def bind(self, old_id: int | None, new_id: int | None) -> tuple[Any, ...]:
        """The parameters with the recorded deal id replaced by ``new_id``."""
        if old_id is None or new_id is None or not (self.id_slots or self.text_slots):
            return self.params
        values = list(self.params)
        for slot in self.id_slots:
            values[slot] = new_id
        for slot in self.text_slots:
            values[slot] = _mention(old_id).sub(str(new_id), values[slot])
        return tuple(values)


@dataclass(frozen=True)
class Template:
    """What one request did in the database: statements in order, then commit."""

    operation: str
    statements: tuple[Statement, ...]
    deal_id: int | None  # the id the recorded request read or created
    ended_with: str  # "commit" or "rollback"
    response_bytes: int
    driver_calls: str = ""  # round trips (asyncpg) or thread hops (aiosqlite), summarized


@dataclass(frozen=True)
class Request:
    """An operation's HTTP call: method and JSON body, and how the id enters it."""

    operation: str
    method: str
    body: dict[str, Any]
    deal_id: int | None = None  # the id in ``body`` (crm.deal.get)


def _mention(deal_id: int) -> re.Pattern[str]:
    return re.compile(rf"(?<!\d){deal_id}(?!\d)")


def _is_text_slot(value: Any, deal_id: int) -> bool:
    """Text that carries the id by construction: the outbox payload and "Deal #<id>"."""
    if not isinstance(value, str) or not value.startswith(("{", "Deal #")):
        return False
    return _mention(deal_id).search(value) is not None


def _statement(sql: str, params: Sequence[Any], deal_id: int | None, seen_id: bool) -> Statement:
    params = tuple(params)
    returns = sql.lstrip().upper().startswith("INSERT INTO DEALS") and "RETURNING" in sql.upper()
    if deal_id is None or not seen_id:
        return Statement(sql, params, returns_deal_id=returns)
    ids = tuple(i for i, v in enumerate(params) if type(v) is int and v == deal_id)
    texts = tuple(i for i, v in enumerate(params) if _is_text_slot(v, deal_id))
    return Statement(sql, params, ids, texts, returns)


def _template(request: Request, log: list[tuple[Any, ...]], body: bytes) -> Template:
    reply = orjson.loads(body)
    deal_id = request.deal_id
    if request.method == "crm.deal.add":
        deal_id = int(reply["result"])
    # For add, the id exists only after the INSERT returned it: earlier statements
    # cannot mention it, and a coincidentally equal number there must stay as it is.
    seen_id = request.method != "crm.deal.add"
    statements: list[Statement] = []
    ended = "open"
    for entry in log:
        if entry[0] == "sql":
            statement = _statement(entry[1], entry[2], deal_id, seen_id)
            seen_id = seen_id or statement.returns_deal_id
            statements.append(statement)
        else:
            ended = entry[0]
    template = Template(request.operation, tuple(statements), deal_id, ended, len(body))
    if deal_id is not None and not any(s.id_slots or s.text_slots for s in statements):
        raise RuntimeError(f"{request.operation}: deal id {deal_id} not found in its SQL")
    return template


async def capture(url: str, user_id: int, code: str, requests: Sequence[Request]) -> list[Template]:
    """Call each request three times against the in-process app; template the last call."""
    app = create_bench_app(Settings(database_url=url))
    engine = app.state.engine
    log: list[tuple[Any, ...]] = []

    def on_execute(
        conn: Any, cursor: Any, sql: str, params: Any, context: Any, executemany: bool
    ) -> None:
        log.append(("sql", sql, params or ()))

    calls: list[str] = []

    def on_connect(dbapi_connection: Any, record: Any) -> None:
        count_calls(dbapi_connection.driver_connection, calls)

    event.listen(engine.sync_engine, "connect", on_connect)
    event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
    event.listen(engine.sync_engine, "commit", lambda conn: log.append(("commit",)))
    event.listen(engine.sync_engine, "rollback", lambda conn: log.append(("rollback",)))
    templates: list[Template] = []
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            for request in requests:
                path = f"/rest/{user_id}/{code}/{request.method}"
                for _ in range(3):
                    log.clear()
                    calls.clear()
                    response = await client.post(path, json=request.body)
                    if response.status_code != 200 or b'"error"' in response.content[:20]:
                        raise RuntimeError(f"{request.operation}: {response.text[:500]}")
                template = _template(request, list(log), response.content)
                templates.append(replace(template, driver_calls=summarize(calls)))
    finally:
        await engine.dispose()
    return templates
