"""crm.deal.* through the official Python SDK, b24pysdk, against a live server.

The SDK is used exactly as its users use it: ``Client(BitrixWebhook(...))`` and the
``client.crm.deal`` scope. The only thing set for it is the environment variable
``REQUESTS_CA_BUNDLE``, which ``requests`` (the SDK's transport) reads, so that it
trusts the test CA.
"""

from __future__ import annotations

import pytest
from b24pysdk import BitrixWebhook, Client
from b24pysdk.errors import BitrixAPIBadRequest, BitrixAPIError

from .conftest import RunningServer

pytestmark = pytest.mark.acceptance

PAGE_SIZE = 50
BULK_DEALS = 120


def add_deal(client: Client, **fields: object) -> int:
    deal_id = client.crm.deal.add(fields=fields).result
    assert type(deal_id) is int, f"crm.deal.add must return a JSON integer, got {deal_id!r}"
    assert deal_id > 0
    return deal_id


def test_fields_describes_the_system_fields(client: Client) -> None:
    request = client.crm.deal.fields()

    raw = request.result
    assert len(raw) >= 45
    assert raw["TITLE"] == {
        "type": "string",
        "isRequired": False,
        "isReadOnly": False,
        "isImmutable": False,
        "isMultiple": False,
        "isDynamic": False,
        "title": "Title",
    }
    assert list(raw)[:3] == ["ID", "TITLE", "TYPE_ID"]

    # The SDK's own schema parses every descriptor.
    fields = request.value
    assert fields["ID"].type == "integer"
    assert fields["ID"].is_read_only is True
    assert fields["STAGE_ID"].status_type == "DEAL_STAGE"
    assert fields["CATEGORY_ID"].is_immutable is True
    assert fields["CONTACT_IDS"].is_multiple is True
    assert fields["CONTACT_ID"].is_deprecated is True
    assert fields["COMPANY_ID"].settings == {"parentEntityTypeId": 4}
    assert all(field.is_required is False for field in fields.values())

    assert request.time.duration >= 0
    assert request.time.date_start <= request.time.date_finish


def test_add_then_get_renders_every_scalar_as_a_string(client: Client) -> None:
    deal_id = add_deal(
        client,
        TITLE="SDK deal",
        OPPORTUNITY=1234.5,
        CURRENCY_ID="EUR",
        IS_MANUAL_OPPORTUNITY="Y",
    )

    deal = client.crm.deal.get(deal_id).result

    assert deal["ID"] == str(deal_id)
    assert deal["TITLE"] == "SDK deal"
    assert deal["OPPORTUNITY"] == "1234.50"
    assert deal["CURRENCY_ID"] == "EUR"
    assert deal["IS_MANUAL_OPPORTUNITY"] == "Y"
    assert deal["TAX_VALUE"] == "0.00"
    assert deal["STAGE_ID"] == "NEW"
    assert deal["STAGE_SEMANTIC_ID"] == "P"
    assert deal["CATEGORY_ID"] == "0"
    assert deal["CLOSED"] == "N"
    assert deal["OPENED"] == "Y"
    assert deal["ASSIGNED_BY_ID"] == "1"
    assert deal["CREATED_BY_ID"] == "1"
    assert deal["MODIFY_BY_ID"] == "1"
    assert "CONTACT_IDS" not in deal
    not_strings = {key: value for key, value in deal.items() if not isinstance(value, str | None)}
    assert not_strings == {}


def test_add_without_title_gets_the_default_title(client: Client) -> None:
    deal_id = add_deal(client, OPPORTUNITY=10)

    deal = client.crm.deal.get(deal_id).result

    assert deal["TITLE"] == f"Deal #{deal_id}"
    assert deal["OPPORTUNITY"] == "10.00"
    assert deal["STAGE_ID"] == "NEW"
    assert deal["CLOSED"] == "N"


def test_update_to_won_closes_the_deal(client: Client) -> None:
    deal_id = add_deal(client, TITLE="to be won", OPPORTUNITY=500, IS_MANUAL_OPPORTUNITY="Y")

    assert client.crm.deal.update(deal_id, {"STAGE_ID": "WON"}).result is True

    deal = client.crm.deal.get(deal_id).result
    assert deal["STAGE_ID"] == "WON"
    assert deal["STAGE_SEMANTIC_ID"] == "S"
    assert deal["CLOSED"] == "Y"
    assert deal["TITLE"] == "to be won"
    assert deal["OPPORTUNITY"] == "500.00"


def test_list_with_filter_select_and_order(client: Client) -> None:
    amounts = [100, 300, 200, 400, 50]
    ids = {
        amount: add_deal(client, TITLE=f"amount {amount}", OPPORTUNITY=amount) for amount in amounts
    }
    add_deal(client, TITLE="too big", OPPORTUNITY=1000)
    # This one moves out of the NEW stage, so the stage filter must drop it.
    client.crm.deal.update(ids[400], {"STAGE_ID": "WON"}).call()

    response = client.crm.deal.list(
        select=["ID", "TITLE", "OPPORTUNITY"],
        filter={">OPPORTUNITY": 150, "<=OPPORTUNITY": 999, "STAGE_ID": "NEW"},
        order={"OPPORTUNITY": "DESC"},
    ).response

    assert response.result == [
        {"ID": str(ids[300]), "TITLE": "amount 300", "OPPORTUNITY": "300.00"},
        {"ID": str(ids[200]), "TITLE": "amount 200", "OPPORTUNITY": "200.00"},
    ]
    assert response.total == 2
    assert response.next is None


def _bulk_create(client: Client) -> list[int]:
    ids = [add_deal(client, TITLE=f"bulk {index:03d}") for index in range(BULK_DEALS)]
    # Deals outside the filter, interleaved by ID with the ones inside it.
    for index in range(3):
        other = add_deal(client, TITLE=f"other {index}")
        client.crm.deal.update(other, {"STAGE_ID": "PREPARATION"}).call()
    ids.extend(add_deal(client, TITLE=f"bulk late {index}") for index in range(5))
    return ids


def test_list_pages_by_fifty_with_next_and_total(client: Client) -> None:
    ids = _bulk_create(client)

    pages = [
        client.crm.deal.list(select=["ID"], filter={"STAGE_ID": "NEW"}, start=start).response
        for start in (0, PAGE_SIZE, 2 * PAGE_SIZE)
    ]

    assert [len(page.result) for page in pages] == [50, 50, len(ids) - 100]
    assert [page.next for page in pages] == [50, 100, None]
    assert [page.total for page in pages] == [len(ids)] * 3
    seen = [int(row["ID"]) for page in pages for row in page.result]
    assert seen == sorted(ids)


def test_as_list_returns_every_deal_once(client: Client) -> None:
    ids = _bulk_create(client)

    rows = (
        client.crm.deal.list(
            select=["ID", "TITLE"], filter={"STAGE_ID": "NEW"}, order={"ID": "ASC"}
        )
        .as_list()
        .result
    )

    seen = [int(row["ID"]) for row in rows]
    assert len(seen) == len(set(seen))
    assert seen == sorted(ids)
    assert all(row["TITLE"].startswith("bulk") for row in rows)
    assert all(set(row) == {"ID", "TITLE"} for row in rows)


@pytest.mark.parametrize("descending", [False, True], ids=["ascending", "descending"])
def test_as_list_fast_returns_every_deal_once(client: Client, descending: bool) -> None:
    ids = _bulk_create(client)

    rows = list(
        client.crm.deal.list(select=["ID", "TITLE"], filter={"STAGE_ID": "NEW"})
        .as_list_fast(descending=descending)
        .result
    )

    seen = [int(row["ID"]) for row in rows]
    assert len(seen) == len(set(seen))
    assert seen == sorted(ids, reverse=descending)
    assert all(row["TITLE"].startswith("bulk") for row in rows)


def test_delete_then_get_is_not_found(client: Client) -> None:
    deal_id = add_deal(client, TITLE="short-lived", OPPORTUNITY=1.1)
    keeper = add_deal(client, TITLE="keeper")

    assert client.crm.deal.delete(deal_id).result is True

    with pytest.raises(BitrixAPIBadRequest) as raised:
        client.crm.deal.get(deal_id).call()
    assert raised.value.response.status_code == 400
    assert raised.value.error == ""
    assert raised.value.error_description == "Not found."
    assert "time" not in raised.value.json_response

    with pytest.raises(BitrixAPIBadRequest) as raised_again:
        client.crm.deal.delete(deal_id).call()
    assert raised_again.value.error_description == "Not found."

    remaining = client.crm.deal.list(select=["ID"]).response
    assert [row["ID"] for row in remaining.result] == [str(keeper)]
    assert remaining.total == 1


def test_wrong_webhook_code_is_rejected(relatecrm_server: RunningServer, client: Client) -> None:
    intruder = Client(
        BitrixWebhook(
            domain=relatecrm_server.domain,
            webhook_token=f"{relatecrm_server.user_id}/not{relatecrm_server.webhook_code}",
        )
    )

    with pytest.raises(BitrixAPIError) as raised:
        intruder.crm.deal.list().call()

    status = raised.value.response.status_code
    assert (status, raised.value.error) in {(401, "NO_AUTH_FOUND"), (403, "INVALID_CREDENTIALS")}
    assert client.crm.deal.list().response.total == 0
