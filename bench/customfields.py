"""The custom-field scenario (``--custom-fields``): two deal fields, a value per deal, and
the ``crm.deal.list`` calls that filter on them.

The question it answers: does filtering deals on an indexed custom field read one
index range, or scan? Values live in ``uf_deal_values`` (one typed row per value,
indexes that start with the field), so the fields are created the way the schema
stores them and nothing else:

- ``UF_CRM_BENCH``: an integer field with ``DISTINCT`` values spread uniformly, so
  one value matches about one deal in a thousand (the selective case);
- ``UF_CRM_BENCH_KIND``: an enumeration with 20 items and skewed shares (a few
  common kinds, a long tail), the filter most CRM screens offer.

Definitions go straight into ``user_fields`` / ``user_field_enums`` (the methods that
write them are not what is measured); values go in bulk, COPY on PostgreSQL and one
executemany per chunk on SQLite, after the deals, so deal ids are ``1..N``.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bench.capture import Request, Statement, Template
from bench.progress import Progress
from bench.workload import LIST_BODY, Measured
from relatecrm.db import create_engine, is_sqlite, transaction
from relatecrm.deals.models import deals
from relatecrm.userfields.models import uf_deal_values, user_field_enums, user_fields

INT_FIELD = "UF_CRM_BENCH"
ENUM_FIELD = "UF_CRM_BENCH_KIND"
DISTINCT = 1000
KINDS = [
    "Inbound", "Outbound", "Renewal", "Upsell", "Cross-sell", "Partner", "Tender", "Referral",
    "Event", "Webinar", "Trial", "Pilot", "Reseller", "Marketplace", "Enterprise", "SMB",
    "Government", "Education", "Non-profit", "Other",
]  # fmt: skip
# Zipf-like shares: the first kind ~19%, the last ~1.5%.
KIND_WEIGHTS = [1 / (rank**0.85) for rank in range(1, len(KINDS) + 1)]
VALUE_COLUMNS = ["deal_id", "field_id", "position", "value_int"]


@dataclass(frozen=True)
class Seeded:
    """What the scenario created, and which values the measured filters use."""

    int_field_id: int
    enum_field_id: int
    int_value: int  # the UF_CRM_BENCH value filtered on
    int_matches: int
    enum_item_id: int  # the UF_CRM_BENCH_KIND item filtered on (a mid-frequency kind)
    enum_item: str
    enum_matches: int
    value_rows: int
    seconds: float
    enum_shares: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "fields": {INT_FIELD: "integer", ENUM_FIELD: "enumeration"},
            "int_value": self.int_value,
            "int_matches": self.int_matches,
            "enum_item_id": self.enum_item_id,
            "enum_item": self.enum_item,
            "enum_matches": self.enum_matches,
            "value_rows": self.value_rows,
            "seconds": round(self.seconds, 2),
            "enum_shares": self.enum_shares,
        }


def _labels(title: str) -> dict[str, dict[str, str]]:
    label = {"en": title}
    return {
        "EDIT_FORM_LABEL": label,
        "LIST_COLUMN_LABEL": label,
        "LIST_FILTER_LABEL": label,
        "ERROR_MESSAGE": {"en": ""},
        "HELP_MESSAGE": {"en": ""},
    }


async def _define(conn: AsyncConnection, now: dt.datetime) -> tuple[int, int, list[int]]:
    """(integer field id, enumeration field id, item ids in KINDS order)."""
    common = {"entity_id": "CRM_DEAL", "show_filter": "E", "created_at": now}
    int_id = (
        await conn.execute(
            insert(user_fields)
            .values(
                **common,
                field_name=INT_FIELD,
                user_type_id="integer",
                xml_id="BENCH",
                sort=100,
                settings={"SIZE": 20, "MIN_VALUE": 0, "MAX_VALUE": 0, "DEFAULT_VALUE": None},
                labels=_labels("Bench number"),
            )
            .returning(user_fields.c.id)
        )
    ).scalar_one()
    enum_id = (
        await conn.execute(
            insert(user_fields)
            .values(
                **common,
                field_name=ENUM_FIELD,
                user_type_id="enumeration",
                xml_id="BENCH_KIND",
                sort=200,
                settings={
                    "DISPLAY": "LIST",
                    "LIST_HEIGHT": 1,
                    "CAPTION_NO_VALUE": "",
                    "SHOW_NO_VALUE": "Y",
                },  # fmt: skip
                labels=_labels("Deal kind"),
            )
            .returning(user_fields.c.id)
        )
    ).scalar_one()
    items = []
    for number, kind in enumerate(KINDS, start=1):
        item = await conn.execute(
            insert(user_field_enums)
            .values(field_id=enum_id, value=kind, sort=number * 10, xml_id=f"KIND_{number}")
            .returning(user_field_enums.c.id)
        )
        items.append(int(item.scalar_one()))
    return int(int_id), int(enum_id), items


def value_rows(
    count: int, rng: random.Random, int_field: int, enum_field: int, items: list[int], chunk: int
) -> Iterator[list[tuple[int, int, int, int]]]:
    """Chunks of ``(deal_id, field_id, position, value_int)``: both fields of each deal."""
    for first in range(1, count + 1, chunk):
        last = min(first + chunk, count + 1)
        size = last - first
        numbers = [rng.randint(1, DISTINCT) for _ in range(size)]
        kinds = rng.choices(items, KIND_WEIGHTS, k=size)
        rows = []
        for offset, deal_id in enumerate(range(first, last)):
            rows.append((deal_id, int_field, 0, numbers[offset]))
            rows.append((deal_id, enum_field, 0, kinds[offset]))
        yield rows


async def _deal_ids(engine: AsyncEngine) -> tuple[int, int, int]:
    async with engine.connect() as conn:
        row = (await conn.execute(select(func.min(deals.c.id), func.max(deals.c.id),
                                          func.count()))).one()  # fmt: skip
    return int(row[0] or 0), int(row[1] or 0), int(row[2])


async def _insert(conn: AsyncConnection, rows: list[tuple[int, int, int, int]]) -> None:
    if is_sqlite(conn):
        stmt = insert(uf_deal_values).values({name: bindparam(name) for name in VALUE_COLUMNS})
        sql = stmt.compile(dialect=conn.dialect, for_executemany=True).string
        await conn.exec_driver_sql(sql, rows)
        return
    raw = await conn.get_raw_connection()
    await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
        "uf_deal_values", records=rows, columns=VALUE_COLUMNS
    )


async def fill(url: str, count: int, *, seed: int, chunk: int, plain: bool) -> Seeded:
    """Define the two fields and give every one of the ``count`` deals a value of each."""
    started = time.perf_counter()
    engine = create_engine(url)
    try:
        low, high, total = await _deal_ids(engine)
        if (low, high, total) != (1, count, count):
            raise RuntimeError(f"expected deals 1..{count}, found {total} in {low}..{high}")
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        async with transaction(engine) as conn:
            int_field, enum_field, items = await _define(conn, now)
        rng = random.Random(f"custom-fields/{seed}")
        numbers: Counter[int] = Counter()
        kinds: Counter[int] = Counter()
        with Progress("inserting custom field values", 2 * count, plain=plain) as progress:
            for rows in value_rows(count, rng, int_field, enum_field, items, chunk):
                for _deal, field_id, _position, value in rows:
                    (numbers if field_id == int_field else kinds)[value] += 1
                async with transaction(engine) as conn:
                    await _insert(conn, rows)
                progress.advance(len(rows))
        await _after_load(engine)
    finally:
        await engine.dispose()
    # The filtered values: an integer matched by about the average number of deals,
    # and the kind in the middle of the share ranking, neither the top nor the tail.
    average = count / DISTINCT
    int_value = min(numbers, key=lambda v: (abs(numbers[v] - average), v))
    ranked = sorted(items, key=lambda i: -kinds[i])
    enum_item = ranked[len(ranked) // 4]
    return Seeded(
        int_field_id=int_field,
        enum_field_id=enum_field,
        int_value=int_value,
        int_matches=numbers[int_value],
        enum_item_id=enum_item,
        enum_item=KINDS[items.index(enum_item)],
        enum_matches=kinds[enum_item],
        value_rows=2 * count,
        seconds=time.perf_counter() - started,
        enum_shares={KINDS[items.index(i)]: kinds[i] for i in ranked},
    )


async def _after_load(engine: AsyncEngine) -> None:
    """As ``seed._after_load``: ANALYZE on PostgreSQL (autovacuum would), nothing on SQLite."""
    if is_sqlite(engine):
        async with engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return
    autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    async with autocommit.connect() as conn:
        await conn.execute(text("VACUUM ANALYZE uf_deal_values, user_fields, user_field_enums"))


# The measured calls. Each is compared with the plain list of the same run,
# ``crm.deal.list (no count)`` (STAGE_ID + OPPORTUNITY filter, DATE_CREATE order).
PLAIN_LIST = "crm.deal.list (no count)"
UF_INT = f"list {INT_FIELD}=n (no count)"
UF_INT_SELECT = f"list {INT_FIELD}=n, select UF (no count)"
UF_INT_COUNT = f"list {INT_FIELD}=n, select UF (count)"
UF_ENUM = f"list {ENUM_FIELD}=item (no count)"
UF_ENUM_MIXED = f"list {ENUM_FIELD}+stage, by date (no count)"
CUSTOM = (UF_INT, UF_INT_SELECT, UF_INT_COUNT, UF_ENUM, UF_ENUM_MIXED)


def requests(seeded: Seeded) -> list[Request]:
    plain_select = LIST_BODY["select"]
    with_uf = ["ID", "TITLE", INT_FIELD]
    by_number = {INT_FIELD: seeded.int_value}
    mixed = {**LIST_BODY["filter"], ENUM_FIELD: seeded.enum_item_id}
    return [
        Request(UF_INT, "crm.deal.list",
                {"filter": by_number, "select": plain_select, "start": -1}),
        Request(UF_INT_SELECT, "crm.deal.list",
                {"filter": by_number, "select": with_uf, "start": -1}),
        Request(UF_INT_COUNT, "crm.deal.list",
                {"filter": by_number, "select": with_uf, "start": 0}),
        Request(UF_ENUM, "crm.deal.list",
                {"filter": {ENUM_FIELD: seeded.enum_item_id}, "select": plain_select,
                 "start": -1}),
        Request(UF_ENUM_MIXED, "crm.deal.list",
                {"filter": mixed, "order": LIST_BODY["order"], "select": plain_select,
                 "start": -1}),
    ]  # fmt: skip


def is_custom(template: Template) -> bool:
    return template.operation in CUSTOM


def uses_values(sql: str) -> bool:
    """A statement that reads custom field values (the ones whose plans matter here)."""
    return "uf_deal_values" in sql.lower()


_VALUE_INDEX = re.compile(
    r"(ix_uf_deal_values_\w+|pk_uf_deal_values|sqlite_autoindex_uf_deal_values_\d+)"
)


def plan_verdict(plan: str) -> dict[str, Any]:
    """What the issue asks of a plan: values read through an index, nothing read whole.

    PostgreSQL names a full read ``Seq Scan on <table>``; SQLite's EXPLAIN QUERY PLAN says
    ``SCAN <table>`` for a walk over a whole table or index and ``SEARCH`` for an index
    range (a SCAN under a LIMIT may stop early, but nothing bounds it).
    """
    return {
        "value indexes": sorted(set(_VALUE_INDEX.findall(plan))),
        "full scan of uf_deal_values": bool(
            re.search(r"Seq Scan on uf_deal_values|^\s*SCAN uf_deal_values\b", plan, re.M)
        ),
        "full scan of deals": bool(re.search(r"Seq Scan on deals|^\s*SCAN deals\b", plan, re.M)),
    }


def comparison(results: list[Measured]) -> str:
    """Each custom-field call's median next to the plain list's median of the same run."""
    medians = {m.operation: m.stats() for m in results}
    plain = medians.get(PLAIN_LIST)
    if not plain or "ours" not in plain:
        return ""
    base = plain["ours"].median
    lines = [f"\ncustom-field lists vs {PLAIN_LIST!r} (ours p50 {base:,.0f} µs):"]
    for name in CUSTOM:
        stats = medians.get(name)
        if stats and "ours" in stats:
            ours = stats["ours"].median
            lines.append(f"  {name}: ours p50 {ours:,.0f} µs = {ours / base:.2f}x the plain list")
    return "\n".join(lines)


def value_statements(template: Template) -> list[tuple[str, Statement]]:
    """The statements of a custom-field call worth a plan: those on deals or on values."""
    found = []
    for number, statement in enumerate(template.statements, start=1):
        sql = statement.sql.lower()
        if not (uses_values(sql) or "from deals" in sql):
            continue
        kind = "count" if "count(" in sql else "page" if "from deals" in sql else "values"
        found.append((f"{template.operation}: statement {number} ({kind})", statement))
    return found


def verdicts(by_plan: dict[str, dict[str, Any]]) -> str:
    """One line per plan: which value index it reads, and what it reads whole."""
    lines = ["\ncustom-field plans:"]
    for label, verdict in by_plan.items():
        scans = [name for name in ("full scan of uf_deal_values", "full scan of deals")
                 if verdict[name]]  # fmt: skip
        indexes = ", ".join(verdict["value indexes"]) or "no value index"
        lines.append(f"  {label}: {indexes}; {', '.join(scans) or 'no full scan'}")
    return "\n".join(lines)
