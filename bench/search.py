"""Search latency on generated data: two-word queries with a typo, against baselines, same run.

    .venv/bin/python bench/search.py [--entities N] [--queries Q] [--data-dir DIR]

Starts embedded PostgreSQL, creates the read side, and bulk-loads N generated sites (place
names with accents, site kinds, district names and descriptions drawn Zipf-like from a 40k-word
vocabulary) into one tenant of `rm_search`. The rows are not hand-made: the entity type goes
through the projection's own handler, and every entity's title, body, weighted vector and
importance are computed by the projection's own SQL (`entity_columns`, `rm_search.weighted`,
`rm_search.entity_texts`), in bulk, then the GIN indexes are built once. Commands and Kafka are
left out: they are measured elsewhere (`bench/commands.py`, `bench/projections.py`).

Measured with one client, as the API reads (reader role, tenant set, row-level security on),
timing `SearchReads.search` (first page of 20, with highlights):
- two-word queries with one typo in one word (deletion, insertion, substitution or swap);
- the same queries spelled right (baseline);
- a plain `ILIKE '%w1%' AND ILIKE '%w2%'` scan over title and body (the naive baseline; fewer
  queries, it reads the whole table each time).
Prints one line per figure and writes bench/results/search.json. Target: p95 <
15 ms at 1M entities for queries with a typo.
"""

from __future__ import annotations

import sys
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]
sys.path.insert(0, str(_ROOT))

import argparse  # noqa: E402
import itertools  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Awaitable, Callable  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

import orjson  # noqa: E402
import psycopg  # noqa: E402
from eventsourcing.utils import get_topic  # noqa: E402

from bench._harness import (  # noqa: E402
    fresh_database,
    interrupt_on_sigterm,
    percentile,
    run_async,
    write_results,
)
from domain.entity_type import EntityType  # noqa: E402
from domain.ids import tenant_id_for  # noqa: E402
from eventstore import RecordedEvent  # noqa: E402
from infra.embedded import EmbeddedStack  # noqa: E402
from infra.readdb import migrate_read_side  # noqa: E402
from projections.registry import PROJECTIONS  # noqa: E402
from projections.search.queries import SearchReads  # noqa: E402
from projections.search.statements import VARIANT_DEPTH, entity_columns  # noqa: E402
from projections.writes import write_statements  # noqa: E402

TENANT = tenant_id_for("bench-search")
TARGET_P95_MS = 15.0
LOADERS = 2  # parallel sessions computing vectors (a 2-core machine)
PLACES = [
    "Lisbon", "Porto", "Jerusalém", "Haifa", "Lyon", "Marseille", "Kraków", "Gdańsk", "Bristol",
    "Leeds", "Zaragoza", "València", "São Paulo", "Montréal", "Tampere", "Bergen", "Graz",
    "Turku", "Göteborg", "Malmö", "Zürich", "Genève", "Córdoba", "Málaga", "Bogotá", "Medellín",
    "Reykjavík", "Århus", "Odense", "Łódź", "Poznań", "Brno", "Plzeň", "Timișoara", "Iași",
    "Thessaloníki", "Pátra", "Antalya", "İzmir", "Nîmes", "Besançon", "Brașov", "Köln",
    "Düsseldorf", "Nürnberg", "München", "Tromsø", "Trondheim", "Québec", "Curitiba",
]  # fmt: skip
KINDS = [
    "depot", "warehouse", "clinic", "school", "substation", "pumping station", "yard", "library",
    "workshop", "laboratory", "terminal", "reservoir", "hangar", "garage", "pharmacy", "bakery",
    "foundry", "observatory", "greenhouse", "market", "stadium", "harbour office", "data centre",
    "fire station", "post office",
]  # fmt: skip
FIELDS = [
    {"name": "name", "type": "text", "required": True, "searchable": "A"},
    {"name": "district", "type": "text", "searchable": "B"},
    {"name": "description", "type": "long_text", "searchable": "C"},
    {"name": "population", "type": "integer"},
]
ONSETS = [
    "b",
    "br",
    "c",
    "ch",
    "d",
    "dr",
    "f",
    "g",
    "gr",
    "h",
    "j",
    "k",
    "l",
    "m",
    "n",
    "p",
    "pr",
    "qu",
    "r",
    "s",
    "sh",
    "st",
    "t",
    "tr",
    "v",
    "w",
    "z",
]
VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "ou", "ie"]
CODAS = ["", "", "n", "r", "s", "l", "m", "nd", "rt", "x"]


def vocabulary(rng: random.Random, size: int) -> list[str]:
    words: dict[str, None] = {}
    while len(words) < size:
        syllables = rng.choice((2, 2, 3, 3, 4))
        word = "".join(rng.choice(ONSETS) + rng.choice(VOWELS) for _ in range(syllables))
        words[word + rng.choice(CODAS)] = None
    return list(words)


class Corpus:
    """Generated sites: ~2,000 places (50 real, accented), 25 kinds, Zipf-like descriptions."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        words = vocabulary(self.rng, 40_000)
        self.places = PLACES + [w.capitalize() for w in words[:1_950]]
        self.districts = [w.capitalize() for w in words[1_950:4_000]]
        self.words = words[4_000:]
        self.cum = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(self.words))))

    def site(self, n: int) -> dict[str, Any]:
        rng = self.rng
        place, kind = rng.choice(self.places), rng.choice(KINDS)
        text = rng.choices(self.words, cum_weights=self.cum, k=rng.randint(8, 18))
        return {
            "name": f"{place} {kind} {n:06d}",
            "district": rng.choice(self.districts),
            "description": f"{kind.capitalize()} in {place}: " + " ".join(text) + ".",
            "population": rng.randint(100, 5_000_000),
        }


def define_type(conn: psycopg.Connection[Any]) -> uuid.UUID:
    """Through the projection's own handler, as the worker would apply EntityType.Defined."""
    type_id = uuid.uuid4()
    data = {"tenant_id": str(TENANT), "name": "Site", "description": "", "fields": FIELDS,
            "search_importance": "population", "timestamp": datetime.now(UTC).isoformat()}  # fmt: skip
    event = RecordedEvent(1, type_id, 1, get_topic(EntityType.Defined), data, {})
    with conn.transaction(), conn.cursor() as cur:
        write_statements(cur, "rm_search", PROJECTIONS["search"].statements([event]))
    return type_id


def load(url: str, corpus: Corpus, count: int, samples: int) -> tuple[dict[str, float], list[Any]]:
    """COPY raw data into a staging table, then compute every row with the projection's SQL."""
    timings: dict[str, float] = {}
    kept: list[dict[str, Any]] = []
    every = max(1, count // samples)
    with psycopg.connect(url, autocommit=True) as conn:
        type_id = define_type(conn)
        conn.execute("DROP INDEX rm_search.items_tsv")
        conn.execute("CREATE UNLOGGED TABLE staging (n int, id uuid, data jsonb)")
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY staging (n, id, data) FROM STDIN") as copy:
            for n in range(count):
                site = corpus.site(n)
                if n % every == 0:
                    kept.append(site)
                copy.write_row((n, uuid.uuid4(), orjson.dumps(site).decode()))
        timings["generate_copy_s"] = time.perf_counter() - started
    started = time.perf_counter()
    insert = (
        "INSERT INTO rm_search.items (tenant_id, kind, id, type_id, title, body, tsv, importance, "
        f"fields, version, updated_at, position) SELECT t.tenant_id, 'entity', s.id, t.id, "
        f"{entity_columns('s.data', 't').replace('{schema}', 'rm_search')}, s.data, 1, now(), "
        "s.n + 2 FROM staging s JOIN rm_search.entity_types t ON t.tenant_id = %s AND t.id = %s "
        "WHERE s.n %% %s = %s"
    )

    def part(k: int) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(insert, (TENANT, type_id, LOADERS, k))

    threads = [threading.Thread(target=part, args=(k,)) for k in range(LOADERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    timings["vectors_s"] = time.perf_counter() - started
    with psycopg.connect(url, autocommit=True) as conn:
        started = time.perf_counter()
        conn.execute(
            "INSERT INTO rm_search.words (tenant_id, word) SELECT DISTINCT i.tenant_id, l.lexeme "
            "FROM rm_search.items i, unnest(i.tsv) l "
            "WHERE rm_search.is_word(l.lexeme) ON CONFLICT DO NOTHING"
        )
        conn.execute(  # as the projection writes them (`statements.words_of`)
            "INSERT INTO rm_search.word_variants (tenant_id, variant, word) "
            "SELECT n.tenant_id, v, n.word FROM rm_search.words n, "
            f"rm_search.deletions(n.word, {VARIANT_DEPTH}) v"
        )
        timings["words_s"] = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '512MB'")
        schema_sql = PROJECTIONS["search"].create_sql("rm_search")
        for statement in schema_sql.split(";"):
            if "CREATE INDEX" in statement:
                conn.execute(statement)
        conn.execute("DROP TABLE staging")
        conn.execute("VACUUM ANALYZE rm_search.items")
        conn.execute("VACUUM ANALYZE rm_search.words")
        timings["indexes_s"] = time.perf_counter() - started
    return timings, kept


def typo(rng: random.Random, word: str) -> str:
    i = rng.randrange(1, len(word) - 1)  # keep the first letter, as most typos do
    edit = rng.choice(("delete", "insert", "replace", "swap"))
    letter = rng.choice("abcdefghijklmnopqrstuvwxyz")
    if edit == "delete":
        return word[:i] + word[i + 1 :]
    if edit == "insert":
        return word[:i] + letter + word[i:]
    if edit == "replace":
        return word[:i] + letter + word[i + 1 :]
    i = min(i, len(word) - 2)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def queries(kept: list[dict[str, Any]], rng: random.Random) -> list[tuple[str, str]]:
    """(exact, typo'd) pairs: place + kind, or place + a description word; one typo per query."""
    pairs = []
    for site in kept:
        place, kind = site["name"].split(" ")[0], site["description"].split(" in ")[0].lower()
        other = rng.choice(
            [kind.split(" ")[0], rng.choice(site["description"].split(": ")[1][:-1].split())]
        )
        words = [place, other]
        long = [i for i, w in enumerate(words) if len(w) >= 5]
        if not long:
            continue
        i = rng.choice(long)
        typod = [typo(rng, w) if j == i else w for j, w in enumerate(words)]
        pairs.append((" ".join(words), " ".join(typod)))
    return pairs


async def reader(url: str) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(url, autocommit=False)


async def as_reader(conn: psycopg.AsyncConnection[Any]) -> None:
    await conn.execute("SET LOCAL ROLE bsdflow_reader")
    await conn.execute("SELECT set_config('bsdflow.tenant_id', %s, true)", (str(TENANT),))


async def timed(
    conn: psycopg.AsyncConnection[Any], texts: list[str], run: Callable[[str], Awaitable[Any]]
) -> tuple[list[float], list[Any]]:
    """Each query in its own read transaction, as the API runs it; only the query is timed."""
    latencies, results = [], []
    for text in texts:
        async with conn.transaction():
            await as_reader(conn)
            started = time.perf_counter()
            results.append(await run(text))
            latencies.append((time.perf_counter() - started) * 1000.0)
    return latencies, results


def figure(name: str, latencies: list[float], **extra: Any) -> dict[str, Any]:
    result = {
        "count": len(latencies),
        "p50_ms": round(percentile(latencies, 0.50), 3),
        "p95_ms": round(percentile(latencies, 0.95), 3),
        "p99_ms": round(percentile(latencies, 0.99), 3),
        "mean_ms": round(sum(latencies) / max(len(latencies), 1), 3),
        **extra,
    }
    more = " ".join(f"{k}={v}" for k, v in extra.items())
    print(
        f"{name}: n={result['count']} p50={result['p50_ms']:.2f}ms p95={result['p95_ms']:.2f}ms "
        f"p99={result['p99_ms']:.2f}ms mean={result['mean_ms']:.2f}ms {more}".rstrip(),
        flush=True,
    )
    return result


async def measure(url: str, pairs: list[tuple[str, str]], ilike_count: int) -> dict[str, Any]:
    conn = await reader(url)
    try:
        reads = SearchReads(conn)

        async def search(text: str) -> list[Any]:
            return (await reads.search(text, first=20)).items

        async def ilike(text: str) -> list[Any]:
            w1, w2 = text.split(" ", 1)
            cur = await conn.execute(
                "SELECT kind, id, title FROM rm_search.items WHERE title || ' ' || body ILIKE %s "
                "AND title || ' ' || body ILIKE %s LIMIT 20",
                (f"%{w1}%", f"%{w2}%"),
            )
            return await cur.fetchall()

        exact = [e for e, _ in pairs]
        typod = [t for _, t in pairs]
        await timed(conn, exact[:100] + typod[:100], search)  # warm-up: caches, plans
        figures: dict[str, Any] = {}
        t_lat, t_hits = await timed(conn, typod, search)
        e_lat, e_hits = await timed(conn, exact, search)
        same_top = sum(
            1 for t, e in zip(t_hits, e_hits, strict=True) if t and e and t[0].id == e[0].id
        )
        found = sum(1 for hits in t_hits if hits)
        figures["typo_2word"] = figure(
            "search 2 words, 1 typo", t_lat,
            found_pct=round(100.0 * found / len(t_hits), 1),
            same_top_hit_as_exact_pct=round(100.0 * same_top / len(t_hits), 1),
            avg_hits=round(sum(map(len, t_hits)) / len(t_hits), 1),
        )  # fmt: skip
        figures["exact_2word"] = figure(
            "search 2 words, exact (baseline)", e_lat,
            avg_hits=round(sum(map(len, e_hits)) / len(e_hits), 1),
        )  # fmt: skip
        rng = random.Random(5)
        places = [e.split(" ")[0] for e in exact if len(e.split(" ")[0]) >= 5]
        s_lat, s_hits = await timed(conn, [typo(rng, w) for w in places], search)
        figures["typo_1word"] = figure(
            "search 1 word (a place), 1 typo", s_lat,
            found_pct=round(100.0 * sum(1 for h in s_hits if h) / max(len(s_hits), 1), 1),
            avg_hits=round(sum(map(len, s_hits)) / max(len(s_hits), 1), 1),
        )  # fmt: skip
        i_lat, i_hits = await timed(conn, exact[:ilike_count], ilike)
        figures["ilike_2word"] = figure(
            "ILIKE '%w1%' AND '%w2%' scan, exact words (baseline)", i_lat,
            avg_hits=round(sum(map(len, i_hits)) / max(len(i_hits), 1), 1),
        )  # fmt: skip
        return figures
    finally:
        await conn.close()


def sizes(url: str) -> dict[str, Any]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
            "JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = 'rm_search' "
            "AND c.relkind IN ('r', 'i') ORDER BY 1"
        ).fetchall()
        words = conn.execute("SELECT count(*) FROM rm_search.words").fetchone()
    return {"bytes": dict(rows), "words": words[0] if words else 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entities", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1_000)
    parser.add_argument("--ilike-queries", type=int, default=20)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    interrupt_on_sigterm()
    root = args.data_dir or Path(tempfile.mkdtemp(prefix="bsdflow-bench-search-"))
    try:
        figures, timings, stored, pairs = run(root, args)
    finally:
        if args.data_dir is None:
            shutil.rmtree(root, ignore_errors=True)
    report(args, figures, timings, stored, pairs)


def run(
    root: Path, args: argparse.Namespace
) -> tuple[dict[str, Any], dict[str, float], dict[str, Any], list[tuple[str, str]]]:
    with EmbeddedStack(root / "stack") as urls:
        url = fresh_database(urls.database_url, "bench_search")
        migrate_read_side(url)
        print(f"loading {args.entities:,} entities into rm_search…", flush=True)
        timings, kept = load(url, Corpus(), args.entities, args.queries)
        total = sum(timings.values())
        print(
            f"load: {args.entities:,} entities in {total:.1f}s ({args.entities / total:,.0f}/s; "
            + ", ".join(f"{k}={v:.1f}" for k, v in timings.items()) + ")",
            flush=True,
        )  # fmt: skip
        stored = sizes(url)
        print(f"size: {stored['words']:,} distinct words; bytes {stored['bytes']}", flush=True)
        pairs = queries(kept, random.Random(11))
        figures = run_async(measure(url, pairs, args.ilike_queries))
    return figures, timings, stored, pairs


def report(
    args: argparse.Namespace,
    figures: dict[str, Any],
    timings: dict[str, float],
    stored: dict[str, Any],
    pairs: list[tuple[str, str]],
) -> None:
    p95 = figures["typo_2word"]["p95_ms"]
    verdict = "met" if p95 < TARGET_P95_MS else "NOT met"
    ratio = figures["ilike_2word"]["p50_ms"] / max(figures["typo_2word"]["p50_ms"], 1e-9)
    print(f"target p95 < {TARGET_P95_MS:.0f} ms with a typo at {args.entities:,}: {verdict} "
          f"(p95={p95:.2f}ms); typo'd search vs ILIKE scan p50: {ratio:,.0f}x faster", flush=True)  # fmt: skip
    examples = [{"exact": e, "typo": t} for e, t in pairs[:10]]
    path = write_results("search", {
        "benchmark": "search", "entities": args.entities, "load_s": timings, "storage": stored,
        "figures": figures, "target_p95_ms": TARGET_P95_MS, "target_met": p95 < TARGET_P95_MS,
        "example_queries": examples,
        "note": "one client; embedded PostgreSQL 18 defaults (shared_buffers 128MB); "
                "queries run as bsdflow_reader with the tenant set (the search functions apply it); "
                "timing covers SearchReads.search only (2 round trips)",
    })  # fmt: skip
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
