"""What is measured, and the sequential timing loops.

Every operation is timed three ways in the same run, on the same inputs:
``ours`` is the real ``/rest/{user}/{code}/{method}`` call, ``floor`` is the same
request to the constant ``/floor/{method}`` route on the same server, and each
raw replayer runs the SQL the server ran for it. Latency is sequential: one
keep-alive client, one request in flight, so each number is a per-request cost
and not a throughput. The variants are interleaved in blocks, so a slow minute
on the machine (other tenants, autovacuum, a WAL checkpoint) lands on all of them
instead of skewing one column.
"""

from __future__ import annotations

import gc
import http.client
import math
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from bench.capture import Request, Template
from bench.raw import Replayer

LIST_BODY: dict[str, Any] = {
    "filter": {"STAGE_ID": "EXECUTING", ">OPPORTUNITY": 1000},
    "order": {"DATE_CREATE": "DESC"},
    "select": ["ID", "TITLE", "STAGE_ID", "OPPORTUNITY", "DATE_CREATE"],
}
# No TITLE on purpose: the server then takes its full add path, INSERT, then an
# UPDATE to "Deal #<id>", then the outbox row, all in one transaction.
ADD_FIELDS: dict[str, Any] = {
    "STAGE_ID": "PREPARATION",
    "OPPORTUNITY": 12500,
    "CURRENCY_ID": "USD",
    "ASSIGNED_BY_ID": 7,
    "COMMENTS": "Created by the benchmark",
}
HEADERS = {"content-type": "application/json"}


def requests(deals: int) -> list[Request]:
    """The measured operations; the get is recorded on a deal from the middle of the table."""
    middle = max(2, deals // 2 + 1)
    return [
        Request("crm.deal.get", "crm.deal.get", {"id": middle}, deal_id=middle),
        Request("crm.deal.list (count)", "crm.deal.list", {**LIST_BODY, "start": 0}),
        Request("crm.deal.list (no count)", "crm.deal.list", {**LIST_BODY, "start": -1}),
        Request("crm.deal.add", "crm.deal.add", {"fields": ADD_FIELDS}),
    ]


@dataclass(frozen=True)
class Stats:
    """Microseconds; p95 by nearest rank."""

    n: int
    median: float
    p95: float
    mean: float
    min: float
    max: float

    @classmethod
    def of(cls, seconds: list[float]) -> Stats:
        ordered = sorted(s * 1e6 for s in seconds)
        rank = max(0, math.ceil(0.95 * len(ordered)) - 1)
        return cls(
            n=len(ordered),
            median=statistics.median(ordered),
            p95=ordered[rank],
            mean=statistics.fmean(ordered),
            min=ordered[0],
            max=ordered[-1],
        )


@dataclass
class Measured:
    """One operation's samples, by variant name (``ours``, ``floor``, driver names)."""

    operation: str
    samples: dict[str, list[float]]

    def stats(self) -> dict[str, Stats]:
        return {name: Stats.of(values) for name, values in self.samples.items() if values}


class Loop:
    """Shared settings of the timing loops."""

    def __init__(self, client: httpx.Client, rest: str, iterations: int, warmup: int) -> None:
        self.client = client
        self.rest = rest  # "/rest/{user}/{code}/"
        self.iterations = iterations
        self.warmup = warmup
        # Small blocks: a burst of load from elsewhere then hits every variant alike.
        self.block = min(10, iterations)

    def _http(self, path: str, bodies: list[bytes], out: list[float] | None) -> None:
        post, clock = self.client.post, time.perf_counter
        for body in bodies:
            began = clock()
            response = post(path, content=body, headers=HEADERS)
            elapsed = clock() - began
            if response.status_code != 200:
                raise RuntimeError(f"{path}: HTTP {response.status_code}: {response.text[:300]}")
            if out is not None:
                out.append(elapsed)

    async def _raw(
        self, run: Callable[[int | None], Awaitable[None]], ids: list[int | None], out: Any
    ) -> None:
        clock = time.perf_counter
        for deal_id in ids:
            began = clock()
            await run(deal_id)
            elapsed = clock() - began
            if out is not None:
                out.append(elapsed)

    async def measure(
        self, request: Request, template: Template, replayers: list[Replayer], deals: int
    ) -> Measured:
        """Warm every variant up, then time them in interleaved blocks on the same inputs."""
        rng = random.Random(f"{request.operation}/{deals}")
        total = self.warmup + self.iterations
        ids: list[int | None] = [None] * total
        bodies = [orjson.dumps(request.body)] * total
        if request.deal_id is not None:
            ids = [rng.randint(1, deals) for _ in range(total)]
            bodies = [orjson.dumps({**request.body, "id": i}) for i in ids]
        ours_path = self.rest + request.method
        floor_path = "/floor/" + request.method
        samples: dict[str, list[float]] = {"ours": [], "floor": []}
        samples.update({r.name: [] for r in replayers})

        async def round_(lo: int, hi: int, record: bool) -> None:
            gc.collect()
            gc.disable()  # the client's collector must not pause inside a timed call
            try:
                self._http(ours_path, bodies[lo:hi], samples["ours"] if record else None)
                self._http(floor_path, bodies[lo:hi], samples["floor"] if record else None)
                for replayer in replayers:
                    run = _bound(replayer, template)
                    await self._raw(run, ids[lo:hi], samples[replayer.name] if record else None)
            finally:
                gc.enable()

        await round_(0, self.warmup, record=False)
        for lo in range(self.warmup, total, self.block):
            await round_(lo, min(lo + self.block, total), record=True)
        return Measured(request.operation, samples)

    async def measure_ping(self, ping: Callable[[], Awaitable[None]]) -> Measured:
        """The pool pre-ping alone, on the raw driver: the SQL-free cost of a checkout."""
        samples: list[float] = []
        for index in range(self.warmup + self.iterations):
            began = time.perf_counter()
            await ping()
            if index >= self.warmup:
                samples.append(time.perf_counter() - began)
        return Measured("pool pre-ping (BEGIN; ';'; ROLLBACK)", {"asyncpg": samples})


def measure_client(base_url: str, client: httpx.Client, iterations: int) -> Measured:
    """The same floor request through httpx and through the stdlib's http.client.

    Every HTTP column includes the client's own time. This shows how much of it
    is httpx, so ratios against the floor can be read with that in mind.
    """
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    plain = http.client.HTTPConnection(host, int(port), timeout=60)
    body = orjson.dumps({"id": 1})
    path = "/floor/crm.deal.get"
    samples: dict[str, list[float]] = {"httpx": [], "http.client": []}
    clock = time.perf_counter
    warmup = max(5, iterations // 10)
    try:
        for index in range(warmup + iterations):
            record = index >= warmup
            began = clock()
            client.post(path, content=body, headers=HEADERS).read()
            middle = clock()
            plain.request("POST", path, body=body, headers=HEADERS)
            plain.getresponse().read()
            ended = clock()
            if record:
                samples["httpx"].append(middle - began)
                samples["http.client"].append(ended - middle)
    finally:
        plain.close()
    return Measured("client check: /floor/crm.deal.get", samples)


def _bound(replayer: Replayer, template: Template) -> Callable[[int | None], Awaitable[None]]:
    async def run(deal_id: int | None) -> None:
        await replayer.run(template, deal_id)

    return run
