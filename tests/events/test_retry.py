"""Units of the retry policy (relatecrm/events/retry.py), the arithmetic behind W4 and W7.

The delivery tests check these rules end to end with a real worker, but only a few
samples of each; here every edge is pinned down cheaply: schedule parsing, both
``Retry-After`` forms and garbage, the ±jitter band over many seeded draws, the Svix
clamp and the point where retrying stops. Pure functions: no database, well under 1 s.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
import random

import pytest

from relatecrm.events import retry

NOW = dt.datetime(2026, 11, 23, 12, 0, 0, tzinfo=dt.UTC)


# -- parse_schedule ----------------------------------------------------------------------


def test_parse_schedule_reads_seconds_in_order() -> None:
    assert retry.parse_schedule("5,300,1800") == (5.0, 300.0, 1800.0)
    assert retry.parse_schedule("0.2, 0.4 ,0.8") == (0.2, 0.4, 0.8)
    assert retry.parse_schedule("0") == (0.0,)


def test_parse_schedule_empty_means_no_retries() -> None:
    """An operator may switch retries off with an empty schedule: the first failure is final."""
    assert retry.parse_schedule("") == ()
    assert retry.parse_schedule(" , ,") == ()
    assert retry.next_delay(1, retry.parse_schedule("")) is None


def test_parse_schedule_skips_blank_parts() -> None:
    assert retry.parse_schedule("1,,2,") == (1.0, 2.0)


@pytest.mark.parametrize("text", ["-1", "5,-0.5", "five", "5;300", "1,2,x"])
def test_parse_schedule_rejects_bad_steps(text: str) -> None:
    with pytest.raises(ValueError):
        retry.parse_schedule(text)


def test_default_schedule_is_svix() -> None:
    """reliability.md §1.1: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h."""
    assert retry.DEFAULT_SCHEDULE == (5, 300, 1800, 7200, 18000, 36000, 36000)


# -- retry_after_seconds -----------------------------------------------------------------


@pytest.mark.parametrize(("value", "seconds"), [("0", 0.0), ("7", 7.0), (" 120 ", 120.0)])
def test_retry_after_delta_seconds(value: str, seconds: float) -> None:
    assert retry.retry_after_seconds(value, NOW) == seconds


def test_retry_after_huge_delta_stays_finite() -> None:
    """A receiver cannot overflow the arithmetic with an absurd number; the clamp in
    next_delay bounds what it finally means."""
    seconds = retry.retry_after_seconds("9" * 40, NOW)
    assert seconds is not None and math.isfinite(seconds) and seconds >= 0
    assert retry.next_delay(1, (5,), retry_after=seconds) == 10


def test_retry_after_http_date_in_the_future() -> None:
    value = email.utils.format_datetime(NOW + dt.timedelta(seconds=90), usegmt=True)
    assert value.endswith("GMT")
    assert retry.retry_after_seconds(value, NOW) == 90.0


def test_retry_after_http_date_other_zone_and_naive() -> None:
    """RFC 9110 allows only GMT, but an offset must still mean the right instant; a date
    without a zone is taken as UTC."""
    plus_two = dt.datetime(2026, 11, 23, 14, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert retry.retry_after_seconds(email.utils.format_datetime(plus_two), NOW) == 30.0
    assert retry.retry_after_seconds("Mon, 23 Nov 2026 12:01:00 -0000", NOW) == 60.0


def test_retry_after_http_date_in_the_past_is_now() -> None:
    value = email.utils.format_datetime(NOW - dt.timedelta(hours=1), usegmt=True)
    assert retry.retry_after_seconds(value, NOW) == 0.0


@pytest.mark.parametrize(
    "value",
    [None, "", "   ", "soon", "-5", "1.5", "5s", "\u0661\u0662", "Mon, 99 Foo 2026 99:99:99 GMT"],
)
def test_retry_after_garbage_is_ignored(value: str | None) -> None:
    """Garbage must not crash the worker or park the event: it falls back to the schedule."""
    assert retry.retry_after_seconds(value, NOW) is None


# -- next_delay ---------------------------------------------------------------------------

SCHEDULE = (5.0, 300.0, 1800.0)


def test_next_delay_stays_within_jitter_of_its_step() -> None:
    """±20 % of each step (W4's gap criterion), and the band is actually used: a policy
    that ignored jitter, or doubled it, fails one of the two checks."""
    rng = random.Random(1234)
    for attempt, step in enumerate(SCHEDULE, start=1):
        draws = [retry.next_delay(attempt, SCHEDULE, jitter=0.2, rng=rng) for _ in range(2000)]
        values = [value for value in draws if value is not None]
        assert len(values) == len(draws)
        assert min(values) >= step * 0.8
        assert max(values) <= step * 1.2
        assert min(values) < step * 0.85 and max(values) > step * 1.15


def test_next_delay_is_reproducible_with_a_seed() -> None:
    first = [retry.next_delay(1, SCHEDULE, rng=random.Random(7)) for _ in range(3)]
    again = [retry.next_delay(1, SCHEDULE, rng=random.Random(7)) for _ in range(3)]
    assert first == again


def test_next_delay_without_jitter_is_the_step() -> None:
    assert [retry.next_delay(n, SCHEDULE, jitter=0.0) for n in (1, 2, 3)] == list(SCHEDULE)


def test_next_delay_gives_up_after_the_last_step() -> None:
    """1 + len(schedule) attempts in all (W4): after attempt len(schedule) there is a
    step left, after the next one there is none."""
    rng = random.Random(0)
    assert retry.next_delay(len(SCHEDULE), SCHEDULE, rng=rng) is not None
    assert retry.next_delay(len(SCHEDULE) + 1, SCHEDULE, rng=rng) is None
    assert retry.next_delay(100, SCHEDULE, rng=rng) is None
    assert retry.next_delay(0, SCHEDULE, rng=rng) is None


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(0.0, 5.0), (3.0, 5.0), (5.0, 5.0), (7.0, 7.0), (10.0, 10.0), (11.0, 10.0), (1e9, 10.0)],
)
def test_retry_after_is_clamped_to_step_and_twice_the_step(
    retry_after: float, expected: float
) -> None:
    """Svix: a receiver may slow us down, within [step, 2 × step], with no jitter on top."""
    rng = random.Random(3)
    assert retry.next_delay(1, SCHEDULE, retry_after=retry_after, rng=rng) == expected


def test_overload_waits_at_least_the_penalty() -> None:
    """A timeout or 429 waits >= the penalty (Svix: 60 s), even on a short step or a
    Retry-After, but a longer step is not shortened."""
    rng = random.Random(5)
    assert retry.next_delay(1, SCHEDULE, overloaded=True, overload_penalty=60, rng=rng) == 60
    short = retry.next_delay(1, SCHEDULE, retry_after=7, overloaded=True, overload_penalty=60)
    assert short == 60
    long = retry.next_delay(2, SCHEDULE, overloaded=True, overload_penalty=60, rng=rng)
    assert long is not None and 240 <= long <= 360
    assert retry.next_delay(4, SCHEDULE, overloaded=True, overload_penalty=60) is None
