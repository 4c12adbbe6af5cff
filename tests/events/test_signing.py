"""W8, signature conformance (research reliability §5.1): our Standard Webhooks headers
verify with the reference ``standardwebhooks`` package, and any tampering fails."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from relatecrm.events import signing
from relatecrm.events.payload import form_body, webhook_auth

BODY = form_body(
    "onCrmDealUpdate",
    185,
    {"FIELDS": {"ID": 7405, "TITLE": "Сделка & co"}},
    1766047124,
    webhook_auth(domain="p.example.com", member_id="m", application_token="tok"),
)


def _headers(secret: str, body: bytes = BODY, msg_id: str = "msg_1_2") -> dict[str, str]:
    return signing.sign(secret, msg_id, int(time.time()), body)


def test_w8_signature_verifies_with_standardwebhooks() -> None:
    """W8: the reference verifier accepts our headers for our form body."""
    secret = signing.new_secret()
    headers = _headers(secret)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-signature"].startswith("v1,")
    Webhook(secret).verify(BODY, headers, json_parse=False)
    signing.verify(secret, BODY, headers)


def test_w8_reference_signature_equals_ours() -> None:
    """W8: byte-identical to the package's own sign() for the same id and time."""
    secret = signing.new_secret()
    from datetime import UTC, datetime

    ref = Webhook(secret).sign("msg_9_1", datetime.fromtimestamp(1766047124, UTC), BODY.decode())
    assert signing.signature(secret, "msg_9_1", 1766047124, BODY) == ref


@pytest.mark.parametrize("part", ["body", "id", "timestamp", "secret", "signature"])
def test_w8_tampering_fails_both_verifiers(part: str) -> None:
    """W8: a 1-byte body flip, another id, another timestamp, a wrong secret all fail."""
    secret = signing.new_secret()
    headers = _headers(secret)
    body = BODY
    if part == "body":
        body = bytes([BODY[0] ^ 1]) + BODY[1:]
    elif part == "id":
        headers["webhook-id"] = "msg_1_3"
    elif part == "timestamp":
        headers["webhook-timestamp"] = str(int(headers["webhook-timestamp"]) - 1)
    elif part == "secret":
        secret = signing.new_secret()
    else:
        digest = bytearray(base64.b64decode(headers["webhook-signature"][3:]))
        digest[0] ^= 1
        headers["webhook-signature"] = "v1," + base64.b64encode(bytes(digest)).decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers, json_parse=False)
    with pytest.raises(signing.SignatureError):
        signing.verify(secret, body, headers)


@pytest.mark.parametrize("skew", [-301, 301])
def test_w8_timestamp_outside_five_minutes_fails(skew: int) -> None:
    """W8: a correctly signed but stale or future timestamp (±301 s) is rejected."""
    secret = signing.new_secret()
    headers = signing.sign(secret, "msg_1_2", int(time.time()) + skew, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, headers, json_parse=False)
    with pytest.raises(signing.SignatureError):
        signing.verify(secret, BODY, headers)


def test_w8_message_id_is_stable_across_retries() -> None:
    """W8: the same event for the same handler keeps its webhook-id; the timestamp moves."""
    secret = signing.new_secret()
    msg_id = signing.message_id(41, 7)
    first = signing.sign(secret, msg_id, 1_000, BODY)
    retry = signing.sign(secret, signing.message_id(41, 7), 1_060, BODY)
    assert first["webhook-id"] == retry["webhook-id"] == "msg_41_7"
    assert first["webhook-signature"] != retry["webhook-signature"]
    assert signing.message_id(41, 8) != msg_id != signing.message_id(42, 7)


def test_w8_key_rotation_any_secret_verifies() -> None:
    """W8: with two secrets, receivers holding either one accept the delivery."""
    old, new = signing.new_secret(), signing.new_secret()
    headers = signing.sign([old, new], "msg_1_2", int(time.time()), BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(BODY, headers, json_parse=False)
        signing.verify(secret, BODY, headers)


def test_w8_secret_format() -> None:
    """W8: whsec_ + base64 of 32 random bytes; malformed secrets are refused."""
    secret = signing.new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[len("whsec_") :], validate=True)) == 32
    assert signing.new_secret() != secret
    short = "whsec_" + base64.b64encode(b"x" * 23).decode()
    long = "whsec_" + base64.b64encode(b"x" * 65).decode()
    for bad in ("nope", "whsec_!!!", short, long, secret[len("whsec_") :]):
        with pytest.raises(signing.InvalidSecret):
            signing.sign(bad, "msg_1_2", 1, BODY)


def test_w8_missing_headers_fail() -> None:
    """W8: a delivery without any one of the three headers does not verify."""
    secret = signing.new_secret()
    for name in ("webhook-id", "webhook-timestamp", "webhook-signature"):
        headers = _headers(secret)
        del headers[name]
        with pytest.raises(signing.SignatureError):
            signing.verify(secret, BODY, headers)
    upper = {name.upper(): value for name, value in _headers(secret).items()}
    signing.verify(secret, BODY, upper)
