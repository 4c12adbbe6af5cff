"""A scriptable HTTP receiver on 127.0.0.1 for delivery tests: records every request.

Plain asyncio, HTTP/1.1 with keep-alive, so that what the worker sends is seen byte for
byte. ``script`` decides each answer: a status, extra headers, a body and a delay.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # time.time() when the body was read
    address: str  # the local address the connection came to


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0


Script = Callable[[Received], Reply]

REASONS = {200: "OK", 204: "No Content", 308: "Permanent Redirect", 302: "Found",
           410: "Gone", 429: "Too Many Requests", 500: "Internal Server Error",
           503: "Service Unavailable"}  # fmt: skip


class Receiver:
    """``async with Receiver(script) as r:`` then ``r.url``; ``r.requests`` fills up."""

    def __init__(self, script: Script | None = None, host: str = "127.0.0.1") -> None:
        self.script: Script = script or (lambda _request: Reply())
        self.host = host
        self.requests: list[Received] = []
        self.connections = 0
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hook"

    async def __aenter__(self) -> Receiver:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    async def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return list(self.requests)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        local = str(writer.get_extra_info("sockname")[0])
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _version = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Received(method, path, headers, body, time.time(), local)
                self.requests.append(request)
                reply = self.script(request)
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                reason = REASONS.get(reply.status, "Status")
                extra = "".join(f"{k}: {v}\r\n" for k, v in reply.headers.items())
                writer.write(
                    f"HTTP/1.1 {reply.status} {reason}\r\ncontent-length: {len(reply.body)}\r\n"
                    f"{extra}\r\n".encode("latin-1")
                    + reply.body
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
