"""One typed settings object, read from the environment. Unset servers → embedded stack."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    max_document_bytes: int = 25 * 1_048_576
    db_pool_size: int = 8
    db_pool_overflow: int = 8
    events_topic: str = "bsdflow.events"
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
        if self.jwt_secret:
            return self.jwt_secret
        if self.env == "prod":
            raise RuntimeError("BSDFLOW_JWT_SECRET must be set when BSDFLOW_ENV=prod")
        path = self.data_dir / "jwt-secret"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()
