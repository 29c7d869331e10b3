"""One typed settings object, read from the environment, with a section per service.

Unset servers → embedded stack. Each section reads its own prefix (`BSDFLOW_GRAPHQL_*`,
`BSDFLOW_SCHEDULER_*`, `BSDFLOW_OUTBOUND_*`); code and tests build them as plain objects.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from read_api.config import ReadApiConfig

if TYPE_CHECKING:
    from commands.auth import TokenCodec

DEMO_TENANT = "demo"
"""The tenant `bsdflow up` creates on first start, and the CLI's default."""


class GraphQLSettings(ReadApiConfig, BaseSettings):
    """`BSDFLOW_GRAPHQL_*`: the read API's settings (`read_api.config`), from the environment."""

    model_config = SettingsConfigDict(env_prefix="BSDFLOW_GRAPHQL_", extra="ignore", frozen=True)


class SchedulerSettings(BaseSettings):
    """`BSDFLOW_SCHEDULER_*`."""

    model_config = SettingsConfigDict(env_prefix="BSDFLOW_SCHEDULER_", extra="ignore")

    tick: float = 0.2
    idle_tick: float = 5.0
    """While nothing changes, the scheduler works (heartbeat, planning) this often only."""


class OutboundSettings(BaseSettings):
    """`BSDFLOW_OUTBOUND_*`: what delivery channels may reach, and how long they wait."""

    model_config = SettingsConfigDict(env_prefix="BSDFLOW_OUTBOUND_", extra="ignore")

    allow: str = ""
    """Comma-separated networks outbound channels may reach although private or loopback
    (e.g. "127.0.0.0/8" for a local test server). Empty: public addresses only."""
    connect_timeout: float = 5.0
    read_timeout: float = 10.0


class LlmSettings(BaseSettings):
    """`BSDFLOW_LLM_*`: an OpenAI-compatible chat-completions endpoint (OpenAI, Azure,
    Ollama, vLLM, llama.cpp's server). Without a URL, LLM assistance is off."""

    model_config = SettingsConfigDict(env_prefix="BSDFLOW_LLM_", extra="ignore")

    url: str | None = None
    """The API's base, e.g. https://api.openai.com/v1 or http://127.0.0.1:11434/v1."""
    model: str = "gpt-4o-mini"
    api_key: str | None = None
    timeout: float = 30.0
    tokens_per_day: int = 200_000
    """Each tenant's budget, prompt and answer tokens together, per UTC day."""


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
    oidc_issuer: str | None = None
    """An OpenID Connect provider whose tokens are accepted (its `iss`), besides bsdflow's own."""
    oidc_jwks_url: str | None = None
    """Its signing keys (default: the `jwks_uri` its discovery document names)."""
    oidc_audience: str = "bsdflow"
    oidc_tenant_claim: str = "tenant"
    oidc_roles_claim: str = "roles"
    max_body_bytes: int = 1_048_576
    max_header_bytes: int = 32 * 1024
    """Request line plus headers; a longer head is refused with 431 before it is parsed."""
    max_document_bytes: int = 25 * 1_048_576
    inbox_dir: Path | None = None
    """Watched for spreadsheets to import: `<inbox>/<tenant>/<entity type>/file.xlsx`
    (default: `inbox` in the data folder)."""
    db_pool_size: int = 8
    db_pool_overflow: int = 8
    events_topic: str = "bsdflow.events"
    secret_key: str | None = None
    """Master key for provider credentials (each tenant's key is derived from it)."""
    validation_timeout: float = 5.0
    log_level: str = "INFO"
    log_json: bool = True
    graphql: GraphQLSettings = Field(default_factory=GraphQLSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    outbound: OutboundSettings = Field(default_factory=OutboundSettings)
    llm: LlmSettings = Field(default_factory=LlmSettings)

    @property
    def embedded(self) -> bool:
        """True when any server is unset: the embedded stack supplies the missing ones."""
        return not (self.database_url and self.kafka_bootstrap_servers and self.redis_url)

    @property
    def documents_dir(self) -> Path:
        return self.data_dir / "documents"

    @property
    def inbox(self) -> Path:
        return self.inbox_dir or self.data_dir / "inbox"

    def token_codec(self) -> TokenCodec:
        """Tokens as this installation accepts them: its own, and its OIDC provider's."""
        from commands.auth import OidcIssuer, TokenCodec

        oidc = None
        if self.oidc_issuer:
            oidc = OidcIssuer(
                issuer=self.oidc_issuer,
                jwks_url=self.oidc_jwks_url or discovered_jwks_url(self.oidc_issuer),
                audience=self.oidc_audience,
                tenant_claim=self.oidc_tenant_claim,
                roles_claim=self.oidc_roles_claim,
            )
        return TokenCodec(self.signing_secret(), self.jwt_audience, oidc=oidc)

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


def discovered_jwks_url(issuer: str) -> str:
    """The `jwks_uri` of the issuer's OpenID discovery document."""
    import httpx

    url = f"{issuer.rstrip('/')}/.well-known/openid-configuration"
    try:
        found = httpx.get(url, timeout=10).raise_for_status().json()["jwks_uri"]
    except (httpx.HTTPError, KeyError, ValueError) as exc:
        raise ValueError(f"cannot read {url} (set BSDFLOW_OIDC_JWKS_URL): {exc}") from exc
    return str(found)
