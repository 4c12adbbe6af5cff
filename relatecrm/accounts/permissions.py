"""Who may do what: roles granting none / own / all per entity and action.

One predicate decides every case, so the methods cannot disagree: ``Permissions`` is
built once per call from the caller (``load``) and carried on the ``Context``. Single
rows are checked with ``check`` against their ``ASSIGNED_BY_ID``; lists are narrowed
with ``clause``, a WHERE term, so a page, its ``total`` and its paging never see a row
the caller may not read.

"own" means the responsible user (``ASSIGNED_BY_ID``) is the caller, as in Bitrix's
role editor ("own" = "Personal": the records the user is responsible for). The creator
(``CREATED_BY_ID``) does not count: after a reassignment the old creator should not keep
seeing the record, and one column keeps the predicate an index lookup
(``ix_*_assigned``).

Defaults: administrators have everything; a user without a role has everything too,
like Bitrix's default employee role (read/add/update/delete all deals) and like every
user before roles existed. A role grants only what it names: an unnamed pair is "none".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from relatecrm.accounts.models import role_grants, roles, user_roles
from relatecrm.accounts.service import user_exists
from relatecrm.errors import AccessDenied, InvalidParameter, NotFound, RecordAccessDenied

DEAL, CONTACT, COMPANY = "deal", "contact", "company"
ENTITIES = (DEAL, CONTACT, COMPANY)
READ, ADD, UPDATE, DELETE = "read", "add", "update", "delete"
ACTIONS = (READ, ADD, UPDATE, DELETE)
NONE, OWN, ALL = "none", "own", "all"
LEVELS = (NONE, OWN, ALL)

Grants = Mapping[tuple[str, str], str]


@dataclass(frozen=True)
class Permissions:
    """What one caller may do; ``grants`` None means everything (admins, no role)."""

    user_id: int
    grants: Grants | None = field(default=None)

    def level(self, entity: str, action: str) -> str:
        if self.grants is None:
            return ALL
        return self.grants.get((entity, action), NONE)

    def require(self, entity: str, action: str) -> str:
        """The level, or AccessDenied when it is "none": the method is closed to the caller."""
        level = self.level(entity, action)
        if level == NONE:
            raise AccessDenied()
        return level

    def allows(self, entity: str, action: str, assigned_by_id: Any) -> bool:
        """Whether the caller may act on a row with this responsible user."""
        level = self.level(entity, action)
        return level == ALL or (level == OWN and assigned_by_id == self.user_id)

    def check(self, entity: str, action: str, assigned_by_id: Any) -> None:
        """AccessDenied unless ``allows``: Bitrix answers "Access denied" for a record the
        user may not touch (deals spec §1.7, crm.deal.get/update/delete)."""
        if not self.allows(entity, action, assigned_by_id):
            raise RecordAccessDenied()

    def check_assignee(self, entity: str, action: str, assigned_by_id: Any) -> None:
        """With "own", a write may only leave the row assigned to the caller: an "own" user
        cannot hand a record away, nor create one for someone else."""
        if self.level(entity, action) == OWN and assigned_by_id != self.user_id:
            raise RecordAccessDenied()

    def clause(
        self, entity: str, action: str, assigned: ColumnElement[Any]
    ) -> ColumnElement[bool] | None:
        """The list predicate: None for "all"; AccessDenied for "none"."""
        level = self.require(entity, action)
        return None if level == ALL else assigned == self.user_id


def unrestricted(user_id: int) -> Permissions:
    return Permissions(user_id)


async def load(conn: AsyncConnection, user_id: int, *, is_admin: bool) -> Permissions:
    """The caller's permissions: one query, none for administrators."""
    if is_admin:
        return Permissions(user_id)
    role = await conn.execute(select(user_roles.c.role_id).where(user_roles.c.user_id == user_id))
    role_id = role.scalar()
    if role_id is None:
        return Permissions(user_id)
    return Permissions(user_id, await _grants(conn, int(role_id)))


async def _grants(conn: AsyncConnection, role_id: int) -> dict[tuple[str, str], str]:
    rows = await conn.execute(
        select(role_grants.c.entity, role_grants.c.action, role_grants.c.level).where(
            role_grants.c.role_id == role_id
        )
    )
    return {(entity, action): level for entity, action, level in rows}


# Administration (the CLI).


@dataclass(frozen=True)
class Role:
    id: int
    name: str
    grants: dict[tuple[str, str], str]


def parse_grant(text: str) -> tuple[str, str, str]:
    """``deal:read:own`` -> (entity, action, level); ``*`` stands for every entity/action."""
    parts = text.strip().lower().split(":")
    if len(parts) != 3:
        raise InvalidParameter(f"Grant '{text}' is not ENTITY:ACTION:LEVEL.")
    entity, action, level = parts
    if entity not in (*ENTITIES, "*") or action not in (*ACTIONS, "*") or level not in LEVELS:
        raise InvalidParameter(
            f"Grant '{text}': entity is one of {', '.join(ENTITIES)} or *, action one of "
            f"{', '.join(ACTIONS)} or *, level one of {', '.join(LEVELS)}."
        )
    return entity, action, level


def expand(grants: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str], str]:
    """Grants with ``*`` spelled out; a later grant overrides an earlier one."""
    result: dict[tuple[str, str], str] = {}
    for entity, action, level in grants:
        for each_entity in ENTITIES if entity == "*" else (entity,):
            for each_action in ACTIONS if action == "*" else (action,):
                result[(each_entity, each_action)] = level
    return result


async def create_role(conn: AsyncConnection, name: str, grants: Grants) -> int:
    if not name.strip():
        raise InvalidParameter("A role needs a name.")
    taken = InvalidParameter(f"Role '{name}' exists already.")
    if (await conn.execute(select(roles.c.id).where(roles.c.name == name))).first():
        raise taken  # looked up first: a failed INSERT would abort a PostgreSQL transaction
    try:
        result = await conn.execute(insert(roles).values(name=name).returning(roles.c.id))
    except IntegrityError:
        raise taken from None  # created concurrently
    role_id = int(result.scalar_one())
    rows = [
        {"role_id": role_id, "entity": entity, "action": action, "level": level}
        for (entity, action), level in grants.items()
        if level != NONE
    ]
    if rows:
        await conn.execute(insert(role_grants), rows)
    return role_id


async def list_roles(conn: AsyncConnection) -> list[Role]:
    found = [
        Role(int(row.id), row.name, {})
        for row in await conn.execute(select(roles).order_by(roles.c.id))
    ]
    for role in found:
        role.grants.update(await _grants(conn, role.id))
    return found


async def assign_role(conn: AsyncConnection, user_id: int, role: str | None) -> None:
    """Give the user the role (by name or id); None takes the role away (all rights)."""
    if not await user_exists(conn, user_id):
        raise NotFound(f"User {user_id} not found.")
    await conn.execute(delete(user_roles).where(user_roles.c.user_id == user_id))
    if role is None:
        return
    by = roles.c.id == int(role) if role.isdigit() else roles.c.name == role
    role_id = (await conn.execute(select(roles.c.id).where(by))).scalar()
    if role_id is None:
        raise NotFound(f"Role {role} not found.")
    await conn.execute(insert(user_roles).values(user_id=user_id, role_id=role_id))
