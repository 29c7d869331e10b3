"""What checking a bearer credential costs per request: a cached API key vs. an HS256 token.

    .venv/bin/python bench/api_keys.py [--checks N] [--rounds R]

Both go through `TokenCodec.principal`, as every request does: the API key through the key
book (remembered after its first check: a lookup, one SHA-256 and `hmac.compare_digest`), the
token through PyJWT's HS256 verification, the baseline. Rounds alternate so that machine noise
hits both alike. Prints one line per figure, and the event-store reads the key's checks made.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, bench/ would come first on sys.path and its commands.py would shadow the
# project's `commands` package; put the project root there instead.
_ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]
sys.path.insert(0, str(_ROOT))

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402
from uuid import UUID  # noqa: E402

from commands.api_keys import ApiKeyBook, CreateApiKey, create_api_key  # noqa: E402
from commands.auth import Principal, TokenCodec  # noqa: E402
from commands.context import CommandContext  # noqa: E402
from commands.service import CommandService  # noqa: E402
from domain.api_key import ApiKey  # noqa: E402
from domain.tenant import Tenant  # noqa: E402
from eventstore.memory import InMemoryEventStore  # noqa: E402
from infra.secrets import FernetSecretBox  # noqa: E402


class Unlocked:
    """The lock port for one thread: nothing competes for the key's name."""

    def acquire(self, key: str, ttl_seconds: float) -> str | None:
        return key

    def release(self, key: str, token: str) -> None:
        return None


class CountingStore(InMemoryEventStore):
    reads = 0

    def find(self, cls: type[Any], aggregate_id: UUID, version: int | None = None) -> Any:
        if cls is ApiKey:
            self.reads += 1
        return super().find(cls, aggregate_id, version)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checks", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    store = CountingStore(given=[Tenant.create("acme", "Acme", {})])
    service = CommandService(store, Unlocked(), None, FernetSecretBox("bench"))  # type: ignore[arg-type]
    admin = Principal(actor="bench", tenant_slug="acme", roles=frozenset({"admin"}))
    ctx = CommandContext(store, admin, Unlocked(), None, {}, FernetSecretBox("bench"))  # type: ignore[arg-type]
    created = create_api_key(CreateApiKey(name="bench", roles=["viewer"]), ctx)
    book = ApiKeyBook(service.book)
    codec = dataclasses.replace(
        TokenCodec("a-bench-secret-of-at-least-32-bytes!"), api_keys=book.principal
    )
    credentials = {
        "api key": f"Bearer {created.shown_once['key']}",
        "hs256 token": f"Bearer {codec.mint('acme', ['viewer'], actor='bench')}",
    }
    store.reads = 0
    timings: dict[str, list[float]] = {name: [] for name in credentials}
    for _ in range(args.rounds):
        for name, authorization in credentials.items():
            started = time.perf_counter()
            for _ in range(args.checks):
                codec.principal(authorization)
            timings[name].append((time.perf_counter() - started) / args.checks * 1e6)
    medians = {name: statistics.median(t) for name, t in timings.items()}
    for name, micros in medians.items():
        print(f"{name}: {micros:.1f} us per check (median of {args.rounds} x {args.checks})")
    print(f"api key vs hs256 token: {medians['hs256 token'] / medians['api key']:.1f}x faster")
    print(f"event-store reads for {args.rounds * args.checks} api key checks: {store.reads}")


if __name__ == "__main__":
    main()
