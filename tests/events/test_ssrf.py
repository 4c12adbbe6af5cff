"""The SSRF guard for handler URLs (reliability.md §6): hostile URLs are refused."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest

from relatecrm.config import Settings
from relatecrm.events.ssrf import UnsafeUrl, check_url, parse_networks

HOSTILE = [
    "http://127.0.0.1/",
    "http://127.0.0.1:8000/rest/",
    "http://localhost/",
    "http://[::1]/",
    "http://[::]/",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/",
    "http://[fd00::1]/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://240.0.0.1/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::ffff:7f00:1]/",
    "http://[2002:7f00:1::]/",
    "http://[64:ff9b::7f00:1]/",
    "http://2130706433/",
    "http://0177.0.0.1/",
    "http://0x7f000001/",
    "http://127.1/",
    "http://017700000001/",
]
MALFORMED = [
    "ftp://93.184.215.14/",
    "file:///etc/passwd",
    "gopher://93.184.215.14/",
    "javascript:alert(1)",
    "//93.184.215.14/",
    "93.184.215.14",
    "http:///path",
    "http://evil@127.0.0.1/",
    "http://user:pass@93.184.215.14/",
    "http://93.184.215.14@127.0.0.1/",
    "http://93.184.215.14:99999/",
    "http://93.184.215.14:port/",
    "http://93.184.215.14 /",
    "http://93.184.215.14/\r\nHost: x",
    "http://[::1/",
    "http://LOCALHOST./",  # refused: internal, or does not resolve
    "",
    "x" * 3000,
]


@pytest.mark.parametrize("url", HOSTILE)
async def test_internal_addresses_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrl, match="internal address"):
        await check_url(url)


@pytest.mark.parametrize("url", MALFORMED)
async def test_malformed_urls_are_refused(url: str) -> None:
    with pytest.raises(UnsafeUrl):
        await check_url(url)


async def test_public_addresses_pass_and_are_returned_for_pinning() -> None:
    assert await check_url("https://93.184.215.14/h?x=1") == [ipaddress.ip_address("93.184.215.14")]
    assert await check_url("HTTP://[2606:2800:21f:cb07:6820:80da:af6b:8b2c]:8443/") == [
        ipaddress.ip_address("2606:2800:21f:cb07:6820:80da:af6b:8b2c")
    ]


def _fake_dns(monkeypatch: pytest.MonkeyPatch, answers: list[str]) -> list[tuple[str, int]]:
    asked: list[tuple[str, int]] = []

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        asked.append((host, port))
        family = socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (answer, port)) for answer in answers]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


async def test_a_name_is_refused_if_any_answer_is_internal(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _fake_dns(monkeypatch, ["93.184.215.14", "10.0.0.5"])
    with pytest.raises(UnsafeUrl, match="10.0.0.5"):
        await check_url("https://hooks.example.com/x")
    assert asked == [("hooks.example.com", 443)]


async def test_a_scoped_ipv6_answer_is_read_without_its_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _fake_dns(monkeypatch, ["fe80::1%eth0"])
    with pytest.raises(UnsafeUrl, match="fe80::1"):
        await check_url("https://hooks.example.com/x")


async def test_a_name_with_public_answers_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dns(monkeypatch, ["93.184.215.14", "93.184.215.14"])
    assert await check_url("http://hooks.example.com:8080/") == [
        ipaddress.ip_address("93.184.215.14")
    ]


async def test_a_name_that_does_not_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any, **kwargs: Any) -> list[Any]:
        raise socket.gaierror("no such host")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(UnsafeUrl, match="does not resolve"):
        await check_url("https://nowhere.invalid/")


async def test_the_allow_list() -> None:
    networks = parse_networks(" 10.20.0.0/16, 127.0.0.1/32 ,fd00::/8,")
    assert await check_url("http://10.20.3.4/", networks) == [ipaddress.ip_address("10.20.3.4")]
    assert await check_url("http://127.0.0.1:9000/", networks)
    assert await check_url("http://[fd00::5]/", networks)
    assert await check_url("http://[::ffff:10.20.0.1]/", networks)
    with pytest.raises(UnsafeUrl):
        await check_url("http://10.21.0.1/", networks)
    with pytest.raises(UnsafeUrl):
        await check_url("http://127.0.0.2/", networks)
    with pytest.raises(UnsafeUrl):
        await check_url("http://169.254.169.254/", networks)


def test_settings_parse_the_allow_list() -> None:
    assert Settings().allowed_networks() == ()
    settings = Settings(webhook_allowed_networks="10.0.0.0/8,::1")
    assert settings.allowed_networks() == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("::1/128"),
    )
    with pytest.raises(ValueError):
        Settings(webhook_allowed_networks="10.0.0.0/33")
    with pytest.raises(ValueError):
        Settings(webhook_allowed_networks="not-a-network")
