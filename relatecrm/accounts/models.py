"""Users and their credentials: webhook codes and OAuth apps (all stored only as hashes)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
)

from relatecrm.db import UtcDateTime, metadata

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("login", String(255), nullable=False, unique=True),
    Column("name", String(255), nullable=False, server_default=""),
    Column("last_name", String(255), nullable=False, server_default=""),
    Column("email", String(255), nullable=False, server_default=""),
    Column("is_admin", Boolean, nullable=False, server_default="0"),
    Column("active", Boolean, nullable=False, server_default="1"),
    Column("date_register", UtcDateTime, nullable=False),
    sqlite_autoincrement=True,
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # sha256 of the code; the code itself is shown once, at creation.
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("scopes", String(1000), nullable=False),
    Column("title", String(255), nullable=False, server_default=""),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    Index("ix_webhooks_user_id", "user_id"),
    sqlite_autoincrement=True,
)

# OAuth 2.0 applications (protocol spec §7.2). Secrets, codes and tokens are stored only
# as SHA-256 hex digests: a stolen database yields nothing a client could present.
oauth_apps = Table(
    "oauth_apps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("client_id", String(64), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False),
    Column("title", String(255), nullable=False),
    Column("scopes", String(1000), nullable=False),
    # The only place the authorization page ever redirects to.
    Column("redirect_url", String(2000), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime, nullable=True),
    sqlite_autoincrement=True,
)

# One row per approval on the consent page; a code is exchanged at most once.
oauth_codes = Table(
    "oauth_codes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("app_id", Integer, ForeignKey("oauth_apps.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("scopes", String(1000), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime, nullable=True),
    Index("ix_oauth_codes_expires_at", "expires_at"),
    sqlite_autoincrement=True,
)

# One row per live access/refresh pair. A refresh deletes the row and inserts its
# successor, so a rotated token (access or refresh) no longer exists anywhere.
oauth_tokens = Table(
    "oauth_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("app_id", Integer, ForeignKey("oauth_apps.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    # The code the chain started from: a replayed code revokes the whole chain.
    Column("code_id", Integer, ForeignKey("oauth_codes.id", ondelete="SET NULL"), nullable=True),
    Column("access_hash", String(64), nullable=False, unique=True),
    Column("refresh_hash", String(64), nullable=False, unique=True),
    Column("scopes", String(1000), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("access_expires_at", UtcDateTime, nullable=False),
    Column("refresh_expires_at", UtcDateTime, nullable=False),
    Index("ix_oauth_tokens_code_id", "code_id"),
    Index("ix_oauth_tokens_refresh_expires_at", "refresh_expires_at"),
    sqlite_autoincrement=True,
)

# Roles (accounts/permissions.py): one row per (role, entity, action) holding its level,
# "none", "own" or "all". A pair with no row is "none": a role grants only what it names.
roles = Table(
    "roles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    sqlite_autoincrement=True,
)

role_grants = Table(
    "role_grants",
    metadata,
    Column("role_id", Integer, ForeignKey("roles.id", ondelete="CASCADE"), nullable=False),
    Column("entity", String(20), nullable=False),
    Column("action", String(20), nullable=False),
    Column("level", String(10), nullable=False),
    PrimaryKeyConstraint("role_id", "entity", "action"),
)

# At most one role per user; a user without a row keeps the default (all rights).
user_roles = Table(
    "user_roles",
    metadata,
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("role_id", Integer, ForeignKey("roles.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("user_id"),
    Index("ix_user_roles_role_id", "role_id"),
)
