"""``event.offline.get``, ``.list``, ``.clear`` and ``.error`` (protocol spec §6.1).

Bitrix's own ``Rest\\Api\\Event`` is the model: application (OAuth) context only (a webhook
gets 403 ``WRONG_AUTH_TYPE``), administrators only (403 ``ACCESS_DENIED`` "Access denied!"),
parameter names in any letter case, numbers read with PHP ``intval``, and its
``ERROR_ARGUMENT`` texts for bad ``filter``, ``order``, ``limit``, ``process_id``, ``id`` and
``message_id``. Every check runs before anything is written, so a refused call changes
nothing. ``auth_connector`` is a credential parameter the endpoint strips (request.py), so
there is one queue per application, whatever connector a call names. The queue itself is
``events/offline.py``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from relatecrm.accounts.oauth import AppPrincipal
from relatecrm.bitrix.call import Call
from relatecrm.bitrix.envelope import ListResult
from relatecrm.bitrix.errors import ArgumentError, EventAccessDenied, WrongAuthType
from relatecrm.bitrix.filters import ascii_upper
from relatecrm.bitrix.render import render_value
from relatecrm.errors import InvalidFilter, InvalidOrder
from relatecrm.events import offline
from relatecrm.listing import CONTAINS, EQ, GE, GT, IN, LE, LT, Condition
from relatecrm.values import MAX_INT

DEFAULT_LIMIT = 50
MAX_LIMIT = MAX_INT  # PHP reads any size; a bigger LIMIT than a 32-bit int means "all"
# IRestService::sanitizeFilter's operations; "!" and the rest are refused, as there.
OPERATIONS = {"": EQ, "=": EQ, ">": GT, "<": LT, ">=": GE, "<=": LE, "@": IN, "%": CONTAINS}
FILTER_KEY = re.compile(r"([^a-zA-Z]*)(.*)", re.DOTALL)
LEADING_INT = re.compile(r"\s*([+-]?\d+)")

NOT_POSITIVE = "Value must be positive integer"
NOT_MESSAGE_IDS = "Value must be array of MESSAGE_ID values"
NOT_IDS = "Value must be array of integers"
PROCESS_ID_EMPTY = "Argument 'PROCESS_ID' is null or empty"


def _params(call: Call) -> dict[str, Any]:
    """PHP ``array_change_key_case(CASE_LOWER)``: any spelling, the last one wins."""
    lowered: dict[str, Any] = {}
    for key, value in call.params.items():
        if isinstance(key, str):
            lowered[key.lower() if key.isascii() else key] = value
    return lowered


def _admin_app(call: Call) -> AppPrincipal:
    principal = call.principal
    if not isinstance(principal, AppPrincipal):
        raise WrongAuthType()
    if not principal.is_admin:
        raise EventAccessDenied("Access denied!")
    return principal


def php_intval(value: Any) -> int:
    """PHP ``intval``: ``"5abc"`` is 5, ``"abc"`` 0, ``2.7`` 2, an array 1 unless empty."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else 0
    if isinstance(value, str):
        match = LEADING_INT.match(value)
        return int(match.group(1)) if match else 0
    if isinstance(value, dict | list):
        return 1 if value else 0
    return 0


def _as_map(value: Any, message: str, argument: str) -> dict[str, Any]:
    """A PHP array: JSON objects and lists alike (a list's keys are "0", "1", ...)."""
    if isinstance(value, list):
        return {str(index): item for index, item in enumerate(value)}
    if isinstance(value, dict):
        return {str(key): item for key, item in value.items()}
    raise ArgumentError(message, argument)


def parse_filter(raw: Any, allowed: Sequence[str], *, scalar_only: bool) -> list[Condition]:
    """Bitrix's ``sanitizeFilter``: ``[op]FIELD`` keys, upper-cased, the last one winning."""
    if raw is None:
        return []
    merged = {
        ascii_upper(key): value
        for key, value in _as_map(raw, "The filter is not an array.", "FILTER").items()
    }
    conditions = []
    for key, value in merged.items():
        match = FILTER_KEY.fullmatch(key)
        assert match is not None  # the pattern matches any string
        operation, field = match.groups()
        if operation not in OPERATIONS:
            raise ArgumentError(f"Filter operation not allowed: {operation}", "FILTER")
        if field not in allowed:
            raise ArgumentError(f"Filter field not allowed: {field}", "FILTER")
        if isinstance(value, dict | list) and scalar_only:
            raise ArgumentError(f"The value of an argument '{key}' has an invalid type", key)
        # MySQL compares these case-insensitively; we store one spelling of each.
        if field == "EVENT_NAME" and isinstance(value, str):
            value = ascii_upper(value.strip())
        elif field == "MESSAGE_ID" and isinstance(value, str):
            value = value.strip().lower() if value.isascii() else value
        conditions.append(Condition(field, OPERATIONS[operation], value, label=key))
    return conditions


def parse_order(
    raw: Any, allowed: Sequence[str], default: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Bitrix's ``sanitizeOrder``: ``{FIELD: ASC|DESC}``, or a list of field names."""
    if raw is None:
        return default
    order = []
    for key, value in _as_map(raw, "The order is not an array.", "ORDER").items():
        if key.isdigit():
            if not isinstance(value, str) or value not in allowed:
                raise ArgumentError(f"Order field not allowed: {value}", "ORDER")
            order.append((value, "ASC"))
            continue
        field = ascii_upper(key)
        if field not in allowed:
            raise ArgumentError(f"Order field not allowed: {field}", "ORDER")
        direction = value.strip().upper() if isinstance(value, str) else ""
        if direction not in ("ASC", "DESC"):
            raise ArgumentError("Order direction should be one of {ASC|DESC}", "ORDER")
        order.append((field, direction))
    return order


def _process_id(value: Any, *, required: bool) -> str | None:
    """``trim(process_id)``; an empty one is refused where it is required.

    Bitrix takes "" as the set of records outside any batch (``clear`` would then delete
    the whole unreserved queue); RelateCRM refuses it, or for a get reads it as absent.
    """
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value.strip()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        text = str(value)
    else:
        raise ArgumentError("Argument 'PROCESS_ID' must be a string", "PROCESS_ID")
    if not text:
        if required:
            raise ArgumentError(PROCESS_ID_EMPTY, "PROCESS_ID")
        return None
    if len(text) > 64:
        raise ArgumentError("Argument 'PROCESS_ID' is too long", "PROCESS_ID")
    return text


def _message_ids(value: Any, *, exact: bool) -> list[str]:
    """An array of MESSAGE_IDs; ``exact`` (clear) wants 32 characters each, as Bitrix."""
    items = list(_as_map(value, NOT_MESSAGE_IDS, "message_id").values())
    found = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise ArgumentError(NOT_MESSAGE_IDS, "message_id")
        text = str(item).strip()
        if exact and len(text) != offline.MESSAGE_ID_LENGTH:
            raise ArgumentError(NOT_MESSAGE_IDS, "message_id")
        if len(text) <= 64:  # longer cannot be a key: it matches nothing
            found.append(text)
    return found


def _ids(value: Any) -> list[int]:
    ids = []
    for item in _as_map(value, NOT_IDS, "id").values():
        number = php_intval(item)
        if number <= 0 or number > MAX_INT:
            raise ArgumentError(NOT_IDS, "id")
        ids.append(number)
    return ids


def _render(record: offline.Record, call: Call) -> dict[str, Any]:
    return {
        "ID": str(record.id),
        "TIMESTAMP_X": render_value("datetime", record.timestamp_x, call.ctx.tz),
        "EVENT_NAME": record.event_name,
        "EVENT_DATA": record.event_data,
        "EVENT_ADDITIONAL": record.event_additional,
        "MESSAGE_ID": record.message_id,
    }


async def get(call: Call) -> dict[str, Any]:
    """The first ``limit`` records: deleted (``clear=1``, default) or reserved (``clear=0``)
    under a new ``process_id``; with ``process_id``, that batch again."""
    principal = _admin_app(call)
    params = _params(call)
    clear = php_intval(params["clear"]) if params.get("clear") is not None else 1
    process_id = _process_id(params.get("process_id"), required=False)
    raw_limit = params.get("limit")
    limit = php_intval(raw_limit) if raw_limit is not None else DEFAULT_LIMIT
    errors = php_intval(params.get("error")) == 1
    if limit <= 0:
        raise ArgumentError(NOT_POSITIVE, "LIMIT")
    conditions = parse_filter(params.get("filter"), offline.GET_FIELDS, scalar_only=True)
    order = parse_order(params.get("order"), offline.GET_FIELDS, [("TIMESTAMP_X", "ASC")])
    try:
        reported, records = await offline.take(
            call.conn,
            app_id=principal.app_id,
            conditions=conditions,
            order=order,
            limit=min(limit, MAX_LIMIT),
            clear=bool(clear),
            process_id=process_id,
            errors=errors,
            now=call.ctx.now,
            tz=call.ctx.tz,
        )
    except (InvalidFilter, InvalidOrder) as error:
        raise ArgumentError(error.message, "FILTER") from None
    return {"process_id": reported, "events": [_render(record, call) for record in records]}


async def list_(call: Call) -> ListResult:
    """The queue as it is, 50 a page, ``PROCESS_ID`` ("" outside a batch) and ``ERROR``."""
    principal = _admin_app(call)
    params = _params(call)
    conditions = parse_filter(params.get("filter"), offline.LIST_FIELDS, scalar_only=False)
    order = parse_order(params.get("order"), offline.LIST_FIELDS, [("ID", "ASC")])
    try:
        page = await offline.list_page(
            call.conn,
            app_id=principal.app_id,
            conditions=conditions,
            order=order,
            start=call.start,
            tz=call.ctx.tz,
        )
    except (InvalidFilter, InvalidOrder) as error:
        raise ArgumentError(error.message, "FILTER") from None
    rows = [
        {
            **row,
            "ID": str(row["ID"]),
            "TIMESTAMP_X": render_value("datetime", row["TIMESTAMP_X"], call.ctx.tz),
            "ERROR": str(row["ERROR"]),
        }
        for row in page.rows
    ]
    return ListResult(rows, total=page.total or 0, next=page.next)


async def clear(call: Call) -> bool:
    """Delete a batch's records: all, or those of ``message_id`` (which wins), or of ``id``;
    an empty array means all. ``true`` even if nothing matched."""
    principal = _admin_app(call)
    params = _params(call)
    process_id = _process_id(params.get("process_id"), required=True)
    assert process_id is not None
    message_ids: list[str] = []
    ids: list[int] = []
    if params.get("message_id") is not None:
        message_ids = _message_ids(params["message_id"], exact=True)
    elif params.get("id") is not None:
        ids = _ids(params["id"])
    await offline.clear_batch(
        call.conn, app_id=principal.app_id, process_id=process_id, ids=ids, message_ids=message_ids
    )
    return True


async def error(call: Call) -> bool:
    """Mark a batch's records of ``message_id`` as failed: they leave the batch and wait
    for an ``error=1`` get. ``true`` even if nothing matched."""
    principal = _admin_app(call)
    params = _params(call)
    process_id = _process_id(params.get("process_id"), required=True)
    assert process_id is not None
    if params.get("message_id") is None:
        raise ArgumentError(NOT_MESSAGE_IDS, "message_id")
    message_ids = _message_ids(params["message_id"], exact=False)
    if message_ids:
        await offline.mark_error(
            call.conn, app_id=principal.app_id, process_id=process_id, message_ids=message_ids
        )
    return True
