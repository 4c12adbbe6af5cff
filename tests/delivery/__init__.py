"""Helpers shared by the delivery and SSRF tests: a canary socket and a scripted resolver.

The canary is a bare listening socket that never accepts on its own. The kernel completes
every TCP handshake into its backlog whether or not we accept, so draining the backlog
afterwards counts each connection anyone made, with no race against the event loop.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any


class Canary:
    """A listener that must stay untouched: ``connections()`` counts every TCP connect."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(128)
        self.sock.setblocking(False)
        self.host = host
        self.port = int(self.sock.getsockname()[1])
        self.accepted = 0
        self.open: list[socket.socket] = []
        self._seen = b""

    def connections(self) -> int:
        """Connections so far; each is accepted and held open, never answered."""
        while True:
            try:
                conn, _peer = self.sock.accept()
            except BlockingIOError:
                return self.accepted
            conn.setblocking(False)
            self.accepted += 1
            self.open.append(conn)

    def received(self) -> bytes:
        """What the accepted connections sent so far (never blocks the event loop, which
        may be the very loop the client needs to send it)."""
        self.connections()
        data = b""
        for conn in self.open:
            while True:
                try:
                    chunk = conn.recv(65536)
                except (BlockingIOError, OSError):
                    break
                if not chunk:
                    break
                data += chunk
        self._seen += data
        return self._seen

    def close(self) -> None:
        for conn in self.open:
            conn.close()
        self.sock.close()

    def __enter__(self) -> Canary:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FakeDns:
    """``socket.getaddrinfo`` that answers for one host from a script, in order.

    The n-th lookup of ``host`` gets ``answers[n]`` (the last one repeats); every other
    host goes to the real resolver, so database connections keep working. It answers
    whoever asks, the SSRF check or httpx's own connect, so an unpinned client would
    really follow the rebind.
    """

    def __init__(self, host: str, answers: Sequence[str]) -> None:
        self.host = host
        self.answers = list(answers)
        self.calls = 0
        self.real = socket.getaddrinfo

    def script(self, answers: Sequence[str]) -> None:
        """Start over with new answers (after registration looked the host up)."""
        self.answers = list(answers)
        self.calls = 0

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        name = host.decode("idna") if isinstance(host, bytes) else host  # anyio sends bytes
        if name != self.host:
            return self.real(host, port, *args, **kwargs)
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        number = int(port or 0)
        if ":" in answer:
            return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (answer, number, 0, 0))]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer, number))]
