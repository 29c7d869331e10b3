"""One typed settings object, read from the environment. Unset servers → embedded stack."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_TENANT = "demo"
"""The tenant `bsdflow up` creates on first start, and the CLI's default."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BSDFLOW_", extra="ignore")

    database_url: str | None = Field(
        None, validation_alias=AliasChoices("DATABASE_URL", "BSDFLOW_DATABASE_URL")
    )
    kafka_bootstrap_servers: str | None = Field(
        None,
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "BSDFLOW_KAFKA_BOOTSTRAP_SERVERS"),
    )
    redis_url: str | None = Field(
        None, validation_alias=AliasChoices("REDIS_URL", "BSDFLOW_REDIS_URL")
    )

    env: Literal["dev", "prod"] = "dev"
    data_dir: Path = Path(".bsdflow")
    host: str = "127.0.0.1"
    port: int = 8000
    jwt_secret: str | None = None
    jwt_audience: str = "bsdflow"
    max_body_bytes: int = 1_048_576
    max_header_bytes: int = 32 * 1024
    """Request line plus headers; a longer head is refused with 431 before it is parsed."""
    max_document_bytes: int = 25 * 1_048_576
    db_pool_size: int = 8
    db_pool_overflow: int = 8
    events_topic: str = "bsdflow.events"
    secret_key: str | None = None
    """Master key for provider credentials (each tenant's key is derived from it)."""
    outbound_allow: str = ""
    """Comma-separated networks outbound channels may reach although private or loopback
    (e.g. "127.0.0.0/8" for a local test server). Empty: public addresses only."""
    outbound_connect_timeout: float = 5.0
    outbound_read_timeout: float = 10.0
    validation_timeout: float = 5.0
    scheduler_tick: float = 0.2
    scheduler_idle_tick: float = 5.0
    """While nothing changes, the scheduler works (heartbeat, planning) this often only."""
    log_level: str = "INFO"
    log_json: bool = True

    @property
    def embedded(self) -> bool:
        """True when any server is unset: the embedded stack supplies the missing ones."""
        return not (self.database_url and self.kafka_bootstrap_servers and self.redis_url)

    @property
    def documents_dir(self) -> Path:
        return self.data_dir / "documents"

    def signing_secret(self) -> str:
        """The configured JWT secret, or a random one kept in the data folder for dev runs."""
        return self._secret(self.jwt_secret, "BSDFLOW_JWT_SECRET", "jwt-secret")

    def credentials_key(self) -> str:
        return self._secret(self.secret_key, "BSDFLOW_SECRET_KEY", "secret-key")

    def _secret(self, configured: str | None, variable: str, file_name: str) -> str:
        if configured:
            return configured
        if self.env == "prod":
            raise RuntimeError(f"{variable} must be set when BSDFLOW_ENV=prod")
        path = self.data_dir / file_name
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()
