"""Who acts, when, and in which time zone: what every domain service is called with."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class Context:
    """The caller, the request's one clock reading, and the portal's time zone."""

    user_id: int
    now: dt.datetime
    tz: dt.tzinfo
