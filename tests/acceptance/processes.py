"""Real ``relatecrm serve`` and ``relatecrm worker`` processes for the delivery tests,
the CLI that sets them up, and HTTP clients that change deals on them.

Plain HTTP on 127.0.0.1 (TLS is covered by conftest.py's server); settings come from
``RELATECRM_*`` variables, as an operator would set them. Every process started through
a :class:`Processes` group is SIGKILLed when the group closes, whatever the test did,
so a failing test leaves nothing running. Waiting is asynchronous throughout: the test's
event loop also runs the receiver, and a blocked loop would turn deliveries into
timeouts and so into duplicates that the tests count.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
CLI_TIMEOUT = 60.0
LOOPBACK = "127.0.0.1/32"

# reliability.md §5's scaled schedule, scaled down again: a killed worker's sends are
# taken over after delivery_timeout + delivery_lease_margin = 4 s.
FAST_DELIVERY: dict[str, str] = {
    "webhook_allowed_networks": LOOPBACK,
    "delivery_retry_schedule": "0.5,1,2",
    "delivery_lease_margin": "1",
    "delivery_timeout": "3",
    "delivery_poll_interval": "0.05",
    "delivery_overload_penalty": "0",
    "status_interval": "1",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(database_url: str, port: int, **settings: object) -> dict[str, str]:
    """The environment of a server on ``port`` (workers and the CLI share it): the fast
    delivery settings, then ``settings`` by Settings field name (``delivery_mode=...``)."""
    env = dict(os.environ)
    for name in list(env):
        if name.startswith("RELATECRM_"):
            del env[name]  # the developer's own settings must not leak into the test
    values = {**FAST_DELIVERY, **{name: str(value) for name, value in settings.items()}}
    env.update({f"RELATECRM_{name.upper()}": value for name, value in values.items()})
    env["RELATECRM_DATABASE_URL"] = database_url
    env["RELATECRM_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(
        part for part in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if part
    )
    return env


@dataclass
class Process:
    """One child process; stdout and stderr go to their own files."""

    name: str
    popen: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def output(self) -> str:
        """Both streams, for failure messages."""
        name = self.name
        return f"--- {name} stdout ---\n{self.stdout()}--- {name} stderr ---\n{self.stderr()}"

    def kill(self) -> None:
        """SIGKILL, the crash of reliability §5.1 W1: no cleanup of any kind runs."""
        if self.alive:
            os.kill(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=STOP_TIMEOUT)

    async def terminate(self) -> int:
        """SIGTERM and wait (killed if it lingers); the exit code."""
        if self.alive:
            self.popen.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        while self.alive and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if self.alive:
            self.kill()
        return int(self.popen.wait(timeout=STOP_TIMEOUT))

    async def wait_for_log(self, pattern: str, timeout: float = STARTUP_TIMEOUT) -> re.Match[str]:
        """The first match of ``pattern`` in stderr, waiting for it to be written."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = regex.search(self.stderr())
            if found:
                return found
            if not self.alive or time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name}: no {pattern!r} in its log "
                    f"({'exited' if not self.alive else 'timed out'}):\n{self.output()}"
                )
            await asyncio.sleep(0.1)


@dataclass
class Server(Process):
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def bootstrap_webhook(self) -> str:
        """The webhook URL that serve prints once, on the empty database it migrated:
        ``http://127.0.0.1:PORT/rest/1/CODE/`` of user 1 with the crm scope."""
        out = self.stdout_path.read_text(encoding="utf-8", errors="replace")
        match = re.search(r"Webhook URL \(shown once\): (http://\S+/rest/1/\S+/)", out)
        assert match, f"no bootstrap webhook printed:\n{self.output()}"
        return match.group(1)


@dataclass
class Processes:
    """Every process a test starts; :meth:`close` SIGKILLs what is still running."""

    directory: Path
    started: list[Process] = field(default_factory=list)

    def _popen(
        self, name: str, args: list[str], env: dict[str, str]
    ) -> tuple[subprocess.Popen[bytes], Path, Path]:
        number = len(self.started)
        stdout_path = self.directory / f"{number:02d}-{name}.out"
        stderr_path = self.directory / f"{number:02d}-{name}.err"
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            popen = subprocess.Popen(
                [sys.executable, "-m", "relatecrm", *args],
                cwd=self.directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        return popen, stdout_path, stderr_path

    def start_server(self, env: dict[str, str], port: int, name: str = "serve") -> Server:
        """``relatecrm serve`` on ``port`` without TLS; it migrates before it listens."""
        popen, out, err = self._popen(
            name, ["serve", "--host", "127.0.0.1", "--port", str(port)], env
        )
        server = Server(name, popen, out, err, port=port)
        self.started.append(server)
        return server

    def start_worker(self, env: dict[str, str], name: str = "worker") -> Process:
        """``relatecrm worker``: waits for the schema, then delivers until stopped."""
        popen, out, err = self._popen(name, ["worker"], env)
        worker = Process(name, popen, out, err)
        self.started.append(worker)
        return worker

    async def serve(self, env: dict[str, str], port: int, name: str = "serve") -> Server:
        server = self.start_server(env, port, name)
        await wait_healthy(server)
        return server

    async def work(self, env: dict[str, str], name: str = "worker") -> Process:
        worker = self.start_worker(env, name)
        await worker.wait_for_log(r"event delivery worker \S+ started")
        return worker

    def close(self) -> None:
        for process in self.started:
            if process.alive:
                process.kill()


async def wait_healthy(server: Server, timeout: float = STARTUP_TIMEOUT) -> None:
    """Until ``GET /healthz`` answers 200 (the server has migrated and listens)."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(trust_env=False, timeout=2.0) as http:
        while True:
            if not server.alive:
                raise AssertionError(f"{server.name} exited before serving:\n{server.output()}")
            try:
                if (await http.get(f"{server.url}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{server.name} did not serve in time:\n{server.output()}")
            await asyncio.sleep(0.05)


async def cli(env: dict[str, str], *args: str) -> str:
    """Run ``python -m relatecrm ARGS`` (off the event loop); its stdout."""
    completed = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "relatecrm", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, (
        f"relatecrm {' '.join(args)} failed ({completed.returncode}):\n"
        f"stdout: {completed.stdout}\nstderr: {completed.stderr}"
    )
    return completed.stdout


ADD, UPDATE, DELETE = DEAL_EVENTS = ("ONCRMDEALADD", "ONCRMDEALUPDATE", "ONCRMDEALDELETE")


async def create_hook(
    env: dict[str, str], url: str, events: tuple[str, ...] = DEAL_EVENTS
) -> dict[str, int]:
    """An outgoing webhook for ``events`` via ``relatecrm hook create``: event -> handler id."""
    args = ["hook", "create", "--url", url, "--allowed-networks", LOOPBACK]
    for event in events:
        args += ["--event", event]
    out = await cli(env, *args)
    ids = dict(re.findall(r"^(\d+)\t(\S+)$", out, re.MULTILINE))
    assert "application_token=" in out, out
    found = {event.upper(): int(handler) for handler, event in ids.items()}
    assert set(found) == set(events), out
    return found


# --- clients: deal changes over HTTP, and what they were told ----------------------


@dataclass
class Ledger:
    """What the clients were told: acknowledged (2xx) changes and those of unknown outcome."""

    acked: Counter[tuple[str, int]] = field(default_factory=Counter)
    unknown: Counter[tuple[str, int]] = field(default_factory=Counter)
    unknown_adds: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def acknowledged(self) -> int:
        return sum(self.acked.values())


def next_change(rng: random.Random, mine: list[int]) -> tuple[str, str, dict[str, Any], int]:
    """(event, method, params, deal id or 0 for an add): a client's next change."""
    n = rng.randrange(1, 10_000)
    if len(mine) < 2 or rng.random() < 0.25:
        return ADD, "crm.deal.add", {"fields": {"TITLE": f"deal {n}", "COMMENTS": "w"}}, 0
    deal = rng.choice(mine)
    roll = rng.random()
    if roll < 0.45:
        return UPDATE, "crm.deal.update", {"id": deal, "fields": {"TITLE": f"t {n}"}}, deal
    if roll < 0.87:
        rows = [{"PRODUCT_NAME": f"p{n}", "PRICE": n % 97 + 1, "QUANTITY": n % 5 + 1}]
        return UPDATE, "crm.deal.productrows.set", {"id": deal, "rows": rows}, deal
    return DELETE, "crm.deal.delete", {"id": deal}, deal


async def client(
    bases: list[str], changes: int, rng: random.Random, ledger: Ledger, up: asyncio.Event
) -> None:
    """One client changing its own deals, one request at a time, on any of ``bases``.
    After an unknown outcome it forgets the deal: its state is no longer known."""
    mine: list[int] = []
    async with httpx.AsyncClient(trust_env=False, timeout=30.0) as http:
        for _ in range(changes):
            await up.wait()
            event, method, params, deal = next_change(rng, mine)
            try:
                response = await http.post(rng.choice(bases) + method, json=params)
                body = response.json() if response.status_code == 200 else None
            except (httpx.TransportError, ValueError):
                response, body = None, None
            if body is None or "result" not in body:
                if response is not None:
                    ledger.errors.append(f"{method} {response.status_code} {response.text[:200]}")
                if deal:
                    ledger.unknown[event, deal] += 1
                    mine.remove(deal)
                else:
                    ledger.unknown_adds += 1
                continue
            if not deal:
                deal = int(body["result"])
                mine.append(deal)
            elif event == DELETE:
                mine.remove(deal)
            ledger.acked[event, deal] += 1
