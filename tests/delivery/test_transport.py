"""The outbound transport against real listeners on 127.0.0.1 (reliability §5.1, §5.2).

No database: ``Transport.post`` alone, the only client that ever calls a handler. Each
test pins one promise of ``relatecrm/delivery/transport.py``: the checked address is the
one connected to (X2), the ``Host`` header and TLS SNI keep the name, a 3xx is an answer
(W5, X3), the answer is read only up to ``max_response`` bytes (W11), the whole exchange
is cut at ``timeout``, and no proxy from the environment is used.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import pytest

from relatecrm.delivery.transport import Transport
from relatecrm.events import outcomes
from relatecrm.events.ssrf import parse_networks
from tests.delivery import Canary, FakeDns
from tests.events.receiver import Receiver, Reply

BODY = b"event=ONCRMDEALADD&event_handler_id=1"
LOOPBACK = parse_networks("127.0.0.0/8")


@pytest.fixture
async def sender() -> AsyncIterator[Transport]:
    transport = Transport(timeout=2.0, networks=LOOPBACK, max_response=1000)
    yield transport
    await transport.close()


async def test_a_2xx_is_success_and_the_post_is_as_given(sender: Transport) -> None:
    async with Receiver(lambda _r: Reply(202, body=b"thanks")) as receiver:
        answer = await sender.post(receiver.url + "?x=1", BODY, {"webhook-id": "msg_1_2"})
    assert (answer.outcome, answer.status_code, answer.body) == ("success", 202, "thanks")
    assert answer.address == "127.0.0.1"
    [got] = receiver.requests
    assert (got.method, got.path, got.body) == ("POST", "/hook?x=1", BODY)
    assert got.headers["content-type"] == "application/x-www-form-urlencoded"
    assert got.headers["host"] == f"127.0.0.1:{receiver.port}"
    assert got.headers["webhook-id"] == "msg_1_2"


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(500, outcomes.HTTP_ERROR), (404, outcomes.HTTP_ERROR), (410, outcomes.GONE)],
)
async def test_error_statuses_are_classified(sender: Transport, status: int, outcome: str) -> None:
    async with Receiver(lambda _r: Reply(status, body=b"no")) as receiver:
        answer = await sender.post(receiver.url, BODY, {})
    assert (answer.outcome, answer.status_code, answer.body) == (outcome, status, "no")


async def test_retry_after_is_passed_on(sender: Transport) -> None:
    reply = Reply(429, headers={"Retry-After": "7"})
    async with Receiver(lambda _r: reply) as receiver:
        answer = await sender.post(receiver.url, BODY, {})
    assert (answer.outcome, answer.retry_after) == (outcomes.HTTP_ERROR, "7")


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_w5_a_redirect_is_an_answer_never_followed(sender: Transport, status: int) -> None:
    """W5/X3: whatever the 3xx, the Location (a canary) is never connected to."""
    with Canary() as canary:
        location = f"http://127.0.0.1:{canary.port}/stolen"
        async with Receiver(lambda _r: Reply(status, headers={"Location": location})) as receiver:
            answer = await sender.post(receiver.url, BODY, {})
        await asyncio.sleep(0.05)
        assert canary.connections() == 0
    assert (answer.outcome, answer.status_code) == (outcomes.REDIRECT, status)
    assert len(receiver.requests) == 1


async def test_x2_the_checked_address_is_the_one_connected_to(
    sender: Transport, monkeypatch: pytest.MonkeyPatch
) -> None:
    """X2: one lookup per post; a second answer (the rebind) is never asked for."""
    with Canary("127.0.0.1") as canary:
        dns = FakeDns("hooks.test", ["127.0.0.2", "127.0.0.1"])
        monkeypatch.setattr(socket, "getaddrinfo", dns)
        async with Receiver(host="127.0.0.2") as receiver:
            await receiver.stop()
            await receiver.start(canary.port)  # same port as the canary, other address
            url = f"http://hooks.test:{canary.port}/hook"
            answer = await sender.post(url, BODY, {})
        assert canary.connections() == 0
    assert answer.outcome == outcomes.SUCCESS, answer
    assert answer.address == "127.0.0.2"
    assert dns.calls == 1
    [got] = receiver.requests
    assert got.address == "127.0.0.2"
    assert got.headers["host"] == f"hooks.test:{canary.port}"


async def test_x2_a_name_answering_internal_first_is_blocked(
    sender: Transport, monkeypatch: pytest.MonkeyPatch
) -> None:
    """X2 reverse: the first answer is refused, and nothing connects anywhere."""
    strict = Transport(timeout=2.0, networks=parse_networks("127.0.0.2/32"))
    try:
        with Canary("127.0.0.1") as canary:
            dns = FakeDns("hooks.test", ["127.0.0.1", "127.0.0.2"])
            monkeypatch.setattr(socket, "getaddrinfo", dns)
            answer = await strict.post(f"http://hooks.test:{canary.port}/h", BODY, {})
            assert canary.connections() == 0
    finally:
        await strict.close()
    assert answer.outcome == outcomes.BLOCKED
    assert answer.status_code is None and answer.address is None
    assert "127.0.0.1" in (answer.error or "")


async def test_ipv6_literal_keeps_its_brackets_in_host() -> None:
    transport = Transport(timeout=2.0, networks=parse_networks("::1/128"))
    try:
        async with Receiver(host="::1") as receiver:
            answer = await transport.post(f"http://[::1]:{receiver.port}/hook", BODY, {})
    finally:
        await transport.close()
    assert (answer.outcome, answer.address) == (outcomes.SUCCESS, "::1")
    assert receiver.requests[0].headers["host"] == f"[::1]:{receiver.port}"


async def test_x1_internal_url_is_blocked_before_any_connection() -> None:
    """X1: without an allow-list a loopback URL never gets a SYN."""
    transport = Transport(timeout=2.0)
    try:
        with Canary() as canary:
            for url in (
                f"http://127.0.0.1:{canary.port}/",
                f"http://127.1:{canary.port}/",
                f"http://0x7f.1:{canary.port}/",
                f"http://localhost:{canary.port}/",
                f"http://[::ffff:127.0.0.1]:{canary.port}/",
                f"http://0.0.0.0:{canary.port}/",
            ):
                answer = await transport.post(url, BODY, {})
                assert answer.outcome == outcomes.BLOCKED, (url, answer)
            assert canary.connections() == 0
    finally:
        await transport.close()


async def test_sni_carries_the_name_not_the_pinned_address(
    sender: Transport, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TLS: the ClientHello names the URL's host although the socket goes to the IP.

    The canary reads the ClientHello (one TLS record) and hangs up; the post ends as a
    network error.
    """
    with Canary("127.0.0.1") as canary:
        monkeypatch.setattr(socket, "getaddrinfo", FakeDns("sni-name.test", ["127.0.0.1"]))
        task = asyncio.create_task(
            sender.post(f"https://sni-name.test:{canary.port}/hook", BODY, {})
        )
        deadline = time.monotonic() + 5
        hello = b""
        while time.monotonic() < deadline and not task.done():
            hello = canary.received()
            if len(hello) >= 5 and len(hello) >= 5 + int.from_bytes(hello[3:5], "big"):
                break
            await asyncio.sleep(0.02)
    answer = await task  # the canary closed: the handshake fails
    assert answer.outcome in (outcomes.NETWORK, outcomes.TIMEOUT), answer
    assert b"sni-name.test" in hello
    assert b"127.0.0.1" not in hello


async def test_w11_the_answer_is_read_only_up_to_max_response(sender: Transport) -> None:
    """W11: 10 MB answered, 1,000 bytes kept (the sender's max_response)."""
    big = b"x" * 10_000_000
    async with Receiver(lambda _r: Reply(200, body=big)) as receiver:
        answer = await sender.post(receiver.url, BODY, {})
    assert answer.outcome == outcomes.SUCCESS
    assert answer.body == "x" * 1000


@pytest.mark.parametrize(
    "body",
    [
        "€".encode() * 1000,  # 1,000 is not a multiple of 3: the cut splits a character
        b"\xff" * 2000,  # not UTF-8 at all: each byte would become a 3-byte U+FFFD
        b"ok\x00\x00binary",  # PostgreSQL text cannot hold NUL
    ],
    ids=["multibyte", "invalid-utf8", "nul"],
)
async def test_w11_the_kept_text_fits_max_response_bytes_and_a_text_column(
    sender: Transport, body: bytes
) -> None:
    """W11: what is stored is at most max_response bytes of UTF-8, without NUL."""
    async with Receiver(lambda _r: Reply(200, body=body)) as receiver:
        answer = await sender.post(receiver.url, BODY, {})
    assert answer.outcome == outcomes.SUCCESS
    assert answer.body is not None
    assert len(answer.body.encode("utf-8")) <= 1000
    assert "\x00" not in answer.body
    assert answer.body


async def test_the_timeout_covers_the_whole_exchange() -> None:
    """A receiver that sends its headers at once and then drips its body is cut at the
    total timeout, not kept alive by every byte."""

    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n")
        try:
            for _ in range(200):
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(0.05)
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(drip, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    transport = Transport(timeout=0.5, networks=LOOPBACK, max_response=100_000)
    try:
        started = time.monotonic()
        answer = await transport.post(f"http://127.0.0.1:{port}/", BODY, {})
        took = time.monotonic() - started
    finally:
        await transport.close()
        server.close()
    assert answer.outcome == outcomes.TIMEOUT, answer
    assert answer.address == "127.0.0.1"
    assert 0.45 <= took < 3.0  # 0.5 s, not the 10 s the drip would last


async def test_a_closed_port_is_a_network_error(sender: Transport) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    answer = await sender.post(f"http://127.0.0.1:{port}/", BODY, {})
    assert answer.outcome == outcomes.NETWORK, answer
    assert answer.address == "127.0.0.1" and answer.status_code is None


async def test_a_proxy_in_the_environment_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """Events go straight to the handler; an HTTP(S)_PROXY variable never sees them."""
    with Canary() as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
            monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        transport = Transport(timeout=2.0, networks=LOOPBACK)
        try:
            async with Receiver() as receiver:
                answer = await transport.post(receiver.url, BODY, {})
        finally:
            await transport.close()
        assert proxy.connections() == 0
    assert answer.outcome == outcomes.SUCCESS
    assert len(receiver.requests) == 1
