"""The /rest/ endpoint driven with plain HTTP: PHP-style form bodies, GET, URL forms, errors."""

from __future__ import annotations

import re
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .conftest import RunningServer

pytestmark = pytest.mark.acceptance

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TIME_KEYS = {"start", "finish", "duration", "processing", "date_start", "date_finish"}


@pytest.fixture
def http(relatecrm_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=relatecrm_server.webhook_url,
        verify=ssl.create_default_context(cafile=str(relatecrm_server.ca_pem)),
        trust_env=False,
        timeout=30.0,
    ) as client:
        yield client


def ok(response: httpx.Response) -> dict[str, Any]:
    """The body of a successful call, after checking the envelope."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert "error" not in body, body
    assert TIME_KEYS <= set(body["time"]), body
    return body


def error(response: httpx.Response, status: int) -> dict[str, Any]:
    """The body of a failed call, after checking the envelope."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert isinstance(body.get("error"), str), body
    assert isinstance(body.get("error_description"), str), body
    assert "time" not in body
    assert "result" not in body
    return body


def form_post(http: httpx.Client, method: str, body: str) -> httpx.Response:
    return http.post(method, content=body.encode(), headers=FORM)


def form_add(http: httpx.Client, body: str) -> int:
    deal_id = ok(form_post(http, "crm.deal.add", body))["result"]
    assert type(deal_id) is int and deal_id > 0, deal_id
    return deal_id


def get_deal(http: httpx.Client, deal_id: int) -> dict[str, Any]:
    result: dict[str, Any] = ok(http.post("crm.deal.get", json={"id": deal_id}))["result"]
    return result


def deal_count(http: httpx.Client) -> int:
    total: int = ok(http.post("crm.deal.list", json={"select": ["ID"]}))["total"]
    return total


def test_form_add_decodes_bracket_keys(http: httpx.Client) -> None:
    contact_id = ok(http.post("crm.contact.add", json={"fields": {"NAME": "Ann"}}))["result"]
    deal_id = form_add(
        http,
        "fields[TITLE]=Form+deal&fields[OPPORTUNITY]=150.5&fields[CURRENCY_ID]=USD"
        f"&fields[IS_MANUAL_OPPORTUNITY]=Y&fields[CONTACT_IDS][]={contact_id}",
    )

    deal = get_deal(http, deal_id)
    assert deal["ID"] == str(deal_id)
    assert deal["TITLE"] == "Form deal"
    assert deal["OPPORTUNITY"] == "150.50"
    assert deal["CURRENCY_ID"] == "USD"
    assert deal["IS_MANUAL_OPPORTUNITY"] == "Y"
    assert deal["STAGE_ID"] == "NEW"
    assert deal["CONTACT_ID"] == str(contact_id)


def test_form_add_decodes_percent_encoded_brackets(http: httpx.Client) -> None:
    deal_id = form_add(
        http, "fields%5BTITLE%5D=a%20b%26c&fields%5BOPPORTUNITY%5D=7&fields%5BOPENED%5D=N"
    )

    deal = get_deal(http, deal_id)
    assert deal["TITLE"] == "a b&c"
    assert deal["OPPORTUNITY"] == "7.00"
    assert deal["OPENED"] == "N"


def test_form_list_with_operator_filter_select_and_order(http: httpx.Client) -> None:
    ids = {amount: form_add(http, f"fields[OPPORTUNITY]={amount}") for amount in (100, 300, 200)}

    body = ok(
        form_post(http, "crm.deal.list", "filter[%3EOPPORTUNITY]=150&select[]=ID&order[ID]=DESC")
    )

    expected = sorted((ids[300], ids[200]), reverse=True)
    assert body["result"] == [{"ID": str(deal_id)} for deal_id in expected]
    assert body["total"] == 2
    assert "next" not in body


def test_get_with_query_string(http: httpx.Client, relatecrm_server: RunningServer) -> None:
    deal_id = form_add(http, "fields[TITLE]=Queried&fields[OPPORTUNITY]=42")
    form_add(http, "fields[TITLE]=Someone+else")

    assert ok(http.get("crm.deal.get", params={"id": str(deal_id)}))["result"]["TITLE"] == "Queried"

    # Literal brackets in the query string, exactly as the Bitrix docs write them.
    query = "select[]=ID&select[]=TITLE&filter[TITLE]=Queried"
    body = ok(http.get(f"{relatecrm_server.webhook_url}crm.deal.list?{query}"))
    assert body["result"] == [{"ID": str(deal_id), "TITLE": "Queried"}]
    assert body["total"] == 1

    # The same query with encoded brackets, as httpx and most clients send it.
    body = ok(
        http.get(
            "crm.deal.list",
            params=[("select[]", "OPPORTUNITY"), ("filter[%TITLE]", "uerie")],
        )
    )
    assert body["result"] == [{"OPPORTUNITY": "42.00"}]


@pytest.mark.parametrize(
    "path",
    [
        "crm.deal.get",
        "crm.deal.get.json",
        "crm.deal.get/",
        "crm.deal.get.json/",
        "crm.deal.Get.json",
    ],
)
def test_json_suffix_trailing_slash_and_case(http: httpx.Client, path: str) -> None:
    deal_id = form_add(http, "fields[TITLE]=Suffix")

    body = ok(http.post(path, json={"id": deal_id}))

    assert body["result"]["ID"] == str(deal_id)
    assert body["result"]["TITLE"] == "Suffix"


def test_wrong_webhook_code_is_rejected(
    http: httpx.Client, relatecrm_server: RunningServer
) -> None:
    base = relatecrm_server.public_url
    user, code = relatecrm_server.user_id, relatecrm_server.webhook_code
    urls = [
        f"{base}/rest/{user}/x{code}/crm.deal.list.json",
        f"{base}/rest/{user}/{code[:-1]}/crm.deal.list.json",
        f"{base}/rest/{user + 1000}/{code}/crm.deal.list.json",
    ]
    before = deal_count(http)

    for url in urls:
        response = http.post(url, json={})
        assert response.status_code in (401, 403), (url, response.status_code, response.text)
        body = error(response, response.status_code)
        expected = {
            401: ("NO_AUTH_FOUND", "Wrong authorization data"),
            403: ("INVALID_CREDENTIALS", "Invalid request credentials"),
        }[response.status_code]
        assert (body["error"], body["error_description"]) == expected, url

    rejected_add = http.post(f"{base}/rest/{user}/x{code}/crm.deal.add", json={"fields": {}})
    assert rejected_add.status_code in (401, 403)
    assert deal_count(http) == before


def test_unknown_method_is_404(http: httpx.Client) -> None:
    for path in ("crm.deal.nosuchthing.json", "crm.nothing", "no.such.method/"):
        body = error(http.post(path, json={}), 404)
        assert body == {"error": "ERROR_METHOD_NOT_FOUND", "error_description": "Method not found!"}


def test_malformed_json_is_400_and_writes_nothing(http: httpx.Client) -> None:
    form_add(http, "fields[TITLE]=Existing")
    before = deal_count(http)

    response = http.post(
        "crm.deal.add",
        content=b'{"fields": {"TITLE": "broken", "OPPORTUNITY": 5',
        headers={"Content-Type": "application/json"},
    )

    error(response, 400)
    assert deal_count(http) == before == 1
    matching = ok(http.post("crm.deal.list", json={"filter": {"TITLE": "broken"}}))
    assert matching["result"] == []
    assert matching["total"] == 0


def test_serve_prints_a_working_webhook_url(
    http: httpx.Client, relatecrm_server: RunningServer
) -> None:
    match = re.search(r"https?://\S+?/rest/(\d+)/([^/\s]+)/", relatecrm_server.log())
    assert match, f"no webhook URL in the serve output:\n{relatecrm_server.log()}"
    user, code = match.groups()

    response = http.post(
        f"{relatecrm_server.public_url}/rest/{user}/{code}/crm.deal.fields.json", json={}
    )

    assert "TITLE" in ok(response)["result"]


def test_sigterm_stops_the_server_despite_an_idle_keepalive_connection(
    http: httpx.Client, relatecrm_server: RunningServer
) -> None:
    ok(http.post("crm.deal.fields", json={}))  # the connection stays open in the pool

    seconds = relatecrm_server.terminate(timeout=10.0)

    assert seconds is not None, "relatecrm serve ignored SIGTERM for 10 s with an idle client"
    assert relatecrm_server.process.returncode is not None
