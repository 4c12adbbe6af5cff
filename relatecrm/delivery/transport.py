"""The one outbound HTTP client: SSRF-checked, IP-pinned, no redirects, cut at a timeout.

Every delivery resolves the handler's host once, refuses it if any address is internal
(unless allowed), and connects to the first checked address itself. The URL's host stays
in the ``Host`` header and in TLS SNI and certificate checks, so a DNS answer that
changes between the check and the connect (rebinding) cannot redirect the POST. A 3xx
is an answer, never followed. The whole exchange, headers and body, must finish within
``timeout`` seconds; only the first ``max_response`` bytes of the answer are read.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import httpx

from relatecrm.events import ssrf
from relatecrm.events.outcomes import (
    BLOCKED,
    MAX_ERROR,
    NETWORK,
    TIMEOUT,
    Answer,
    classify,
)


def pinned_url(url: str, address: ssrf.IPAddress) -> tuple[httpx.URL, str, str]:
    """``url`` with its host replaced by ``address``; plus the Host header and SNI name."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return httpx.URL(url).copy_with(host=str(address)), netloc, host


def storable(data: bytes, limit: int) -> str:
    """The answer as text a database column takes: at most ``limit`` bytes of UTF-8 and no
    NUL (PostgreSQL refuses it, and the attempt could never be recorded). Replacing bad
    bytes with U+FFFD widens them, so the text is cut again afterwards."""
    text = data.decode("utf-8", "replace").replace("\x00", "\ufffd")
    encoded = text.encode("utf-8")
    return text if len(encoded) <= limit else encoded[:limit].decode("utf-8", "ignore")


class Transport:
    """One pooled client per worker; ``close`` it when the worker stops."""

    def __init__(
        self,
        *,
        timeout: float,
        networks: tuple[ssrf.IPNetwork, ...] = (),
        max_response: int = 20_000,
        connections: int = 100,
    ) -> None:
        self.timeout = timeout
        self.networks = networks
        self.max_response = max_response
        self.client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment may see or reroute events
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=20),
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        started = time.monotonic()

        def elapsed() -> int:
            return int((time.monotonic() - started) * 1000)

        try:
            addresses = await asyncio.wait_for(
                ssrf.check_url(url, self.networks), timeout=self.timeout
            )
        except ssrf.UnsafeUrl as error:
            return Answer(BLOCKED, elapsed(), error=str(error)[:MAX_ERROR])
        except TimeoutError:
            return Answer(TIMEOUT, elapsed(), error="DNS lookup timed out")
        address = addresses[0]
        target, host_header, sni = pinned_url(url, address)
        request_headers = {
            **headers,
            "Host": host_header,
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "RelateCRM event delivery",
            # The answer is stored as the bytes that arrive: ask for them uncompressed.
            "Accept-Encoding": "identity",
        }
        extensions = {"sni_hostname": sni} if target.scheme == "https" else {}
        try:
            async with asyncio.timeout(self.timeout):
                return await self._exchange(
                    target, body, request_headers, extensions, str(address), elapsed
                )
        except TimeoutError:
            return Answer(
                TIMEOUT, elapsed(), error=f"no answer within {self.timeout:g} s",
                address=str(address),
            )  # fmt: skip
        except httpx.HTTPError as error:
            text = f"{type(error).__name__}: {error}"[:MAX_ERROR]
            return Answer(NETWORK, elapsed(), error=text, address=str(address))

    async def _exchange(
        self,
        target: httpx.URL,
        body: bytes,
        headers: dict[str, str],
        extensions: dict[str, str],
        address: str,
        elapsed: object,
    ) -> Answer:
        request = self.client.build_request(
            "POST", target, content=body, headers=headers, extensions=extensions
        )
        response = await self.client.send(request, stream=True)
        try:
            kept = bytearray()
            async for chunk in response.aiter_raw():
                kept += chunk[: self.max_response - len(kept)]
                if len(kept) >= self.max_response:
                    break
        finally:
            await response.aclose()
        assert callable(elapsed)
        return Answer(
            classify(response.status_code),
            elapsed(),
            status_code=response.status_code,
            body=storable(bytes(kept), self.max_response),
            retry_after=response.headers.get("retry-after"),
            address=address,
        )
