"""The ``/rest/...`` route: authenticate once, then one method call per transaction.

A plain request is one method call in one transaction (authentication included); a
``batch`` request authenticates in a short read transaction and then runs each command
as its own call in its own transaction (bitrix/batch.py). Either way a call's result is
rendered inside its transaction and sent after COMMIT, so a committed write is never
answered with an error (clients retry 5xx).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
import time
from collections.abc import Callable
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.requests import Request
from starlette.responses import Response

from relatecrm.accounts import permissions
from relatecrm.accounts.oauth import AppPrincipal
from relatecrm.accounts.service import Principal, authenticate_webhook
from relatecrm.bitrix import batch
from relatecrm.bitrix.call import Call, Method
from relatecrm.bitrix.envelope import JSON_HEADERS, error_body, success_body, time_block
from relatecrm.bitrix.errors import (
    BitrixError,
    InsufficientScope,
    InsufficientTokenScope,
    InvalidCredentials,
    MethodNotFound,
    WrongTransport,
)
from relatecrm.bitrix.methods import find_method
from relatecrm.bitrix.oauth import authenticate_access_token
from relatecrm.bitrix.request import read_params, split_params
from relatecrm.config import Settings
from relatecrm.context import Context
from relatecrm.db import transaction
from relatecrm.errors import CrmError
from relatecrm.limits.service import Admission, Limits, LimitSettings, credential_of

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


T = TypeVar("T")
# (handler result, when the handler began, seconds it took) -> the call's rendered outcome.
Render = Callable[[Any, float, float], T]


class RestEndpoint:
    """The route handler, bound to one engine and one settings object."""

    def __init__(self, engine: AsyncEngine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self.tz = ZoneInfo(settings.timezone)
        self.limits = Limits(engine, LimitSettings.from_settings(settings))
        self.batch = batch.BatchRunner(
            self.call,
            find_method,
            tz=self.tz,
            operating=settings.report_operating,
            max_keys=settings.max_params,
            max_depth=settings.max_param_depth,
            max_chars=settings.max_body_bytes,
        )

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
        # Credentials never reach a method.
        params, credentials = split_params(params)
        method = find_method(method_name)
        # Limits use short transactions of their own, never the method's (limits/service.py):
        # with them on, authentication gets its own transaction too.
        limited = self.limits.enabled
        write = method is not None and method.write and not limited
        async with transaction(self.engine, write=write) as conn:
            principal = await self._authenticate(conn, user, code, credentials, request)
            if method is None:
                raise MethodNotFound()
            if method is not batch.METHOD and not limited:
                # A plain call shares the authentication's transaction: one per request.
                body = await self.run_call(conn, method, params, principal, self._envelope(started))
                return 200, body
        # Admission: the caller is known. This request counts as one request, whatever it
        # is (a batch of 50 commands too, spec §3.1); a no-op with the limits off.
        key = credential_of(principal, code)
        admission = await self.limits.admit(key, method_name, now=started)
        began = time.time()
        try:
            if method is batch.METHOD:
                # The authentication's transaction is over; each command gets its own.
                return 200, await self.batch.run(params, principal, started)
            render = self._envelope(started, admission)
            return 200, await self.call(method, params, principal, render)
        finally:
            finished = time.time()
            await self.limits.charge(admission, finished - began, now=finished)

    def _envelope(self, started: float, admission: Admission | None = None) -> Render[bytes]:
        def render(result: Any, _began: float, processing: float) -> bytes:
            usage = admission.report(processing) if admission else None
            block = time_block(
                started, processing, self.tz, operating=self.settings.report_operating, usage=usage
            )
            return success_body(result, block)

        return render

    async def call(
        self, method: Method, params: dict[str, Any], principal: Principal, render: Render[T]
    ) -> T:
        """One method call in a transaction of its own (a batch command)."""
        async with transaction(self.engine, write=method.write) as conn:
            return await self.run_call(conn, method, params, principal, render)

    async def run_call(
        self,
        conn: AsyncConnection,
        method: Method,
        params: dict[str, Any],
        principal: Principal,
        render: Render[T],
    ) -> T:
        """Run one method call for an authenticated principal inside ``conn``'s transaction.

        The one path every call takes, alone or in a batch: scope check, page start, the
        handler, then ``render`` while the transaction is still open, so a result that
        cannot be rendered rolls the call back instead of failing after COMMIT.
        """
        if not method.available_to(principal.scopes):
            # An application's token and a webhook's are refused in their own words.
            if isinstance(principal, AppPrincipal):
                raise InsufficientTokenScope()
            raise InsufficientScope()
        start = page_start(params)
        # The caller's roles, read in the call's own transaction: a batch command sees them
        # as they are when it runs, like every other row.
        rights = await permissions.load(conn, principal.user_id, is_admin=principal.is_admin)
        now = dt.datetime.now(dt.UTC)
        ctx = Context(user_id=principal.user_id, now=now, tz=self.tz, permissions=rights)
        began = time.time()
        result = await method.handler(Call(params, conn, principal, ctx, start, self.settings))
        return render(result, began, time.time() - began)

    async def _authenticate(
        self,
        conn: AsyncConnection,
        user: str | None,
        code: str | None,
        credentials: dict[str, Any],
        request: Request,
    ) -> Principal:
        if user is None or code is None:
            # The OAuth form /rest/{method}: an access token (bitrix/oauth.py).
            now = dt.datetime.now(dt.UTC)
            authorization = request.headers.get("authorization")
            return await authenticate_access_token(conn, credentials, authorization, now)
        principal = await authenticate_webhook(conn, user, code)
        if principal is None:
            raise InvalidCredentials()
        return principal


def mask_codes(path: str) -> str:
    """The path with any webhook code masked: codes are secrets and never logged."""
    return re.sub(r"(/rest/+[^/]+/+)[^/]+(/+[^/]+)", r"\1***\2", path)
