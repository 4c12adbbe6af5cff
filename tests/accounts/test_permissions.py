"""The permission predicate alone, and roles in the database (accounts/permissions.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import column, select, table
from sqlalchemy.ext.asyncio import AsyncEngine

from relatecrm.accounts import permissions
from relatecrm.accounts import service as accounts
from relatecrm.accounts.permissions import (
    ADD,
    ALL,
    CONTACT,
    DEAL,
    NONE,
    OWN,
    READ,
    UPDATE,
    Permissions,
)
from relatecrm.db import transaction
from relatecrm.errors import AccessDenied, InvalidParameter, NotFound
from tests.conftest import _now

ME, OTHER = 7, 8


def test_no_grants_means_everything() -> None:
    """Administrators and users without a role: every level is "all"."""
    rights = Permissions(ME)
    assert rights.level(DEAL, UPDATE) == ALL
    assert rights.allows(DEAL, READ, OTHER)
    assert rights.clause(DEAL, READ, column("assigned_by_id")) is None
    rights.check_assignee(DEAL, ADD, OTHER)


def test_a_role_grants_only_what_it_names() -> None:
    rights = Permissions(ME, {(DEAL, READ): OWN, (DEAL, UPDATE): ALL})
    assert rights.level(DEAL, ADD) == NONE and rights.level(CONTACT, READ) == NONE
    with pytest.raises(AccessDenied):
        rights.require(DEAL, ADD)
    assert rights.require(DEAL, READ) == OWN


def test_own_is_the_responsible_user() -> None:
    rights = Permissions(ME, {(DEAL, READ): OWN, (DEAL, UPDATE): OWN})
    assert rights.allows(DEAL, READ, ME) and not rights.allows(DEAL, READ, OTHER)
    assert not rights.allows(DEAL, READ, None)
    with pytest.raises(AccessDenied):
        rights.check(DEAL, READ, OTHER)
    rights.check(DEAL, READ, ME)
    with pytest.raises(AccessDenied):
        rights.check_assignee(DEAL, UPDATE, OTHER)
    rights.check_assignee(DEAL, UPDATE, ME)


def test_the_list_clause() -> None:
    deals = table("deals", column("id"), column("assigned_by_id"))
    own = Permissions(ME, {(DEAL, READ): OWN})
    clause = own.clause(DEAL, READ, deals.c.assigned_by_id)
    assert clause is not None
    compiled = select(deals.c.id).where(clause).compile(compile_kwargs={"literal_binds": True})
    assert "deals.assigned_by_id = 7" in str(compiled)
    with pytest.raises(AccessDenied):
        Permissions(ME, {}).clause(DEAL, READ, deals.c.assigned_by_id)
    assert Permissions(ME, {(DEAL, READ): ALL}).clause(DEAL, READ, deals.c.id) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("deal:read:own", {(DEAL, READ): OWN}),
        (" Deal:Update:ALL ", {(DEAL, UPDATE): ALL}),
        ("contact:*:all", {(CONTACT, action): ALL for action in permissions.ACTIONS}),
    ],
)
def test_grants_parse(text: str, expected: dict[tuple[str, str], str]) -> None:
    assert permissions.expand([permissions.parse_grant(text)]) == expected


@pytest.mark.parametrize("text", ["deal:read", "lead:read:all", "deal:move:all", "deal:read:some"])
def test_bad_grants_are_refused(text: str) -> None:
    with pytest.raises(InvalidParameter):
        permissions.parse_grant(text)


def test_later_grants_override() -> None:
    grants = permissions.expand(
        permissions.parse_grant(text) for text in ("*:*:all", "deal:delete:none")
    )
    assert grants[(DEAL, "delete")] == NONE and grants[(DEAL, READ)] == ALL
    assert len(grants) == len(permissions.ENTITIES) * len(permissions.ACTIONS)


async def test_roles_in_the_database(db: AsyncEngine) -> None:
    async with transaction(db) as conn:
        user = await accounts.create_user(conn, login="u", now=_now())
        admin = await accounts.create_user(conn, login="a", now=_now(), is_admin=True)
        grants = permissions.expand([("deal", "read", "own"), ("deal", "add", "none")])
        role_id = await permissions.create_role(conn, "sales", grants)
        with pytest.raises(InvalidParameter):
            await permissions.create_role(conn, "sales", {})
        # No role yet: everything.
        assert (await permissions.load(conn, user, is_admin=False)).grants is None
        await permissions.assign_role(conn, user, "sales")
        await permissions.assign_role(conn, admin, str(role_id))
        loaded = await permissions.load(conn, user, is_admin=False)
        assert loaded.grants == {(DEAL, READ): OWN}  # "none" is not stored
        assert (await permissions.load(conn, admin, is_admin=True)).grants is None
        with pytest.raises(NotFound):
            await permissions.assign_role(conn, user, "nope")
        with pytest.raises(NotFound):
            await permissions.assign_role(conn, 424242, "sales")
        await permissions.assign_role(conn, user, None)
        assert (await permissions.load(conn, user, is_admin=False)).grants is None
        (role,) = await permissions.list_roles(conn)
        assert (role.id, role.name, role.grants) == (role_id, "sales", {(DEAL, READ): OWN})
