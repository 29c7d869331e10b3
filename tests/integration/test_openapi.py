"""The OpenAPI document is generated from the registry: one route and schema per command."""

from __future__ import annotations

from commands.registered import COMMANDS


async def test_every_command_has_a_route_with_its_own_body_schema(api):
    spec = (await api.http.get("/openapi.json")).json()
    schemas = spec["components"]["schemas"]
    for name, command in COMMANDS.items():
        operation = spec["paths"][f"/v1/commands/{name}"]["post"]
        content = operation["requestBody"]["content"]
        media = "multipart/form-data" if command.upload else "application/json"
        assert media in content, name
        ref = content[media]["schema"]["$ref"].rsplit("/", 1)[-1]
        properties = schemas[ref]["properties"]
        assert set(command.model.model_fields) <= set(properties), name
        assert operation["summary"] == command.summary
        assert {"401", "403", "409", "422"} <= set(operation["responses"])
        header_names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        assert "Idempotency-Key" in header_names


async def test_unknown_fields_are_forbidden_in_the_schema(api):
    spec = (await api.http.get("/openapi.json")).json()
    assert spec["components"]["schemas"]["CreateEntity"]["additionalProperties"] is False


async def test_health_and_readiness(api):
    assert (await api.http.get("/health")).json() == {"status": "ok"}
    ready = (await api.http.get("/ready")).json()
    assert ready == {"status": "ready", "checks": {"postgres": "ok", "kafka": "ok", "redis": "ok"}}


async def test_readiness_reports_an_unreachable_server(api):
    api.runtime.urls = api.runtime.urls.__class__(
        api.runtime.urls.database_url, "127.0.0.1:1", api.runtime.urls.redis_url
    )
    reply = await api.http.get("/ready")
    assert reply.status_code == 503
    assert reply.json()["checks"]["kafka"].startswith("error")


async def test_commands_require_a_bearer_token_in_the_document(api):
    spec = (await api.http.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    bearer = [
        name for name, s in schemes.items() if s["type"] == "http" and s["scheme"] == "bearer"
    ]
    assert len(bearer) == 1, schemes
    assert schemes[bearer[0]]["bearerFormat"] == "JWT"
    for name in COMMANDS:
        operation = spec["paths"][f"/v1/commands/{name}"]["post"]
        assert operation["security"] == [{bearer[0]: []}], name
        header_names = {p["name"].lower() for p in operation.get("parameters", [])}
        assert "authorization" not in header_names, name  # the Authorize button sends it
    for path in ("/health", "/ready"):
        assert "security" not in spec["paths"][path]["get"]
