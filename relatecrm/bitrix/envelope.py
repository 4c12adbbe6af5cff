"""Bitrix response envelopes, and the one table mapping errors to the wire.

Success: ``{"result", ["next"], ["total"], "time"}`` in that order. Errors:
``{"error", "error_description"}`` with no ``time``, never with status 200.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

import orjson

from relatecrm.bitrix.errors import ArgumentError, BitrixError
from relatecrm.errors import (
    AccessDenied,
    CategoryNotEmpty,
    CategoryNotFound,
    CategoryRemovalDisabled,
    CrmError,
    DuplicateStatus,
    InadmissibleSelect,
    InvalidCategoryField,
    InvalidFieldValue,
    InvalidFilter,
    InvalidId,
    InvalidLink,
    InvalidLinkItems,
    InvalidOrder,
    InvalidParameter,
    NotFound,
    ProductNameMissing,
    ProductRowError,
    RequiredFieldMissing,
    StatusError,
    UnknownContact,
    UnsupportedEntityType,
    UserFieldError,
    UserFieldNotFound,
    UserFieldRequired,
)
from relatecrm.limits.operating import Usage
from relatecrm.limits.service import OperationTimeLimitExceeded, RequestLimitExceeded

JSON_HEADERS = {
    "content-type": "application/json; charset=utf-8",
    "access-control-allow-origin": "*",
    "access-control-allow-headers": "origin, content-type, accept",
    "x-content-type-options": "nosniff",
}

# Classic CRM methods report their own errors with an empty code and status 400.
ERROR_TABLE: dict[type[CrmError], tuple[int, str]] = {
    NotFound: (400, ""),
    AccessDenied: (400, ""),
    InvalidId: (400, ""),
    InvalidParameter: (400, ""),
    InvalidFieldValue: (400, ""),
    InvalidFilter: (400, "INVALID_ARG_VALUE"),
    InvalidOrder: (400, "INVALID_ARG_VALUE"),
    # crm.category.* is an engine controller: its errors carry codes.
    UnsupportedEntityType: (400, "ENTITY_TYPE_NOT_SUPPORTED"),
    CategoryNotFound: (400, "NOT_FOUND"),
    CategoryRemovalDisabled: (400, "REMOVING_DISABLED"),
    CategoryNotEmpty: (400, "BX_ERROR"),
    InvalidCategoryField: (400, "CRM_FIELD_ERROR_VALUE_NOT_VALID"),
    # crm.status.* is a classic proxy: empty code, except the module's duplicate check.
    StatusError: (400, ""),
    DuplicateStatus: (400, "ERROR_CORE"),
    # crm.deal.contact.*
    InvalidLink: (400, ""),
    InvalidLinkItems: (400, "ERROR_CORE"),
    UnknownContact: (400, ""),
    # crm.product.*, crm.deal.productrows.*, crm.item.productrow.*
    ProductNameMissing: (400, ""),
    InadmissibleSelect: (400, ""),
    ProductRowError: (400, "ERROR_CORE"),  # row validation, like the discount checks
    # Custom field values: a mandatory field left empty (crm.deal.add/update).
    RequiredFieldMissing: (400, ""),
    # crm.deal.userfield.*: missing FIELD_NAME/USER_TYPE_ID are plain RestExceptions, the
    # main module's checks are ERROR_CORE, an unknown id is ERROR_NOT_FOUND.
    UserFieldRequired: (400, ""),
    UserFieldError: (400, "ERROR_CORE"),
    UserFieldNotFound: (400, "ERROR_NOT_FOUND"),
    # Limits (spec §3): the request bucket is the cloud front end's 503, the budget 429.
    RequestLimitExceeded: (503, "QUERY_LIMIT_EXCEEDED"),
    OperationTimeLimitExceeded: (429, "OPERATION_TIME_LIMIT"),
    CrmError: (400, "ERROR_CORE"),
}


@dataclass
class ListResult:
    """A list method's page: ``next`` and ``total`` travel beside ``result``."""

    items: Any
    total: int | None
    next: int | None = None


def status_and_code(error: CrmError) -> tuple[int, str]:
    if isinstance(error, BitrixError):
        return error.status, error.code
    for cls in type(error).__mro__:
        if cls in ERROR_TABLE:
            return ERROR_TABLE[cls]
    return 400, "ERROR_CORE"


def error_body(error: CrmError) -> tuple[int, bytes]:
    status, code = status_and_code(error)
    body: dict[str, Any] = {"error": code, "error_description": error.message}
    if isinstance(error, ArgumentError):
        body["argument"] = error.argument
    return status, orjson.dumps(body)


def php_json(value: Any) -> Any:
    """PHP encodes an empty array as ``[]`` even where a map is meant."""
    if isinstance(value, dict):
        if not value:
            return []
        return {key: php_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [php_json(item) for item in value]
    return value


def time_block(
    started: float,
    processing: float,
    tz: dt.tzinfo,
    *,
    operating: bool,
    usage: Usage | None = None,
) -> dict[str, Any]:
    """The ``time`` block; ``usage`` is the method's budget with this call, if counted."""
    finished = time.time()
    block: dict[str, Any] = {
        "start": started,
        "finish": finished,
        "duration": finished - started,
        "processing": processing,
        "date_start": dt.datetime.fromtimestamp(int(started), tz).isoformat(),
        "date_finish": dt.datetime.fromtimestamp(int(finished), tz).isoformat(),
    }
    if operating:
        # Without the operating limiter: an unused budget, as an idle cloud portal reports.
        used = usage or Usage(0.0, int(started) + 600)
        block["operating_reset_at"] = used.reset_at
        block["operating"] = used.seconds
    return block


def success_body(result: Any, time: dict[str, Any]) -> bytes:
    body: dict[str, Any]
    if isinstance(result, ListResult):
        body = {"result": php_json(result.items)}
        if result.next is not None:
            body["next"] = result.next
        if result.total is not None:
            body["total"] = result.total
    else:
        body = {"result": php_json(result)}
    body["time"] = time
    return orjson.dumps(body)
