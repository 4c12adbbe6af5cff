"""A sales pipeline driven through b24pysdk, unchanged: funnel, stages, moves, history."""

from __future__ import annotations

import pytest
from b24pysdk import Client

pytestmark = pytest.mark.acceptance

DEAL = 2


def test_funnel_stages_moves_and_history(client: Client) -> None:
    added = client.crm.category.add(fields={"name": "Wholesale", "sort": 200}, entity_type_id=DEAL)
    funnel = added.result["category"]
    n = funnel["id"]
    assert isinstance(n, int) and n > 0 and funnel["name"] == "Wholesale"
    assert funnel["isDefault"] == "N" and funnel["entityTypeId"] == DEAL

    stages = client.crm.status.list(filter={"ENTITY_ID": f"DEAL_STAGE_{n}"}, order={"SORT": "ASC"})
    ids = [row["STATUS_ID"] for row in stages.result]
    assert ids[0] == f"C{n}:NEW" and f"C{n}:WON" in ids and f"C{n}:LOSE" in ids
    assert all(stage.startswith(f"C{n}:") for stage in ids)

    deal_id = client.crm.deal.add(fields={"TITLE": "Pallets", "CATEGORY_ID": n}).result
    deal = client.crm.deal.get(deal_id).result
    assert (deal["CATEGORY_ID"], deal["STAGE_ID"]) == (str(n), f"C{n}:NEW")

    assert client.crm.deal.update(deal_id, fields={"STAGE_ID": f"C{n}:PREPARATION"}).result is True
    assert client.crm.deal.update(deal_id, fields={"STAGE_ID": f"C{n}:WON"}).result is True
    deal = client.crm.deal.get(deal_id).result
    assert (deal["STAGE_SEMANTIC_ID"], deal["CLOSED"]) == ("S", "Y")

    # crm.deal.update cannot change the funnel; crm.item.update can.
    assert (
        client.crm.deal.update(deal_id, fields={"CATEGORY_ID": 0, "STAGE_ID": "EXECUTING"}).result
        is True
    )
    assert client.crm.deal.get(deal_id).result["CATEGORY_ID"] == str(n)
    moved = client.crm.item.update(DEAL, deal_id, {"categoryId": 0, "stageId": "EXECUTING"})
    item = moved.result["item"]
    assert (item["categoryId"], item["stageId"], item["closed"]) == (0, "EXECUTING", "N")

    history = client.crm.stagehistory.list(
        DEAL, filter={"OWNER_ID": deal_id}, order={"ID": "ASC"}
    ).result["items"]
    path = [(row["TYPE_ID"], row["CATEGORY_ID"], row["STAGE_ID"]) for row in history]
    assert path == [
        (1, n, f"C{n}:NEW"),
        (2, n, f"C{n}:PREPARATION"),
        (3, n, f"C{n}:WON"),
        (5, 0, "EXECUTING"),
    ]
    assert [row["STAGE_SEMANTIC_ID"] for row in history] == ["P", "P", "S", "P"]
