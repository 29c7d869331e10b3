"""Tokens of an OpenID Connect provider, verified against its JWKS on a real loopback server:
key rotation, and the usual attacks on JWT verification, each refused with 401."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from commands.auth import OidcIssuer, TokenCodec, Unauthenticated
from infra.api import create_app


class Provider(ThreadingHTTPServer):
    """An identity provider's discovery document and JWKS; `keys` may change (rotation)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.keys: dict[str, Any] = {}
        self.fetches = 0

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def publish(self, **keys: Any) -> None:
        self.keys = keys

    def mint(self, kid: str, key: Any, algorithm: str = "RS256", **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": self.issuer, "aud": "bsdflow", "sub": "ada", "org": "acme",
                   "groups": ["editor"], "iat": now, "exp": now + 300, **claims}  # fmt: skip
        return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid})


class _Handler(BaseHTTPRequestHandler):
    server: Provider

    def do_GET(self) -> None:
        if self.path == "/.well-known/openid-configuration":
            body = {"issuer": self.server.issuer, "jwks_uri": f"{self.server.issuer}/jwks"}
        else:
            self.server.fetches += 1
            body = {"keys": [_jwk(kid, key) for kid, key in self.server.keys.items()]}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _jwk(kid: str, key: Any) -> dict[str, Any]:
    algorithm = (
        jwt.algorithms.RSAAlgorithm
        if isinstance(key, rsa.RSAPrivateKey)
        else jwt.algorithms.ECAlgorithm
    )
    found: dict[str, Any] = json.loads(algorithm.to_jwk(key.public_key()))
    return {**found, "kid": kid, "use": "sig"}


@pytest.fixture
def provider() -> Iterator[Provider]:
    server = Provider()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


RSA_A = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_B = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_C = ec.generate_private_key(ec.SECP256R1())


def codec_for(provider: Provider) -> TokenCodec:
    from infra.settings import discovered_jwks_url

    issuer = OidcIssuer(
        issuer=provider.issuer,
        jwks_url=discovered_jwks_url(provider.issuer),
        audience="bsdflow",
        tenant_claim="org",
        roles_claim="groups",
        refresh_cooldown_seconds=0,
    )
    return TokenCodec("a-local-development-secret-of-32-bytes", oidc=issuer)


def test_provider_tokens_map_to_tenant_roles_and_claims(provider: Provider) -> None:
    provider.publish(a=RSA_A, c=EC_C)
    codec = codec_for(provider)
    ada = codec.principal(f"Bearer {provider.mint('a', RSA_A, region='north')}")
    assert (ada.tenant_slug, ada.actor, ada.roles) == ("acme", "ada", frozenset({"editor"}))
    assert ada.claims["region"] == "north"
    assert codec.principal(f"Bearer {provider.mint('c', EC_C, 'ES256')}").actor == "ada"
    # bsdflow's own tokens keep working beside the provider's
    assert codec.principal(f"Bearer {codec.mint('acme', ['viewer'], actor='dev')}").actor == "dev"


def test_a_rotated_key_is_fetched_and_the_old_one_refused(provider: Provider) -> None:
    provider.publish(a=RSA_A)
    codec = codec_for(provider)
    old = provider.mint("a", RSA_A)
    assert codec.principal(f"Bearer {old}").actor == "ada"
    provider.publish(b=RSA_B)
    assert codec.principal(f"Bearer {provider.mint('b', RSA_B)}").actor == "ada"
    fetched = provider.fetches
    with pytest.raises(Unauthenticated, match="invalid token"):
        codec.principal(f"Bearer {old}")
    assert provider.fetches >= fetched  # looked again before refusing


def _hs256_with_public_key(provider: Provider) -> str:
    """The classic confusion attack: HMAC keyed with the provider's public key."""
    public = RSA_A.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    now = int(time.time())
    signed = (
        part({"alg": "HS256", "typ": "JWT", "kid": "a"})
        + "."
        + part(
            {
                "iss": provider.issuer,
                "aud": "bsdflow",
                "sub": "eve",
                "org": "acme",
                "groups": ["admin"],
                "exp": now + 300,
            }
        )
    )
    mac = hmac.new(public, signed.encode(), hashlib.sha256).digest()
    return signed + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _tampered(provider: Provider) -> str:
    header, payload, signature = provider.mint("a", RSA_A).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["groups"] = ["admin"]
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


ATTACKS = {
    "alg none": lambda p: jwt.encode(
        {"iss": p.issuer, "aud": "bsdflow", "sub": "eve", "org": "acme", "exp": time.time() + 300},
        None,
        algorithm="none",
    ),
    "HS256 keyed with the public key": _hs256_with_public_key,
    "unknown kid": lambda p: p.mint("zz", RSA_B),
    "expired": lambda p: p.mint("a", RSA_A, exp=int(time.time()) - 120),
    "not yet valid": lambda p: p.mint("a", RSA_A, nbf=int(time.time()) + 120),
    "wrong issuer": lambda p: jwt.encode(
        {
            "iss": "https://evil.example",
            "aud": "bsdflow",
            "sub": "eve",
            "org": "acme",
            "exp": int(time.time()) + 300,
        },
        RSA_A,
        algorithm="RS256",
        headers={"kid": "a"},
    ),
    "wrong audience": lambda p: p.mint("a", RSA_A, aud="another-api"),
    "tampered payload": _tampered,
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_attacks_on_verification_are_refused(provider: Provider, attack: str) -> None:
    provider.publish(a=RSA_A)
    with pytest.raises(Unauthenticated):
        codec_for(provider).principal(f"Bearer {ATTACKS[attack](provider)}")


async def test_the_api_takes_provider_tokens_and_refuses_the_forged_with_401(
    provider: Provider, runtime: Any, api: Any
) -> None:
    provider.publish(a=RSA_A)
    runtime.tokens = dataclasses.replace(runtime.tokens, oidc=codec_for(provider).oidc)
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://bsdflow.test") as http:

        async def create_group(token: str) -> httpx.Response:
            return await http.post(
                "/v1/commands/create-group",
                json={"name": "Provider's"},
                headers={"Authorization": f"Bearer {token}"},
            )

        accepted = await create_group(provider.mint("a", RSA_A))
        assert accepted.status_code == 200, accepted.text
        for attack in ("HS256 keyed with the public key", "tampered payload", "alg none"):
            refused = await create_group(ATTACKS[attack](provider))
            assert refused.status_code == 401, (attack, refused.text)
            assert refused.headers["content-type"] == "application/problem+json"
