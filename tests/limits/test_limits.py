"""The limits' rules, on both backends, with the clock handed in: nothing sleeps."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.accounts.oauth import AppPrincipal
from relatecrm.accounts.service import Principal
from relatecrm.config import Settings
from relatecrm.db import create_engine
from relatecrm.limits import bucket, operating
from relatecrm.limits.models import operating_usage, rate_buckets
from relatecrm.limits.service import (
    Admission,
    Limits,
    LimitSettings,
    OperationTimeLimitExceeded,
    RequestLimitExceeded,
    app_credential,
    credential_of,
    webhook_credential,
)
from tests.conftest import count_rows

T0 = 1_800_000_000.0
HOOK = webhook_credential("0123456789abcdef")
OTHER = webhook_credential("fedcba9876543210")
RATE = LimitSettings(rate_enabled=True, burst=50, drain_per_second=2.0)
BUDGET = LimitSettings(operating_enabled=True, operating_seconds=480.0, window_seconds=600.0)


async def admitted(limits: Limits, count: int, *, now: float, credential: str = HOOK) -> int:
    """How many of ``count`` back-to-back requests at ``now`` get through."""
    passed = 0
    for _ in range(count):
        try:
            await limits.admit(credential, "crm.deal.list", now=now)
        except RequestLimitExceeded:
            continue
        passed += 1
    return passed


async def level(db: AsyncEngine, *, now: float, credential: str = HOOK) -> float:
    async with db.connect() as conn:
        return await bucket.level(conn, credential, now=now, drain=2.0)


# The leaky bucket


async def test_a_burst_of_fifty_is_admitted_and_the_fifty_first_is_refused(db: AsyncEngine) -> None:
    limits = Limits(db, RATE)
    assert await admitted(limits, 50, now=T0) == 50
    with pytest.raises(RequestLimitExceeded) as refused:
        await limits.admit(HOOK, "crm.deal.list", now=T0)
    assert refused.value.message == "Too many requests"
    assert await level(db, now=T0) == 50.0


async def test_the_bucket_drains_two_requests_a_second(db: AsyncEngine) -> None:
    limits = Limits(db, RATE)
    assert await admitted(limits, 60, now=T0) == 50
    assert await admitted(limits, 5, now=T0 + 0.25) == 0  # half a request drained
    assert await admitted(limits, 5, now=T0 + 0.5) == 1
    assert await admitted(limits, 30, now=T0 + 10.5) == 20
    assert await level(db, now=T0 + 10.5) == 50.0
    assert await level(db, now=T0 + 40.5) == 0.0  # empty, never negative
    assert await admitted(limits, 60, now=T0 + 100) == 50  # a full burst again


async def test_a_refused_request_changes_nothing(db: AsyncEngine) -> None:
    limits = Limits(db, RATE)
    await admitted(limits, 50, now=T0)
    async with db.connect() as conn:
        before = (await conn.execute(select(rate_buckets))).all()
    await admitted(limits, 10, now=T0 + 0.1)
    async with db.connect() as conn:
        assert (await conn.execute(select(rate_buckets))).all() == before


async def test_each_credential_has_its_own_bucket(db: AsyncEngine) -> None:
    limits = Limits(db, RATE)
    assert await admitted(limits, 55, now=T0) == 50
    assert await admitted(limits, 55, now=T0, credential=OTHER) == 50
    assert await count_rows(db, "rate_buckets") == 2


async def test_a_clock_behind_the_stored_one_neither_drains_nor_fills(db: AsyncEngine) -> None:
    """Processes' clocks differ slightly: an older reading must not refill the bucket."""
    limits = Limits(db, RATE)
    assert await admitted(limits, 50, now=T0 + 5) == 50
    assert await admitted(limits, 3, now=T0) == 0
    assert await admitted(limits, 3, now=T0 + 5.5) == 1
    async with db.connect() as conn:
        stored = (await conn.execute(select(rate_buckets.c.updated_at))).scalar_one()
    assert stored == T0 + 5.5


async def test_burst_and_drain_come_from_settings(db: AsyncEngine) -> None:
    settings = Settings(
        rate_limit_enabled=True, rate_limit_burst=3, rate_limit_drain_per_second=0.5
    )
    limits = Limits(db, LimitSettings.from_settings(settings))
    assert await admitted(limits, 5, now=T0) == 3
    assert await admitted(limits, 5, now=T0 + 1.9) == 0
    assert await admitted(limits, 5, now=T0 + 2.0) == 1


async def test_two_processes_share_one_bucket(db: AsyncEngine) -> None:
    """Two engines on one database stand for two server processes."""
    other_engine = create_engine(db.url.render_as_string(hide_password=False))
    try:
        first, second = Limits(db, RATE), Limits(other_engine, RATE)
        assert await admitted(first, 30, now=T0) == 30
        assert await admitted(second, 30, now=T0) == 20
        assert await admitted(first, 1, now=T0) == 0
    finally:
        await other_engine.dispose()


def test_credential_keys_are_stable_distinct_and_not_the_secret() -> None:
    code = "0123456789abcdef"
    assert webhook_credential(code) == HOOK
    assert code not in HOOK
    keys = {HOOK, OTHER, app_credential("local.1", 1), app_credential("local.1", 2)}
    assert len(keys) == 4
    assert all(len(key) <= 64 for key in keys)


def test_a_caller_is_counted_by_app_and_user_or_by_webhook() -> None:
    hook = Principal(user_id=1, scopes=frozenset({"crm"}), is_admin=True)
    assert credential_of(hook, "0123456789abcdef") == HOOK

    def app(user_id: int, client_id: str = "local.abc") -> AppPrincipal:
        return AppPrincipal(user_id=user_id, scopes=frozenset({"crm"}), is_admin=False,
                            app_id=7, client_id=client_id)  # fmt: skip

    assert (
        credential_of(app(1), None) == credential_of(app(1), None) == app_credential("local.abc", 1)
    )
    assert credential_of(app(1), None) != credential_of(app(2), None)
    assert credential_of(app(1), None) != credential_of(app(1, "local.other"), None)


# The operating budget


async def charge(limits: Limits, seconds: float, *, now: float, method: str = "crm.deal.list",
                 credential: str = HOOK) -> Admission:  # fmt: skip
    admission = await limits.admit(credential, method, now=now)
    await limits.charge(admission, seconds, now=now)
    return admission


async def test_the_call_that_crosses_the_budget_runs_and_the_next_is_refused(
    db: AsyncEngine,
) -> None:
    limits = Limits(db, BUDGET)
    await charge(limits, 300.0, now=T0)
    await charge(limits, 180.0, now=T0 + 30)  # exactly 480: not over yet
    crossing = await charge(limits, 0.5, now=T0 + 60)
    assert crossing.before.seconds == 480.0
    with pytest.raises(OperationTimeLimitExceeded) as refused:
        await limits.admit(HOOK, "crm.deal.list", now=T0 + 61)
    assert refused.value.message == "Method is blocked due to operation time limit."
    assert refused.value.reset_at == T0 + 600


async def test_other_methods_and_other_credentials_are_unaffected(db: AsyncEngine) -> None:
    limits = Limits(db, BUDGET)
    await charge(limits, 500.0, now=T0)
    with pytest.raises(OperationTimeLimitExceeded):
        await limits.admit(HOOK, "crm.deal.list", now=T0 + 1)
    with pytest.raises(OperationTimeLimitExceeded):
        await limits.admit(HOOK, "CRM.Deal.List", now=T0 + 1)  # one method, any case
    await limits.admit(HOOK, "crm.deal.get", now=T0 + 1)
    await limits.admit(OTHER, "crm.deal.list", now=T0 + 1)


async def test_slots_expire_one_window_after_their_first_call(db: AsyncEngine) -> None:
    limits = Limits(db, BUDGET)
    await charge(limits, 300.0, now=T0 + 10)
    await charge(limits, 100.0, now=T0 + 40)  # the same one-minute slot
    await charge(limits, 200.0, now=T0 + 130)  # a later slot
    with pytest.raises(OperationTimeLimitExceeded) as refused:
        await limits.admit(HOOK, "crm.deal.list", now=T0 + 200)
    assert refused.value.reset_at == T0 + 610  # the oldest slot's first call + 600
    with pytest.raises(OperationTimeLimitExceeded):
        await limits.admit(HOOK, "crm.deal.list", now=T0 + 609.9)
    after = await limits.admit(HOOK, "crm.deal.list", now=T0 + 610)
    assert after.before.seconds == 200.0
    assert after.before.reset_at == T0 + 730


async def test_a_slot_keeps_its_first_call_and_expired_slots_are_dropped(db: AsyncEngine) -> None:
    limits = Limits(db, BUDGET)
    await charge(limits, 1.0, now=T0 + 1)
    await charge(limits, 2.0, now=T0 + 59)
    async with db.connect() as conn:
        rows = (await conn.execute(select(operating_usage))).all()
    assert [(r.first_at, r.seconds) for r in rows] == [(T0 + 1, 3.0)]
    await charge(limits, 4.0, now=T0 + 700)
    async with db.connect() as conn:
        rows = (await conn.execute(select(operating_usage))).all()
    assert [(r.first_at, r.seconds) for r in rows] == [(T0 + 700, 4.0)]


async def test_the_report_includes_the_call_itself(db: AsyncEngine) -> None:
    limits = Limits(db, BUDGET)
    fresh = await limits.admit(HOOK, "crm.deal.list", now=T0 + 0.4)
    assert (fresh.before.seconds, fresh.before.reset_at) == (0.0, T0 + 601)
    assert fresh.report(0.25).seconds == 0.25
    await limits.charge(fresh, 0.25, now=T0 + 1)
    later = await limits.admit(HOOK, "crm.deal.list", now=T0 + 5)
    assert later.report(0.5).seconds == 0.75
    assert later.report(0.5).reset_at == T0 + 601


async def test_budget_and_window_come_from_settings(db: AsyncEngine) -> None:
    settings = Settings(
        operating_limit_enabled=True, operating_limit_seconds=2.0, operating_window_seconds=10.0
    )
    limits = Limits(db, LimitSettings.from_settings(settings))
    await charge(limits, 2.5, now=T0)
    with pytest.raises(OperationTimeLimitExceeded) as refused:
        await limits.admit(HOOK, "crm.deal.list", now=T0 + 9)
    assert refused.value.reset_at == T0 + 10
    await limits.admit(HOOK, "crm.deal.list", now=T0 + 10)


async def test_an_operating_refusal_still_counts_against_the_bucket(db: AsyncEngine) -> None:
    limits = Limits(db, LimitSettings(rate_enabled=True, burst=3, operating_enabled=True,
                                      operating_seconds=1.0))  # fmt: skip
    await charge(limits, 2.0, now=T0)
    for _ in range(2):
        with pytest.raises(OperationTimeLimitExceeded):
            await limits.admit(HOOK, "crm.deal.list", now=T0)
    with pytest.raises(RequestLimitExceeded):
        await limits.admit(HOOK, "crm.deal.get", now=T0)


# Off by default


@pytest.fixture
async def statements(db: AsyncEngine) -> AsyncIterator[list[str]]:
    """Every SQL statement the engine runs while the test does."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(db.sync_engine, "before_cursor_execute", record)
    yield seen
    event.remove(db.sync_engine, "before_cursor_execute", record)


async def test_limits_are_off_by_default_and_then_touch_no_table(
    db: AsyncEngine, statements: list[str]
) -> None:
    config = LimitSettings.from_settings(Settings())
    assert config == LimitSettings()
    assert not config.rate_enabled and not config.operating_enabled
    limits = Limits(db, config)
    for _ in range(200):
        admission = await limits.admit(HOOK, "crm.deal.list", now=T0)
        await limits.charge(admission, 1000.0, now=T0)
    assert statements == []
    assert admission.report(1.5).seconds == 0.0
    assert admission.report(1.5).reset_at == T0 + 600


async def test_a_failed_charge_is_logged_not_raised(
    db: AsyncEngine, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The charge runs after COMMIT: it must never turn a done write into an error."""

    async def broken(*_args: Any, **_kwargs: Any) -> None:
        raise ConnectionResetError("the database went away")

    limits = Limits(db, BUDGET)
    admission = await limits.admit(HOOK, "crm.deal.list", now=T0)
    monkeypatch.setattr(operating, "charge", broken)
    await limits.charge(admission, 1.0, now=T0)
    assert "could not record operating time of crm.deal.list" in caplog.text
    assert await count_rows(db, "operating_usage") == 0
