"""The composition root: builds every long-lived resource once and wires them together."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from uuid import UUID

import psycopg
import redis

from commands.access import AccessBook
from commands.api_keys import ApiKeyBook
from commands.auth import TokenCodec
from commands.prevalidation import Prevalidation
from commands.service import CommandService
from domain.tenant import Tenant
from eventstore.postgres import PostgresEventStore
from infra import instance
from infra.blobs import DiskBlobStore
from infra.doorbell import Doorbell
from infra.embedded import EmbeddedStack, ServerUrls
from infra.instance import read_record, remember
from infra.kafka import validation_topic
from infra.key_usage import RedisKeyUsage, usage_prefix
from infra.redis_adapters import RedisLocks, RedisTokenBucket, rate_prefix
from infra.rpc_port import BusRequests
from infra.secrets import FernetSecretBox
from infra.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    urls: ServerUrls
    store: PostgresEventStore
    redis: redis.Redis
    blobs: DiskBlobStore
    tokens: TokenCodec
    commands: CommandService
    secrets: FernetSecretBox
    bus: BusRequests
    prevalidation: Prevalidation
    doorbell: Doorbell
    stack: EmbeddedStack | None = field(default=None)

    def close(self) -> None:
        self.bus.close()
        self.doorbell.close()
        self.store.close()
        self.redis.close()
        if self.stack is not None:
            self.stack.stop()

    def ensure_tenant(self, slug: str, name: str) -> None:
        """Create a tenant outside the HTTP path (first start of `bsdflow up`)."""
        tenant_id = Tenant.create_id(slug)
        if self.store.exists(tenant_id):
            return
        meta = {"tenant_id": str(tenant_id), "actor": "bsdflow-up", "correlation_id": "bootstrap"}
        self.store.save(Tenant.create(slug, name, {}), metadata=meta)


def resolve_urls(settings: Settings) -> tuple[ServerUrls, EmbeddedStack | None]:
    """Configured servers are used as they are; the embedded stack supplies only what is unset."""
    if not settings.embedded:
        assert settings.database_url
        assert settings.kafka_bootstrap_servers
        assert settings.redis_url
        return (
            ServerUrls(settings.database_url, settings.kafka_bootstrap_servers, settings.redis_url),
            None,
        )
    stack = EmbeddedStack(settings.data_dir)
    started = stack.start()
    return (
        ServerUrls(
            settings.database_url or started.database_url,
            settings.kafka_bootstrap_servers or started.kafka_bootstrap_servers,
            settings.redis_url or started.redis_url,
        ),
        stack,
    )


urls_file = instance.urls_file
"""Where `bsdflow up` records what it serves (it removes the record when it stops)."""


def remember_urls(settings: Settings, urls: ServerUrls) -> None:
    """Let later CLI calls (status, rebuild, watch, loadtest…) reach the servers and the API
    `bsdflow up` is running (the API's URL comes from the settings it serves with)."""
    remember(settings, dataclasses.asdict(urls))


@contextmanager
def running_servers(settings: Settings) -> Iterator[ServerUrls]:
    """Configured servers, else those of a running `bsdflow up`, else a stack started for the
    duration of the block (CLI commands like `projections status` work either way)."""
    record = read_record(settings) if settings.embedded else None
    names = [f.name for f in dataclasses.fields(ServerUrls)]
    if record is not None and all(isinstance(record.get(n), str) for n in names):
        urls = ServerUrls(**{n: record[n] for n in names})
        try:
            psycopg.connect(urls.database_url, connect_timeout=2).close()
        except psycopg.OperationalError:
            urls_file(settings).unlink(missing_ok=True)
        else:
            yield urls
            return
    urls, stack = resolve_urls(settings)
    try:
        yield urls
    finally:
        if stack is not None:
            stack.stop()


def announce_access_changes(book: AccessBook, doorbell: Doorbell, events_topic: str) -> None:
    """Every process of the installation forgets a tenant's roles, members and keys as soon as
    one of them changed them (and closes its readers' sockets the change concerns)."""
    prefix, me = f"access:{events_topic}:", uuid.uuid4().hex

    def heard(news: str | None) -> None:
        if news is None:
            book.forget_everything()
            return
        tenant, _, origin = news.partition(":")
        if origin != me:
            book.forget(UUID(tenant), heard=True)

    book.announce = lambda tenant_id: doorbell.ring(f"{prefix}{tenant_id}:{me}")
    book.hear = lambda: doorbell.listen(prefix, heard)


def build_runtime(
    settings: Settings, urls: ServerUrls, stack: EmbeddedStack | None = None
) -> Runtime:
    store = PostgresEventStore(urls.database_url, settings.db_pool_size, settings.db_pool_overflow)
    client = redis.Redis.from_url(urls.redis_url, socket_timeout=5, health_check_interval=30)
    blobs = DiskBlobStore(settings.documents_dir.resolve(), settings.max_document_bytes)
    locks = RedisLocks(client)
    secrets = FernetSecretBox(settings.credentials_key())
    doorbell = Doorbell(urls.redis_url)
    bus = BusRequests(urls.kafka_bootstrap_servers, doorbell)
    prevalidation = Prevalidation(
        bus,
        lambda name: validation_topic(settings.events_topic, name),
        locks,
        settings.validation_timeout,
    )
    quota = RedisTokenBucket(client, prefix=rate_prefix(settings.events_topic))
    commands = CommandService(store, locks, blobs, secrets, prevalidation, quota=quota)
    keys = ApiKeyBook(commands.book, RedisKeyUsage(client, usage_prefix(settings.events_topic)))
    announce_access_changes(commands.book, doorbell, settings.events_topic)
    return Runtime(
        settings=settings,
        urls=urls,
        store=store,
        redis=client,
        blobs=blobs,
        tokens=dataclasses.replace(settings.token_codec(), api_keys=keys.principal),
        commands=commands,
        secrets=secrets,
        bus=bus,
        prevalidation=prevalidation,
        doorbell=doorbell,
        stack=stack,
    )
