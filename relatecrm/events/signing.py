"""Standard Webhooks signatures for event deliveries (https://www.standardwebhooks.com).

Headers on every delivery, next to the untouched Bitrix body (research reliability §1.2):

* ``webhook-id``: stable per (outbox event, handler), so a retry or a replay keeps it and
  a receiver can deduplicate on it (:func:`message_id`);
* ``webhook-timestamp``: unix seconds of *this* attempt;
* ``webhook-signature``: ``v1,<base64 HMAC-SHA256("{id}.{timestamp}.{body}")>``, one
  per active secret, space-separated (key rotation).

Secrets look like ``whsec_<base64 of 24..64 random bytes>``.  Implemented with the
standard library only; the tests check it against the ``standardwebhooks`` package.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping, Sequence

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
DEFAULT_TOLERANCE = 300  # seconds; the spec's 5-minute window

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


class InvalidSecret(ValueError):
    """The secret is not ``whsec_`` + base64 of 24..64 bytes."""


class SignatureError(ValueError):
    """A delivery's headers do not verify: missing, stale or no matching signature."""


def new_secret() -> str:
    """A fresh signing secret: ``whsec_`` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key inside ``secret``; raises :class:`InvalidSecret`."""
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidSecret(f"a webhook secret starts with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSecret("a webhook secret is base64 after the prefix") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise InvalidSecret(
            f"a webhook secret holds {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes"
        )
    return key


def message_id(event_id: int, handler_id: int) -> str:
    """The ``webhook-id`` of one event for one handler; identical on every attempt."""
    return f"msg_{event_id}_{handler_id}"


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">``."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def sign(secret: str | Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one delivery attempt.

    Pass several secrets during a rotation: the receiver accepts any one signature.
    """
    if not msg_id or any(ch in msg_id for ch in " ,\r\n"):
        raise ValueError("a webhook-id is non-empty, without spaces, commas or newlines")
    keys = [secret] if isinstance(secret, str) else list(secret)
    if not keys:
        raise InvalidSecret("at least one secret is needed")
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(int(timestamp)),
        SIGNATURE_HEADER: " ".join(signature(key, msg_id, timestamp, body) for key in keys),
    }


def verify(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    now: int | None = None,
    tolerance: int = DEFAULT_TOLERANCE,
) -> None:
    """Check a delivery as a receiver would; raises :class:`SignatureError` if it fails.

    Header names are case-insensitive; the timestamp must be within ``tolerance``
    seconds of ``now`` (default: the current time).
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id = lowered.get(ID_HEADER)
    stamp = lowered.get(TIMESTAMP_HEADER)
    passed = lowered.get(SIGNATURE_HEADER)
    if not (msg_id and stamp and passed):
        raise SignatureError("missing webhook-id, webhook-timestamp or webhook-signature")
    if not stamp.isascii() or not stamp.isdigit():
        raise SignatureError("webhook-timestamp is not unix seconds")
    timestamp = int(stamp)
    current = int(time.time()) if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError("webhook-timestamp is outside the tolerance")
    expected = signature(secret, msg_id, timestamp, body).encode("ascii")
    for candidate in passed.split(" "):
        if hmac.compare_digest(expected, candidate.encode("utf-8", "replace")):
            return
    raise SignatureError("no matching signature")
