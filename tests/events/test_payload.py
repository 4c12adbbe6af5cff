"""W9, Bitrix body fidelity (research reliability §5.1): our event POST body is the body
the Bitrix24 queue server sends (protocol spec §6.2), byte for byte."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

import pytest

from relatecrm.bitrix.params import parse_php_query
from relatecrm.events import payload
from relatecrm.events.payload import (
    AUTH_ORDER,
    app_auth,
    auth_block,
    event_data,
    form_body,
    http_build_query,
    php_float,
    php_urlencode,
    webhook_auth,
)

# The raw body captured by b24phpsdk (spec §6.2, [PHPSDK]
# tests/Unit/Services/RemoteEventsFabricTest.php), tokens unabridged.
CAPTURED = (
    b"event=ONCRMCONTACTADD&event_handler_id=58&data%5BFIELDS%5D%5BID%5D=134806&ts=1727018926"
    b"&auth%5Baccess_token%5D=be45f0660071849a0058f18a000000010000077261ef50fc26f1357adbd86a052c9e48"
    b"&auth%5Bexpires%5D=1727022526&auth%5Bexpires_in%5D=3600"
    b"&auth%5Bscope%5D=crm%2Cplacement%2Cuser_brief"
    b"&auth%5Bdomain%5D=bitrix24-php-sdk-playground.bitrix24.com"
    b"&auth%5Bserver_endpoint%5D=https%3A%2F%2Foauth.bitrix.info%2Frest%2F&auth%5Bstatus%5D=L"
    b"&auth%5Bclient_endpoint%5D=https%3A%2F%2Fbitrix24-php-sdk-playground.bitrix24.com%2Frest%2F"
    b"&auth%5Bmember_id%5D=010b6886ebc205e43ae65000ee00addb&auth%5Buser_id%5D=1"
    b"&auth%5Bapplication_token%5D=3c6c9248ec54af6bea1159b43ee0ab32"
)
DOMAIN = "bitrix24-php-sdk-playground.bitrix24.com"


def _captured_auth() -> dict[str, str]:
    return app_auth(
        access_token="be45f0660071849a0058f18a000000010000077261ef50fc26f1357adbd86a052c9e48",
        expires=1727022526,
        expires_in=3600,
        scope="crm,placement,user_brief",
        domain=DOMAIN,
        status="L",
        member_id="010b6886ebc205e43ae65000ee00addb",
        user_id=1,
        application_token="3c6c9248ec54af6bea1159b43ee0ab32",
    )


def _names(body: bytes) -> list[str]:
    return [unquote_plus(piece.split(b"=", 1)[0].decode()) for piece in body.split(b"&")]


def _leaves(tree: Any) -> list[Any]:
    if isinstance(tree, dict):
        return [leaf for value in tree.values() for leaf in _leaves(value)]
    return [tree]


def test_w9_captured_body_reproduced_byte_for_byte() -> None:
    """W9: the §6.2 captured ONCRMCONTACTADD body, rebuilt from its decoded values."""
    body = form_body(
        "onCrmContactAdd", 58, {"FIELDS": {"ID": 134806}}, 1727018926, _captured_auth()
    )
    assert body == CAPTURED


def test_w9_captured_body_is_what_php_parse_str_reads_back() -> None:
    """W9: our parse_str decodes the captured body to the same tree we encode from."""
    tree = parse_php_query(CAPTURED)
    assert http_build_query(tree) == CAPTURED
    assert tree["auth"] == _captured_auth()
    assert all(isinstance(leaf, str) for leaf in _leaves(tree))


def test_w9_key_order_and_no_extra_keys() -> None:
    """W9: event, event_handler_id, data[...], ts, auth[...] in the documented order."""
    body = form_body(
        "onCrmDealMoveToCategory",
        655,
        {"FIELDS": {"ID": 6675, "CATEGORY_ID": 1, "STAGE_ID": "C1:NEW"}},
        1736424182,
        _captured_auth(),
    )
    assert _names(body) == [
        "event",
        "event_handler_id",
        "data[FIELDS][ID]",
        "data[FIELDS][CATEGORY_ID]",
        "data[FIELDS][STAGE_ID]",
        "ts",
        *(f"auth[{key}]" for key in AUTH_ORDER if key != "refresh_token"),
    ]
    assert body.startswith(b"event=ONCRMDEALMOVETOCATEGORY&event_handler_id=655&")
    assert b"data%5BFIELDS%5D%5BSTAGE_ID%5D=C1%3ANEW" in body


def test_w9_event_is_sent_upper_case() -> None:
    """W9: onCrmDealUpdate is posted as ONCRMDEALUPDATE."""
    body = form_body("onCrmDealUpdate", 1, {"FIELDS": {"ID": 5}}, 1, None)
    assert body == b"event=ONCRMDEALUPDATE&event_handler_id=1&data%5BFIELDS%5D%5BID%5D=5&ts=1"


def test_w9_every_value_arrives_as_a_string() -> None:
    """W9: ints, bools, floats become PHP's strings; None and empty arrays vanish (PHP)."""
    data = {"FIELDS": {"ID": 5, "YES": True, "NO": False, "F": 1.5, "NIL": None, "E": []}}
    tree = parse_php_query(form_body("x", 7, data, 9, None))
    assert tree == {
        "event": "X",
        "event_handler_id": "7",
        "data": {"FIELDS": {"ID": "5", "YES": "1", "NO": "0", "F": "1.5"}},
        "ts": "9",
    }


def test_w9_nested_data_with_lists_is_indexed() -> None:
    """W9: lists become [0], [1] ...; maps nest as PHP bracket keys."""
    data = {"FIELDS": {"ID": 1, "PHONE": [{"VALUE": "+1 555", "TYPE": "WORK"}, {"VALUE": "2"}]}}
    body = form_body("ONCRMCONTACTUPDATE", 3, data, 4, None)
    assert _names(body)[2:5] == [
        "data[FIELDS][ID]",
        "data[FIELDS][PHONE][0][VALUE]",
        "data[FIELDS][PHONE][0][TYPE]",
    ]
    assert b"data%5BFIELDS%5D%5BPHONE%5D%5B0%5D%5BVALUE%5D=%2B1+555" in body
    assert parse_php_query(body)["data"] == {
        "FIELDS": {
            "ID": "1",
            "PHONE": {"0": {"VALUE": "+1 555", "TYPE": "WORK"}, "1": {"VALUE": "2"}},
        }
    }


def test_w9_cyrillic_values_are_utf8_percent_encoded() -> None:
    """W9: non-ASCII text is UTF-8, upper-case %XX, as PHP urlencode."""
    body = form_body("ONCRMDEALUPDATE", 1, {"FIELDS": {"TITLE": "Сделка №1"}}, 2, None)
    assert b"data%5BFIELDS%5D%5BTITLE%5D=%D0%A1%D0%B4%D0%B5%D0%BB%D0%BA%D0%B0+%E2%84%961" in body
    assert parse_php_query(body)["data"]["FIELDS"]["TITLE"] == "Сделка №1"


HOSTILE = ["a&b=c", "x=y", "[0]", "]]", "a[b]=c&d", "line\nbreak\r\n", "100%", "+ +", "~*'!()"]


@pytest.mark.parametrize("value", HOSTILE)
def test_w9_hostile_values_round_trip_through_parse_str(value: str) -> None:
    """W9: & = [ ] newlines etc. in values and keys never change the parsed structure."""
    # Keys are encoded too; only brackets inside a key are ambiguous (in PHP as well).
    key = "K" + value.replace("[", "(").replace("]", ")")
    data = {"FIELDS": {"ID": 1, "TITLE": value, "LIST": [value, value]}, key: value}
    auth = webhook_auth(domain="p.example.com", member_id=value, application_token=value)
    tree = parse_php_query(form_body("ONCRMDEALADD", 1, data, 2, auth))
    assert tree["data"] == {
        "FIELDS": {"ID": "1", "TITLE": value, "LIST": {"0": value, "1": value}},
        key: value,
    }
    assert tree["auth"]["member_id"] == value
    assert tree["auth"]["application_token"] == value
    assert list(tree) == ["event", "event_handler_id", "data", "ts", "auth"]


def test_w9_php_urlencode_matches_php() -> None:
    """W9: RFC 1738 as PHP: space is +, only [A-Za-z0-9_.-] bare, ~ and * escaped."""
    assert php_urlencode("a b-_.~*") == "a+b-_.%7E%2A"
    assert php_urlencode("https://x/rest/") == "https%3A%2F%2Fx%2Frest%2F"


@pytest.mark.parametrize(
    ("value", "text"),
    [(1.0, "1"), (0.1, "0.1"), (-2.5, "-2.5"), (1e20, "1.0E+20"), (1.5e-7, "1.5E-7"),
     (0.0001, "0.0001"), (1 / 3, "0.33333333333333")],
)  # fmt: skip
def test_w9_floats_print_as_php_precision_14(value: float, text: str) -> None:
    """W9: floats, should one reach a body, read as PHP 8 prints them."""
    assert php_float(value) == text


def test_w9_webhook_auth_block_has_no_tokens() -> None:
    """W9: an outgoing webhook's auth: domain, endpoints, member_id, application_token."""
    auth = webhook_auth(domain="p.example.com", member_id="m1", application_token="tok")
    assert auth == {
        "domain": "p.example.com",
        "server_endpoint": "https://oauth.bitrix.info/rest/",
        "client_endpoint": "https://p.example.com/rest/",
        "member_id": "m1",
        "application_token": "tok",
    }
    assert list(auth) == [key for key in AUTH_ORDER if key in auth]
    assert auth_block(domain="p.example.com", member_id="m1", application_token="tok") == auth


def test_w9_app_auth_block_in_captured_order() -> None:
    """W9: an application's auth has the eleven keys of the captured body, in order."""
    assert list(_captured_auth()) == [
        "access_token", "expires", "expires_in", "scope", "domain", "server_endpoint",
        "status", "client_endpoint", "member_id", "user_id", "application_token",
    ]  # fmt: skip
    with_refresh = auth_block(
        domain="d", member_id="m", application_token="a", access_token="t", expires=2,
        user_id=1, refresh_token="r",
    )  # fmt: skip
    assert list(with_refresh)[-2:] == ["refresh_token", "application_token"]
    assert all(isinstance(value, str) for value in with_refresh.values())
    with pytest.raises(ValueError):
        auth_block(domain="d", member_id="m", application_token="a", access_token="t")


def test_w9_event_data_from_outbox_rows() -> None:
    """W9: outbox payloads become Bitrix data with string leaves, in documented order."""
    assert event_data(
        {"event": "onCrmDealUpdate", "entity_id": 5, "payload": {"FIELDS": {"ID": 5}}}
    ) == {"FIELDS": {"ID": "5"}}
    moved = event_data(
        {
            "event": "onCrmDealMoveToCategory",
            "entity_id": 6675,
            "payload": {"FIELDS": {"STAGE_ID": "C1:NEW", "CATEGORY_ID": 1, "ID": 6675}},
        }
    )
    assert list(moved["FIELDS"].items()) == [
        ("ID", "6675"),
        ("CATEGORY_ID", "1"),
        ("STAGE_ID", "C1:NEW"),
    ]
    assert event_data({"event": "onCrmDealDelete", "entity_id": 9, "payload": {}}) == {
        "FIELDS": {"ID": "9"}
    }
    userfield = event_data(
        {
            "event": "onCrmDealUserFieldAdd",
            "entity_id": 3,
            "payload": {"FIELDS": {"ID": 3, "ENTITY_ID": "CRM_DEAL", "FIELD_NAME": "UF_X"}},
        }
    )
    assert userfield == {"FIELDS": {"ID": "3", "ENTITY_ID": "CRM_DEAL", "FIELD_NAME": "UF_X"}}


def test_w9_unencodable_leaf_is_refused() -> None:
    """W9: an object that PHP could not have sent is an error, not a silent str()."""
    with pytest.raises(TypeError):
        payload.flatten({"data": {"X": object()}})


@pytest.mark.parametrize("kind", ["application", "webhook"])
def test_w9_b24pysdk_accepts_our_body(kind: str) -> None:
    """W9: b24pysdk's OAuthEventData parses our body, for app and webhook auth blocks."""
    from urllib.parse import parse_qsl

    from b24pysdk.credentials.oauth_event_data import OAuthEventData

    auth = (
        _captured_auth()
        if kind == "application"
        else webhook_auth(domain=DOMAIN, member_id="m1", application_token="tok")
    )
    body = form_body("onCrmDealUpdate", 185, {"FIELDS": {"ID": 7405}}, 1766047124, auth)
    event = OAuthEventData.from_dict(dict(parse_qsl(body.decode(), keep_blank_values=True)))
    assert event.event == "ONCRMDEALUPDATE"
    assert event.event_handler_id == 185
    assert int(event.ts.timestamp()) == 1766047124
    assert event.data == {"FIELDS": {"ID": "7405"}}
    assert event.auth.is_system is (kind == "webhook")
