"""Settings: one small object, read from ``RELATECRM_*`` variables and passed explicitly."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from relatecrm.events.retry import parse_schedule
from relatecrm.events.ssrf import IPNetwork, parse_networks


def default_database_url() -> str:
    """SQLite file under ``./var`` so that ``relatecrm serve`` works with nothing installed."""
    return f"sqlite+aiosqlite:///{Path.cwd() / 'var' / 'relatecrm.db'}"


class Settings(BaseSettings):
    """Everything the server, the worker and the CLI need to know about their environment."""

    model_config = SettingsConfigDict(env_prefix="RELATECRM_", extra="ignore")

    database_url: str = ""
    public_url: str = ""
    host: str = "127.0.0.1"
    port: int = 8000
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    # Portal time zone: dates are rendered with this zone's offset, as Bitrix does.
    timezone: str = "UTC"
    # Request limits: a body over max_body_bytes is refused before it is parsed.
    max_body_bytes: int = 8 * 1024 * 1024
    max_params: int = 5000
    max_param_depth: int = 32
    # Cloud portals report `operating`; self-hosted ones may not.
    report_operating: bool = True
    # Bitrix24 limits (spec §3), off by default as on a self-hosted portal. The leaky
    # bucket: a credential may burst this many requests, refilled at this rate (503).
    rate_limit_enabled: bool = False
    rate_limit_burst: Annotated[int, Field(ge=1)] = 50
    rate_limit_drain_per_second: Annotated[float, Field(ge=0)] = 2.0
    # The operating budget: seconds of execution per method and credential within the
    # window (429). 480 s per 10 minutes is the cloud's figure and the SDKs' default.
    operating_limit_enabled: bool = False
    operating_limit_seconds: Annotated[float, Field(ge=0)] = 480.0
    operating_window_seconds: Annotated[float, Field(gt=0)] = 600.0
    log_level: str = "info"
    # OAuth 2.0 for applications (seconds). Bitrix: access 1 h, code 30 s, refresh
    # 180 days per the current docs (older material says 28 days).
    oauth_access_ttl: int = 3600
    oauth_refresh_ttl: int = 180 * 24 * 3600
    oauth_code_ttl: int = 30
    # The portal's `member_id` in OAuth answers; empty: derived from the public URL.
    member_id: str = ""
    # Event handler URLs may not point at internal addresses (SSRF guard) unless the
    # address lies in one of these comma-separated CIDRs, e.g. "10.20.0.0/16,fd00::/8".
    webhook_allowed_networks: str = ""

    # Event delivery (docs/operations.md). at_least_once retries on the schedule (seconds
    # after each failure, ±jitter); at_most_once is Bitrix's: one attempt, never resent.
    delivery_mode: Literal["at_least_once", "at_most_once"] = "at_least_once"
    delivery_timeout: Annotated[float, Field(gt=0)] = 10.0
    delivery_retry_schedule: str = "5,300,1800,7200,18000,36000,36000"
    delivery_jitter: Annotated[float, Field(ge=0, le=1)] = 0.2
    # After a timeout or a 429 the next try waits at least this long.
    delivery_overload_penalty: Annotated[float, Field(ge=0)] = 60.0
    # A handler with nothing but failures for this long is disabled (Svix: 5 days).
    delivery_disable_after: Annotated[float, Field(gt=0)] = 5 * 24 * 3600.0
    delivery_concurrency: Annotated[int, Field(ge=1)] = 16
    delivery_per_handler: Annotated[int, Field(ge=1)] = 4
    delivery_poll_interval: Annotated[float, Field(gt=0)] = 0.25
    # A send still unfinished this long after its timeout belongs to a dead worker.
    delivery_lease_margin: Annotated[float, Field(ge=0)] = 30.0
    delivery_max_response: Annotated[int, Field(ge=0)] = 20_000
    # Run a delivery worker inside `relatecrm serve`: auto = on SQLite only.
    delivery_in_serve: Literal["auto", "on", "off"] = "auto"
    # Seconds between the one-line event status in the server log; 0: never.
    status_interval: Annotated[float, Field(ge=0)] = 60.0

    @field_validator("delivery_retry_schedule")
    @classmethod
    def _schedule_parses(cls, value: str) -> str:
        parse_schedule(value)
        return value

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks_parse(cls, value: str) -> str:
        parse_networks(value)  # a bad CIDR stops the server at start, not at first use
        return value

    def allowed_networks(self) -> tuple[IPNetwork, ...]:
        return parse_networks(self.webhook_allowed_networks)

    def resolved_database_url(self) -> str:
        return self.database_url or default_database_url()

    def resolved_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        scheme = "https" if self.ssl_certfile else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def portal_member_id(self, base_url: str) -> str:
        """Bitrix's portal id: configured, or a stable digest of the public URL."""
        if self.member_id:
            return self.member_id
        return hashlib.sha256(f"relatecrm-member:{base_url}".encode()).hexdigest()[:32]

    def worker_in_serve(self) -> bool:
        if self.delivery_in_serve == "auto":
            return self.resolved_database_url().startswith("sqlite")
        return self.delivery_in_serve == "on"
