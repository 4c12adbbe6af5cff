"""The SSRF guard for handler URLs (reliability.md §6): no delivery to internal addresses.

A handler URL must be ``http(s)://host[:port]/...`` without userinfo. Every address the host
resolves to must be public, unless it lies in an administrator's allow-list
(``RELATECRM_WEBHOOK_ALLOWED_NETWORKS``). ``check_url`` returns the addresses so that the
delivery worker can connect to exactly those (no second, rebindable DNS answer).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

MAX_URL_LENGTH = 2000
# Ranges ``ipaddress`` does not flag everywhere: CGNAT, benchmarking, NAT64, 6to4 relays.
EXTRA_BLOCKED: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("100.64.0.0/10"),
    ipaddress.ip_network("198.18.0.0/15"),
    ipaddress.ip_network("192.0.0.0/24"),
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("2002::/16"),
)


class UnsafeUrl(ValueError):
    """The handler URL is malformed or points at an address we refuse to call."""


def parse_networks(text: str) -> tuple[IPNetwork, ...]:
    """``"10.0.0.0/8, fd00::/8"`` → networks; raises ``ValueError`` on a bad entry."""
    networks = []
    for part in text.split(","):
        part = part.strip()
        if part:
            networks.append(ipaddress.ip_network(part, strict=False))
    return tuple(networks)


def is_internal(address: IPAddress) -> bool:
    """Loopback, private, link-local, CGNAT, multicast, unspecified, reserved ... or mapped."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None and is_internal(mapped):
            return True
        if address.teredo is not None:
            return True
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return True
    return (
        address.is_loopback
        or address.is_private
        or address.is_link_local
        or address.is_multicast
        or address.is_unspecified
        or address.is_reserved
        or not address.is_global
        or any(address in net for net in EXTRA_BLOCKED if net.version == address.version)
    )


def allowed(address: IPAddress, networks: Sequence[IPNetwork]) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks if network.version == address.version)


def split_url(url: str) -> tuple[str, int]:
    """The host and port of an acceptable handler URL, or ``UnsafeUrl``."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl("Handler URL is missing or too long.")
    if any(ord(char) <= 32 or ord(char) == 127 for char in url):
        raise UnsafeUrl("Handler URL must not contain spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeUrl("Handler URL is not a valid URL.") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise UnsafeUrl("Handler URL must use http or https.")
    if "@" in parts.netloc:
        raise UnsafeUrl("Handler URL must not contain user information.")
    host = parts.hostname
    if not host:
        raise UnsafeUrl("Handler URL has no host.")
    return host, port or (443 if parts.scheme.lower() == "https" else 80)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnsafeUrl(f"Handler host {host} does not resolve.") from None
    found: list[IPAddress] = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]
        address = ipaddress.ip_address(text)
        if address not in found:
            found.append(address)
    if not found:
        raise UnsafeUrl(f"Handler host {host} does not resolve.")
    return found


async def check_url(url: str, networks: Sequence[IPNetwork] = ()) -> list[IPAddress]:
    """The addresses to deliver ``url`` to, all of them acceptable; else ``UnsafeUrl``.

    A host that is not a plain dotted or IPv6 literal goes through the resolver, which
    also turns ``2130706433`` or ``0177.0.0.1`` into the address the socket would use.
    """
    host, port = split_url(url)
    literal = _literal(host)
    if literal is not None:
        addresses = [literal]
    else:
        addresses = await asyncio.to_thread(_resolve, host, port)
    for address in addresses:
        if is_internal(address) and not allowed(address, networks):
            raise UnsafeUrl(f"Handler URL resolves to an internal address ({address}).")
    return addresses
