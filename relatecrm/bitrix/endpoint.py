"""The ``/rest/...`` route: one request, one method call, one transaction.

The response body is rendered inside the transaction and sent after COMMIT, so a
committed write is never answered with an error (clients retry 5xx).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.requests import Request
from starlette.responses import Response

from relatecrm.accounts.service import Principal, authenticate_webhook
from relatecrm.bitrix.call import Call
from relatecrm.bitrix.envelope import JSON_HEADERS, error_body, success_body, time_block
from relatecrm.bitrix.errors import (
    BitrixError,
    InsufficientScope,
    InvalidCredentials,
    MethodNotFound,
    NoAuthFound,
    WrongTransport,
)
from relatecrm.bitrix.methods import find_method
from relatecrm.bitrix.request import read_params, split_params
from relatecrm.config import Settings
from relatecrm.context import Context
from relatecrm.db import transaction
from relatecrm.errors import CrmError

log = logging.getLogger("relatecrm.rest")
SLASHES = re.compile(r"/{2,}")


def parse_path(path: str) -> tuple[str | None, str | None, str]:
    """(user, code, method) from ``/rest/...``; user and code are None for the OAuth form."""
    parts = [part for part in SLASHES.sub("/", path).split("/") if part]
    if parts and parts[0] == "rest":
        parts = parts[1:]
    if len(parts) == 1:
        user, code, method = None, None, parts[0]
    elif len(parts) == 3 and parts[0] != "api":
        user, code, method = parts
    else:
        raise MethodNotFound()
    lowered = method.lower()
    if lowered.endswith(".xml"):
        raise WrongTransport()
    if lowered.endswith(".json"):
        method = method[: -len(".json")]
    return user, code, method


LEADING_INT = re.compile(r"\s*([+-]?\d+)")
MAX_START = 2**62


def page_start(params: dict[str, Any]) -> int:
    """Bitrix reads only ``start`` for paging (we also accept ``START``) with PHP ``intval``.

    So ``"50abc"`` is 50, ``50.7`` is 50, and anything unreadable is 0.
    """
    raw = params.pop("start", None)
    upper = params.pop("START", None)
    value = raw if raw is not None else upper
    if isinstance(value, bool):
        number = int(value)
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float):
        number = int(value) if math.isfinite(value) else 0
    elif isinstance(value, str) and (match := LEADING_INT.match(value)):
        number = int(match.group(1))
    else:
        number = 0
    return -1 if number < 0 else min(number, MAX_START)


class RestEndpoint:
    """The route handler, bound to one engine and one settings object."""

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.tz = ZoneInfo(settings.timezone)

    async def handle(self, request: Request) -> Response:
        started = time.time()
        try:
            status, body = await self._handle(request, started)
        except CrmError as error:
            status, body = error_body(error)
        except Exception:
            # A bug or a database failure: log it, answer in the envelope, no traceback.
            log.exception("internal error in %s", mask_codes(request.url.path))
            status, body = error_body(BitrixError())
        return Response(body, status_code=status, headers=JSON_HEADERS)

    async def _handle(self, request: Request, started: float) -> tuple[int, bytes]:
        user, code, method_name = parse_path(request.url.path)
        params = await read_params(
            request,
            max_body=self.settings.max_body_bytes,
            max_keys=self.settings.max_params,
            max_depth=self.settings.max_param_depth,
        )
        # Credentials never reach a method; OAuth tokens among them are not served yet.
        params, _credentials = split_params(params)
        method = find_method(method_name)
        async with transaction(self.engine, write=method is not None and method.write) as conn:
            principal = await self._authenticate(conn, user, code)
            if method is None:
                raise MethodNotFound()
            if method.scope not in principal.scopes:
                raise InsufficientScope()
            start = page_start(params)
            ctx = Context(user_id=principal.user_id, now=dt.datetime.now(dt.UTC), tz=self.tz)
            began = time.time()
            result = await method.handler(Call(params, conn, principal, ctx, start))
            processing = time.time() - began
            body = success_body(
                result,
                time_block(started, processing, self.tz, operating=self.settings.report_operating),
            )
        return 200, body

    async def _authenticate(
        self, conn: AsyncConnection, user: str | None, code: str | None
    ) -> Principal:
        if user is None or code is None:
            # OAuth tokens arrive with the OAuth issue; until then nothing here is valid.
            raise NoAuthFound()
        principal = await authenticate_webhook(conn, user, code)
        if principal is None:
            raise InvalidCredentials()
        return principal


def mask_codes(path: str) -> str:
    """The path with any webhook code masked: codes are secrets and never logged."""
    return re.sub(r"(/rest/+[^/]+/+)[^/]+(/+[^/]+)", r"\1***\2", path)
