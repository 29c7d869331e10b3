"""docker-compose.yml and the Dockerfile cannot drift from the code: settings, CLI, packages."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer.main
import yaml
from pydantic_settings import BaseSettings

from infra.cli import app as cli
from infra.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
SERVERS = {"postgres": 5432, "kafka": 9092, "redis": 6379}  # service → port the app must use
APPS = ("migrate", "api")
INTERPOLATION = re.compile(r"\$\{(\w+)(?:[:?-][^}]*)?\}")


def app_env(service: str) -> dict[str, str]:
    """The environment compose gives an app service, with `${VAR:?...}` filled by a dummy."""
    env = SERVICES[service]["environment"]
    assert isinstance(env, dict), f"{service}: environment should be a mapping (the anchor)"
    return {key: INTERPOLATION.sub("dummy-value", str(value)) for key, value in env.items()}


def settings_env_names(settings: type[BaseSettings] = Settings) -> set[str]:
    """Every environment variable name infra.settings.Settings reads, its sections' included."""
    prefix = settings.model_config.get("env_prefix", "")
    names: set[str] = set()
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseSettings):
            names |= settings_env_names(field.annotation)
        elif alias is None:
            names.add(f"{prefix}{name}".upper())
        else:
            choices = getattr(alias, "choices", [alias])
            names.update(choice for choice in choices if isinstance(choice, str))
    return names


def test_each_section_reads_its_own_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    names = settings_env_names()
    assert {"BSDFLOW_GRAPHQL_INTROSPECTION", "BSDFLOW_SCHEDULER_TICK"} <= names
    assert "BSDFLOW_OUTBOUND_ALLOW" in names
    monkeypatch.setenv("BSDFLOW_GRAPHQL_INTROSPECTION", "false")
    monkeypatch.setenv("BSDFLOW_SCHEDULER_TICK", "0.5")
    monkeypatch.setenv("BSDFLOW_OUTBOUND_ALLOW", "10.0.0.0/8")
    settings = Settings()
    assert settings.graphql.introspection is False
    assert settings.scheduler.tick == 0.5
    assert settings.outbound.allow == "10.0.0.0/8"


def command_of(service: str) -> list[str]:
    command = SERVICES[service]["command"]
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def test_services_exist_and_third_party_images_are_pinned() -> None:
    assert set(SERVERS) | set(APPS) <= set(SERVICES), "a service is missing from docker-compose.yml"
    for name in SERVERS:
        image = SERVICES[name]["image"]
        assert ":" in image, f"{name}: image {image!r} is not pinned to a tag"
        assert not image.endswith(":latest"), f"{name}: image {image!r} uses :latest"


def test_app_services_share_one_built_image() -> None:
    images = {SERVICES[name]["image"] for name in APPS}
    assert len(images) == 1, f"api and migrate run different images: {images}"
    for name in APPS:
        assert "build" in SERVICES[name], f"{name}: no `build`, so the image is never built"
    assert app_env("api") == app_env("migrate"), "api and migrate get different environments"


def test_servers_have_healthchecks() -> None:
    for name in SERVERS:
        assert SERVICES[name].get("healthcheck", {}).get("test"), f"{name}: no healthcheck"
    assert SERVICES["api"].get("healthcheck", {}).get("test"), "api: no healthcheck"


@pytest.mark.parametrize("service", APPS)
def test_app_waits_for_healthy_servers(service: str) -> None:
    depends = SERVICES[service].get("depends_on", {})
    for server in SERVERS:
        condition = depends.get(server, {}).get("condition")
        assert condition == "service_healthy", f"{service}: does not wait for {server} healthy"


def test_api_waits_for_migrations() -> None:
    condition = SERVICES["api"]["depends_on"].get("migrate", {}).get("condition")
    assert condition == "service_completed_successfully", "api: does not wait for migrate"


@pytest.mark.parametrize("service", APPS)
def test_env_keys_are_read_by_settings(service: str) -> None:
    unknown = set(app_env(service)) - settings_env_names()
    assert not unknown, f"{service}: Settings reads none of {sorted(unknown)}"


@pytest.mark.parametrize("service", APPS)
def test_env_selects_external_servers(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in settings_env_names():
        monkeypatch.delenv(name, raising=False)
    for key, value in app_env(service).items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.embedded is False, f"{service}: a server URL is unset, embedded stack starts"


def test_server_urls_name_services_and_ports() -> None:
    env = app_env("api")
    urls = {
        "DATABASE_URL": env["DATABASE_URL"],
        "REDIS_URL": env["REDIS_URL"],
        **{
            f"KAFKA_BOOTSTRAP_SERVERS[{i}]": f"kafka://{server.strip()}"
            for i, server in enumerate(env["KAFKA_BOOTSTRAP_SERVERS"].split(","))
        },
    }
    for key, url in urls.items():
        host, port = urlsplit(url).hostname, urlsplit(url).port
        assert host in SERVERS, f"{key}: host {host!r} is not a server service in the file"
        assert port == SERVERS[host], f"{key}: port {port} but {host} serves {SERVERS[host]}"


def test_kafka_advertises_the_bootstrap_address() -> None:
    advertised = str(SERVICES["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"])
    bootstrap = app_env("api")["KAFKA_BOOTSTRAP_SERVERS"]
    addresses = {listener.split("://", 1)[1] for listener in advertised.split(",")}
    assert set(bootstrap.split(",")) <= addresses, f"kafka advertises {advertised}, not {bootstrap}"


def test_postgres_credentials_match_database_url() -> None:
    pg = SERVICES["postgres"]["environment"]
    url = urlsplit(app_env("api")["DATABASE_URL"])
    assert url.username == pg["POSTGRES_USER"], "DATABASE_URL user != POSTGRES_USER"
    assert url.password == pg["POSTGRES_PASSWORD"], "DATABASE_URL password != POSTGRES_PASSWORD"
    assert url.path.lstrip("/") == pg["POSTGRES_DB"], "DATABASE_URL database != POSTGRES_DB"


@pytest.mark.parametrize("service", APPS)
def test_command_is_a_real_cli_command(service: str) -> None:
    program, subcommand, *args = command_of(service)
    assert program == "bsdflow", f"{service}: runs {program!r}, not the bsdflow CLI"
    names = {
        info.name or info.callback.__name__.replace("_", "-")
        for info in cli.registered_commands
        if info.callback is not None
    }
    assert subcommand in names, f"{service}: `bsdflow {subcommand}` is not a command ({names})"
    command = typer.main.get_command(cli).commands[subcommand]  # type: ignore[attr-defined]
    options = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    for arg in args:
        if arg.startswith("-"):
            assert arg.split("=")[0] in options, f"{service}: `{subcommand}` has no {arg} option"
    command.make_context(subcommand, list(args))  # parses: types and arity must fit too


def test_dockerfile_copies_every_package() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    copied = {
        source.strip("./")
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ")
        for source in line.split()[1:-1]
    }
    missing = packages - copied
    assert not missing, f"Dockerfile does not COPY package(s) {sorted(missing)}"
    assert {"pyproject.toml", "README.md"} <= copied, (
        "Dockerfile must COPY pyproject.toml, README.md"
    )
