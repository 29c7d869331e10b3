"""Bearer tokens and role-based permissions for commands."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from uuid import UUID

import jwt

from domain.grants import ROLE_NAME
from domain.ids import tenant_id_for

ALGORITHM = "HS256"
API_KEY_PREFIX = "bsk_"
"""How a service account's API key starts (`commands.api_keys`): no JWT does."""
KEY_ACTOR = "key:"
"""The actors API keys act as (`key:<name>`): no token or membership may name one, so the
audit trail's `key:ci` is always the key."""
REGISTERED_CLAIMS = frozenset({"sub", "tenant", "roles", "aud", "iss", "iat", "exp", "nbf", "jti"})


class Unauthenticated(Exception):
    """No usable credentials: 401."""


class Forbidden(Exception):
    """Authenticated, but the roles do not allow this: 403."""


@dataclass(frozen=True)
class Principal:
    actor: str
    tenant_slug: str
    roles: frozenset[str]
    expires_at: int | None = None
    """The token's `exp` claim: long-lived connections end then."""
    internal: bool = False
    """One of bsdflow's own services: its roles are the built-in ones, whatever a tenant did."""
    claims: Mapping[str, Any] = field(default_factory=dict)
    """The token's other claims (a region, a department…), for row rules' `me.claims.…`."""

    @classmethod
    def system(cls, actor: str) -> Principal:
        """A service of bsdflow's own (the reactor, the scheduler), acting in every tenant with
        the automation role: each event it stores names the tenant it belongs to."""
        return cls(actor=actor, tenant_slug="", roles=frozenset({"automation"}), internal=True)

    @cached_property
    def tenant_id(self) -> UUID:
        return tenant_id_for(self.tenant_slug)


@dataclass(frozen=True)
class OidcIssuer:
    """Tokens of an OpenID Connect provider: RS256/ES256 signatures checked against its JWKS
    (fetched, cached for `cache_seconds`, fetched again for a key id it does not hold: the
    provider rotated its keys), issuer and audience checked, clock skew bounded."""

    issuer: str
    jwks_url: str
    audience: str
    tenant_claim: str = "tenant"
    roles_claim: str = "roles"
    leeway_seconds: int = 30
    cache_seconds: float = 300.0
    refresh_cooldown_seconds: float = 5.0

    @cached_property
    def _keys(self) -> jwt.PyJWKClient:
        return jwt.PyJWKClient(
            self.jwks_url,
            lifespan=self.cache_seconds,
            cooldown_duration=self.refresh_cooldown_seconds,
            timeout=5,
        )

    def claims(self, token: str) -> dict[str, Any]:
        try:
            key = self._keys.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as exc:
            raise Unauthenticated("the identity provider's keys cannot be fetched") from exc
        except jwt.PyJWKClientError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from exc
        found: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=list(OIDC_ALGORITHMS),
            audience=self.audience,
            issuer=self.issuer,
            leeway=self.leeway_seconds,
            options={"require": ["exp", "aud", "sub", "iss"]},
        )
        # The provider's names for the tenant and the roles, as bsdflow's own tokens have them.
        mapped = {k: v for k, v in found.items() if k not in (self.tenant_claim, self.roles_claim)}
        mapped["tenant"] = found.get(self.tenant_claim)
        mapped["roles"] = found.get(self.roles_claim, [])
        return mapped


OIDC_ALGORITHMS = ("RS256", "ES256")


@dataclass(frozen=True)
class TokenCodec:
    """bsdflow's own HS256 tokens (development: `bsdflow token`), and an OIDC provider's."""

    secret: str
    audience: str = "bsdflow"
    issuer: str = "bsdflow"
    oidc: OidcIssuer | None = None
    api_keys: Callable[[str], Principal] | None = None
    """Who a service account's API key (`bsk_…`) stands for (`commands.api_keys.ApiKeyBook`)."""

    def mint(
        self,
        tenant: str,
        roles: list[str],
        actor: str = "dev",
        ttl_seconds: int = 86_400,
        claims: Mapping[str, Any] | None = None,
    ) -> str:
        malformed = [role for role in roles if not ROLE_NAME.match(role)]
        if malformed:
            raise ValueError(f"not role names: {malformed}")
        now = int(time.time())
        extra = {k: v for k, v in (claims or {}).items() if k not in REGISTERED_CLAIMS}
        payload = {
            **extra,
            "sub": actor,
            "tenant": tenant,
            "roles": roles,
            "aud": self.audience,
            "iss": self.issuer,
            "iat": now,
            "exp": now + ttl_seconds,
        }
        return jwt.encode(payload, self.secret, algorithm=ALGORITHM)

    def principal(self, authorization: str | None) -> Principal:
        if not authorization or not authorization.lower().startswith("bearer "):
            raise Unauthenticated("send 'Authorization: Bearer <token>'")
        token = authorization[7:].strip()
        if self.api_keys is not None and token.startswith(API_KEY_PREFIX):
            return self.api_keys(token)
        try:
            if self.oidc is not None and _issuer_of(token) == self.oidc.issuer:
                claims = self.oidc.claims(token)
            else:
                claims = jwt.decode(
                    token,
                    self.secret,
                    algorithms=[ALGORITHM],
                    audience=self.audience,
                    issuer=self.issuer,
                    options={"require": ["exp", "aud", "sub", "iss"]},
                )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("token has expired") from exc
        except jwt.InvalidSignatureError as exc:
            raise Unauthenticated("invalid token: signature verification failed") from exc
        except jwt.DecodeError as exc:
            # Not a JWT at all: the decoder's own words (codecs, padding) help nobody.
            raise Unauthenticated("malformed token") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"invalid token: {exc}") from exc
        return _principal_of(claims)


def _issuer_of(token: str) -> object:
    """Who says it issued the token (unverified: it only picks which keys must verify it)."""
    try:
        return jwt.decode(token, options={"verify_signature": False}).get("iss")
    except jwt.InvalidTokenError:
        return None


def _principal_of(claims: dict[str, object]) -> Principal:
    """The principal a verified token names; a signature vouches for who wrote the claims, not
    for their shape."""
    tenant, roles, actor = claims.get("tenant"), claims.get("roles"), claims.get("sub")
    if not isinstance(tenant, str) or not tenant:
        raise Unauthenticated("token claim 'tenant' must be a non-empty string")
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise Unauthenticated("token claim 'roles' must be a list of role names")
    if not isinstance(actor, str) or not actor:
        raise Unauthenticated("token claim 'sub' must be a non-empty string")
    if actor.startswith(KEY_ACTOR):
        raise Unauthenticated(f"token claim 'sub' may not start with {KEY_ACTOR!r} (API keys')")
    expires_at = claims.get("exp")
    if not isinstance(expires_at, int):
        raise Unauthenticated("token claim 'exp' must be a number of seconds")
    others = {k: v for k, v in claims.items() if k not in REGISTERED_CLAIMS}
    return Principal(
        actor=actor,
        tenant_slug=tenant,
        roles=frozenset(roles),
        expires_at=expires_at,
        claims=others,
    )
