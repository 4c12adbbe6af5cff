"""Concurrent writers of one deal's rows: the last set wins whole, never a mixture.

Eight clients call ``crm.deal.productrows.set`` on the same deal at once, each with its
own row set, through the real app: separate connections and transactions, interleaved
by asyncio.gather. Afterwards the deal holds exactly one of the submitted sets and its
amount is that set's amount. On PostgreSQL this rests on the deal-row lock every row
write takes first (``SELECT ... FOR UPDATE``): without it two writers each delete the
old rows and insert their own, and the deal ends with both sets. On SQLite writers are
serialised by BEGIN IMMEDIATE.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from tests.conftest import RestClient

WRITERS = 8
ROUNDS = 3


def submitted(writer: int) -> list[dict[str, Any]]:
    """Writer ``n`` sends n+2 rows named after itself, so sets differ in size and names."""
    return [
        {"PRODUCT_NAME": f"w{writer}-r{index}", "PRICE": 10 * writer + index + 1,
         "QUANTITY": index + 1, "TAX_RATE": 10, "SORT": index}
        for index in range(writer + 2)
    ]  # fmt: skip


def amount(rows: list[dict[str, Any]]) -> str:
    total = sum(Decimal(row["PRICE"]) * row["QUANTITY"] for row in rows)
    return str(Decimal(total).quantize(Decimal("0.01")))


async def test_concurrent_sets_leave_exactly_one_submitted_set(rest: RestClient) -> None:
    deal_id = (await rest.call("crm.deal.add", {"fields": {"TITLE": "contended"}})).result
    sets = [submitted(writer) for writer in range(WRITERS)]
    for _ in range(ROUNDS):
        replies = await asyncio.gather(
            *(rest.call("crm.deal.productrows.set", {"id": deal_id, "rows": rows}) for rows in sets)
        )
        assert [reply.result for reply in replies] == [True] * WRITERS
        stored = (await rest.call("crm.deal.productrows.get", {"id": deal_id})).result
        names = [row["PRODUCT_NAME"] for row in stored]
        winners = [rows for rows in sets if [row["PRODUCT_NAME"] for row in rows] == names]
        assert len(winners) == 1, f"the stored rows mix several sets: {names}"
        deal = (await rest.call("crm.deal.get", {"id": deal_id})).result
        assert deal["OPPORTUNITY"] == amount(winners[0])
        assert len({row["ID"] for row in stored}) == len(stored)
