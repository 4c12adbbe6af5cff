"""The limits as the edge uses them: admit a request, then charge what the method took.

Both steps run in short transactions of their own, and the edge calls them while it
holds no other connection, never inside the method's transaction: there, a bucket row
locked until the method commits would make all calls of one credential take turns, an
admission would roll back with a failing method, a SQLite write method's request would
wait 30 s for its own write lock, and requests each holding one pooled connection while
waiting for a second could empty the pool.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.accounts.oauth import AppPrincipal
from relatecrm.accounts.service import Principal
from relatecrm.config import Settings
from relatecrm.db import transaction
from relatecrm.errors import CrmError
from relatecrm.limits import bucket, operating
from relatecrm.limits.operating import Usage, idle

log = logging.getLogger("relatecrm.limits")


class RequestLimitExceeded(CrmError):
    """Too many requests"""


class OperationTimeLimitExceeded(CrmError):
    """Method is blocked due to operation time limit."""

    def __init__(self, reset_at: int) -> None:
        self.reset_at = reset_at
        super().__init__()


def webhook_credential(code: str) -> str:
    """The bucket key of an incoming webhook.

    Derived from the code, which identifies the webhook exactly, but salted so that the
    key is not the ``code_hash`` stored with the webhook.
    """
    return "hook:" + hashlib.sha256(b"relatecrm-limits\x00" + code.encode()).hexdigest()[:40]


def app_credential(client_id: str, user_id: int) -> str:
    """The bucket key of an OAuth application acting for one user."""
    digest = hashlib.sha256(f"relatecrm-limits\x00{client_id}\x00{user_id}".encode()).hexdigest()
    return "app:" + digest[:40]


def credential_of(principal: Principal, webhook_code: str | None) -> str:
    """The key a caller's requests are counted under: its app and user, or its webhook."""
    if isinstance(principal, AppPrincipal):
        return app_credential(principal.client_id, principal.user_id)
    if webhook_code is not None:
        return webhook_credential(webhook_code)
    return f"user:{principal.user_id}"


@dataclass(frozen=True)
class LimitSettings:
    """The numbers, copied once from ``Settings``."""

    rate_enabled: bool = False
    burst: int = 50
    drain_per_second: float = 2.0
    operating_enabled: bool = False
    operating_seconds: float = 480.0
    window_seconds: float = 600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> LimitSettings:
        return cls(
            rate_enabled=settings.rate_limit_enabled,
            burst=settings.rate_limit_burst,
            drain_per_second=settings.rate_limit_drain_per_second,
            operating_enabled=settings.operating_limit_enabled,
            operating_seconds=settings.operating_limit_seconds,
            window_seconds=settings.operating_window_seconds,
        )


@dataclass(frozen=True)
class Admission:
    """An admitted call: whose, which method, and the method's usage before it ran."""

    credential: str
    method: str
    before: Usage
    counted: bool

    def report(self, processing: float) -> Usage:
        """``operating``/``operating_reset_at`` for the reply, this call included."""
        if not self.counted:
            return self.before
        return Usage(self.before.seconds + processing, self.before.reset_at)


class Limits:
    """The limits of one server process; their state is shared through the database."""

    def __init__(self, engine: AsyncEngine, config: LimitSettings) -> None:
        self.engine = engine
        self.config = config

    @property
    def enabled(self) -> bool:
        return self.config.rate_enabled or self.config.operating_enabled

    async def admit(self, credential: str, method: str, *, now: float) -> Admission:
        """Count a request and check its method's budget; raise if either is exhausted.

        With both limits off this touches no table at all.
        """
        cfg = self.config
        method = method.lower()
        used = idle(now, cfg.window_seconds)
        if not self.enabled:
            return Admission(credential, method, used, counted=False)
        async with transaction(self.engine, write=cfg.rate_enabled) as conn:
            if cfg.rate_enabled and not await bucket.admit(
                conn, credential, now=now, burst=cfg.burst, drain=cfg.drain_per_second
            ):
                raise RequestLimitExceeded()
            if cfg.operating_enabled:
                used = await operating.usage(
                    conn, credential, method, now=now, window=cfg.window_seconds
                )
        # Refused after COMMIT: the request still counts against the bucket, as in Bitrix24.
        if cfg.operating_enabled and used.seconds > cfg.operating_seconds:
            raise OperationTimeLimitExceeded(used.reset_at)
        return Admission(credential, method, used, counted=cfg.operating_enabled)

    async def charge(self, admission: Admission, seconds: float, *, now: float) -> None:
        """Add a finished call's execution time to its method's budget.

        Called after the method's COMMIT, so a failure here is logged and swallowed:
        the client must not be told that a committed write failed.
        """
        if not admission.counted:
            return
        try:
            async with transaction(self.engine) as conn:
                await operating.charge(
                    conn,
                    admission.credential,
                    admission.method,
                    seconds,
                    now=now,
                    window=self.config.window_seconds,
                )
        except Exception:
            log.exception("could not record operating time of %s", admission.method)
