"""Settings: one small object, read from ``RELATECRM_*`` variables and passed explicitly."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


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
    log_level: str = "info"

    def resolved_database_url(self) -> str:
        return self.database_url or default_database_url()

    def resolved_public_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        scheme = "https" if self.ssl_certfile else "http"
        return f"{scheme}://{self.host}:{self.port}"
