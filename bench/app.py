"""The benchmarked server: the real RelateCRM app plus one constant route, ``/floor/``.

The floor route runs on the same uvicorn + Starlette stack as ``/rest`` and is
registered the same way, but it touches no database and does no Bitrix parsing:
it reads the request body and answers pre-rendered bytes shaped like the reply of
the method named in its path. Its latency is the least a ``/rest`` call can cost on
this stack; everything above it is RelateCRM's own work (parsing, SQL, rendering).
"""

from __future__ import annotations

import orjson
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from relatecrm.app import create_app
from relatecrm.bitrix.envelope import JSON_HEADERS
from relatecrm.config import Settings

FLOOR_PATH = "/floor/"
_STAMP = "2026-01-01T00:00:00+00:00"
_TIME = {
    "start": 1767225600.0,
    "finish": 1767225600.001,
    "duration": 0.001,
    "processing": 0.0005,
    "date_start": _STAMP,
    "date_finish": _STAMP,
    "operating_reset_at": 1767226200,
    "operating": 0.0,
}
# The full-deal field order of crm.deal.get, with plausible values; only the size
# and shape matter, so that the floor's reply costs as much to send as the real one.
_DEAL = {
    "ID": "50001",
    "TITLE": "Northwind Traders - Annual licence #50001",
    "TYPE_ID": "SALE",
    "STAGE_ID": "EXECUTING",
    "PROBABILITY": None,
    "CURRENCY_ID": "USD",
    "OPPORTUNITY": "12500.00",
    "IS_MANUAL_OPPORTUNITY": "N",
    "TAX_VALUE": "0.00",
    "LEAD_ID": None,
    "COMPANY_ID": None,
    "CONTACT_ID": None,
    "QUOTE_ID": None,
    "BEGINDATE": _STAMP,
    "CLOSEDATE": _STAMP,
    "ASSIGNED_BY_ID": "17",
    "CREATED_BY_ID": "17",
    "MODIFY_BY_ID": "17",
    "DATE_CREATE": _STAMP,
    "DATE_MODIFY": _STAMP,
    "OPENED": "Y",
    "CLOSED": "N",
    "COMMENTS": None,
    "ADDITIONAL_INFO": None,
    "LOCATION_ID": None,
    "CATEGORY_ID": "0",
    "STAGE_SEMANTIC_ID": "P",
    "IS_NEW": "N",
    "IS_RECURRING": "N",
    "IS_RETURN_CUSTOMER": "N",
    "IS_REPEATED_APPROACH": "N",
    "SOURCE_ID": "CALL",
    "SOURCE_DESCRIPTION": None,
    "ORIGINATOR_ID": None,
    "ORIGIN_ID": None,
    "MOVED_BY_ID": "17",
    "MOVED_TIME": _STAMP,
    "LAST_ACTIVITY_TIME": _STAMP,
    "LAST_ACTIVITY_BY": "17",
    "UTM_SOURCE": None,
    "UTM_MEDIUM": None,
    "UTM_CAMPAIGN": None,
    "UTM_CONTENT": None,
    "UTM_TERM": None,
}
_ROW = {
    "ID": "50001",
    "TITLE": "Northwind Traders - Annual licence #50001",
    "STAGE_ID": "EXECUTING",
    "OPPORTUNITY": "12500.00",
    "DATE_CREATE": _STAMP,
}
REPLIES: dict[str, bytes] = {
    "crm.deal.get": orjson.dumps({"result": _DEAL, "time": _TIME}),
    "crm.deal.list": orjson.dumps(
        {"result": [_ROW] * 50, "next": 50, "total": 12345, "time": _TIME}
    ),
    "crm.deal.add": orjson.dumps({"result": 100001, "time": _TIME}),
}
DEFAULT_REPLY = orjson.dumps({"result": True, "time": _TIME})


async def floor(request: Request) -> Response:
    """Read the body (as /rest does) and answer the method's constant reply."""
    await request.body()
    method = request.url.path.rsplit("/", 1)[-1]
    return Response(REPLIES.get(method, DEFAULT_REPLY), status_code=200, headers=JSON_HEADERS)


def create_bench_app(settings: Settings | None = None) -> FastAPI:
    """``create_app`` from ``RELATECRM_*`` variables, plus ``/floor/{method}``."""
    app = create_app(settings or Settings())
    app.add_route(
        FLOOR_PATH + "{path:path}", floor, methods=["GET", "POST"], include_in_schema=False
    )
    return app
