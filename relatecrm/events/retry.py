"""When to try a failed delivery again (research reliability §1.1, Svix's schedule).

The default schedule is Svix's: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h after the
first attempt's failure, each step ±20 % at random so that a recovering receiver is not
hit by every backlog at the same instant. A ``Retry-After`` answer moves the next try,
clamped to [step, 2 × step] as Svix does, so a receiver can slow us down but cannot park
an event for days. A timeout or 429 waits at least the overload penalty.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
from collections.abc import Sequence

DEFAULT_SCHEDULE: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 36000)


def parse_schedule(text: str) -> tuple[float, ...]:
    """``"5,300,1800"`` → ``(5.0, 300.0, 1800.0)``; empty text means no retries."""
    steps = tuple(float(part) for part in text.split(",") if part.strip())
    if any(step < 0 for step in steps):
        raise ValueError("retry steps are seconds >= 0")
    return steps


def retry_after_seconds(value: str | None, now: dt.datetime) -> float | None:
    """A ``Retry-After`` header as seconds from ``now``: delta-seconds or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(int(text[:9]))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())


def next_delay(
    attempts: int,
    schedule: Sequence[float],
    *,
    jitter: float = 0.2,
    retry_after: float | None = None,
    overloaded: bool = False,
    overload_penalty: float = 60.0,
    rng: random.Random | None = None,
) -> float | None:
    """Seconds until the next try after ``attempts`` failed tries; None: give up."""
    if attempts < 1 or attempts > len(schedule):
        return None
    step = schedule[attempts - 1]
    delay = step * (1 + (rng or random).uniform(-jitter, jitter))
    if retry_after is not None:
        delay = min(max(retry_after, step), 2 * step)
    if overloaded:
        delay = max(delay, overload_penalty)
    return delay
