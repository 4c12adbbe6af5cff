"""Filter, order and select parsing; the grammar never fails with anything but CrmError."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.bitrix.filters import (
    expand_select,
    parse_filter,
    parse_order,
    parse_select,
    split_key,
)
from relatecrm.db import transaction
from relatecrm.deals import repository
from relatecrm.errors import CrmError, InvalidParameter
from relatecrm.listing import ListQuery, compile_where

UTC = dt.UTC


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("TITLE", ("=", "TITLE")),
        ("=TITLE", ("=", "TITLE")),
        ("!TITLE", ("!=", "TITLE")),
        ("!=TITLE", ("!=", "TITLE")),
        (">ID", (">", "ID")),
        (">=ID", (">=", "ID")),
        ("<ID", ("<", "ID")),
        ("<=ID", ("<=", "ID")),
        ("@ID", ("in", "ID")),
        ("!@ID", ("not_in", "ID")),
        ("%TITLE", ("contains", "TITLE")),
        ("=%TITLE", ("like", "TITLE")),
        ("%=TITLE", ("like", "TITLE")),
        ("!%TITLE", ("not_contains", "TITLE")),
        ("!=%TITLE", ("not_like", "TITLE")),
        ("!%=TITLE", ("not_like", "TITLE")),
    ],
)
def test_prefixes_are_read_longest_first(key: str, expected: tuple[str, str]) -> None:
    assert split_key(key) == expected


def test_shapes() -> None:
    assert parse_filter([]) == [] and parse_order(None) == []
    with pytest.raises(InvalidParameter, match="Parameter 'filter' must be array."):
        parse_filter("STAGE_ID=NEW")
    with pytest.raises(InvalidParameter, match="Parameter 'order' must be array."):
        parse_order(["ID"])
    assert parse_order({"id": "desc"}) == [("ID", "desc")]
    assert parse_select({"0": "ID", "1": "TITLE"}) == ["ID", "TITLE"]
    assert parse_select("ID") == ["ID"] and parse_select([]) is None


def test_select_masks_keep_the_output_order() -> None:
    order = ["ID", "TITLE", "STAGE_ID", "CONTACT_IDS"]
    star = ["ID", "TITLE", "STAGE_ID"]
    known = set(order)
    assert expand_select(["stage_id", "ID", "nope"], star, [], known, order) == ["ID", "STAGE_ID"]
    assert expand_select(None, star, [], known, order) == star
    assert expand_select(["UF_*"], star, [], known, order) == []
    assert expand_select(["*", "CONTACT_IDS"], star, [], known, order) == order


scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20)
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.text(max_size=5), inner, max_size=3), max_leaves=6)  # fmt: skip
prefixes = st.sampled_from(["", "=", "!", "!=", ">", ">=", "<", "<=", "@", "!@", "%", "=%",
                            "%=", "!%", "!=%", "!%=", "><", "?"])  # fmt: skip
names = st.one_of(st.sampled_from(sorted(repository.QUERYABLE)), st.text(max_size=12))
filters = st.dictionaries(st.builds(lambda p, n: p + n, prefixes, names), values, max_size=4)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(filters)
def test_any_filter_compiles_or_fails_with_a_crm_error(raw: dict[str, Any]) -> None:
    try:
        compile_where(repository.QUERYABLE, parse_filter(raw), UTC)
    except CrmError:
        pass  # a clear error for the client: that is the contract


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=filters, order=st.dictionaries(names, st.sampled_from(["ASC", "desc", "x"]), max_size=2))
async def test_any_list_call_runs_or_fails_cleanly(
    db: AsyncEngine, raw: dict[str, Any], order: dict[str, str]
) -> None:
    """On the real database: a generated filter runs, or it is refused before SQL runs."""
    try:
        query = ListQuery(select=["ID"], conditions=parse_filter(raw), order=parse_order(order))
        async with transaction(db, write=False) as conn:
            page = await repository.list_page(conn, query, UTC)
        assert page.total is not None and page.total >= len(page.rows)
    except CrmError:
        pass
