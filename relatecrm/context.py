"""Who acts, when, and in which time zone: what every domain service is called with."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from relatecrm.accounts.permissions import Permissions


@dataclass(frozen=True)
class Context:
    """The caller, the request's one clock reading, and the portal's time zone.

    ``permissions`` is what the caller may do; the REST edge always sets it from the
    principal (bitrix/endpoint.py ``run_call``). Left out, the caller may do everything:
    the operator's own tools (CLI, migrations, tests) act with full rights.
    """

    user_id: int
    now: dt.datetime
    tz: dt.tzinfo
    permissions: Permissions | None = None

    @property
    def rights(self) -> Permissions:
        return self.permissions if self.permissions is not None else Permissions(self.user_id)
