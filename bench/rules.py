"""Rule evaluations per second: compiled conditions vs. json-logic-qubit, same rules and data.

    .venv/bin/python bench/rules.py [--records N] [--rounds R] [--seed S]

Generates N varied incident records (severity, status, customers, price and quantity, tags,
an owner and a due date present or not) and six representative JsonLogic rules: a field
comparison with an equality, nested and/or, membership in a list, a comparison of a product,
`some` over a list, and `missing`. Every record is first evaluated by both engines and the
answers compared (the run stops on any disagreement). Then, in R rounds, each rule goes over
all records with json-logic-qubit's `jsonLogic(rule, record)` and with a CompiledRule's
`evaluate(RuleInput)`, alternating so that machine noise hits both alike. Inputs are built
before timing for both (a dict for qubit, a RuleInput around the same dict for us).

Prints one line per figure: each rule's rates and ratio, the rates over all rules, and the
ratio against DESIGN.md §7's target (compiled >= 10x json-logic-qubit); also the compiled rate
when `compile_rule` (a cache hit) is called for every evaluation, as a caller without its own
cache would. Writes the same to bench/results/rules.json.
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
import gc  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

from json_logic import jsonLogic  # type: ignore[import-untyped]  # noqa: E402

from bench._harness import write_results  # noqa: E402
from domain.rules import RuleInput, compile_rule  # noqa: E402

TARGET_RATIO = 10.0
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
RULES: dict[str, object] = {
    "severity_and_kind": {
        "and": [{">=": [{"var": "data.severity"}, 3]}, {"==": [{"var": "kind"}, "incident"]}]
    },
    "nested_and_or": {
        "or": [
            {
                "and": [
                    {">": [{"var": "data.severity"}, 4]},
                    {"!=": [{"var": "data.status"}, "closed"]},
                ]
            },
            {
                "and": [
                    {"==": [{"var": "kind"}, "outage"]},
                    {"<": [{"var": "data.customers"}, 100]},
                ]
            },
        ]
    },
    "in_list": {"in": [{"var": "data.status"}, ["open", "triage", "escalated"]]},
    "arithmetic": {">": [{"*": [{"var": "data.price"}, {"var": "data.quantity"}]}, 1000]},
    "some_tag": {"some": [{"var": "data.tags"}, {"==": [{"var": ""}, "urgent"]}]},
    "missing": {"missing": ["data.owner", "data.due"]},
}


def records(count: int, seed: int) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    tags = ["urgent", "night", "vip", "network", "power", "water"]
    out = []
    for _ in range(count):
        data: dict[str, Any] = {
            "severity": rnd.randint(1, 5),
            "status": rnd.choice(["open", "closed", "triage", "escalated", "new"]),
            "customers": rnd.randint(0, 500),
            "price": round(rnd.uniform(1, 200), 2),
            "quantity": rnd.randint(0, 20),
            "tags": rnd.sample(tags, rnd.randint(0, 4)),
        }
        if rnd.random() < 0.6:
            data["owner"] = rnd.choice(["ann", "bob", ""])
        if rnd.random() < 0.4:
            data["due"] = f"2026-04-{rnd.randint(1, 28):02}"
        out.append({"kind": rnd.choice(["incident", "outage", "visit"]), "data": data})
    return out


def timed(run: Callable[[], object]) -> float:
    gc.collect()
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    data = records(args.records, args.seed)
    inputs = [RuleInput(record, None, NOW, "Europe/Paris") for record in data]
    compiled = {name: compile_rule(rule) for name, rule in RULES.items()}
    for name, rule in RULES.items():
        evaluate = compiled[name].evaluate
        wrong = sum(
            evaluate(inp) != bool(jsonLogic(rule, record))
            for record, inp in zip(data, inputs, strict=True)
        )
        if wrong:
            sys.exit(f"{name}: {wrong} of {len(data)} records answered differently; not timing")

    spent = {name: {"compiled": 0.0, "qubit": 0.0, "lookup": 0.0} for name in RULES}
    for _ in range(args.rounds):
        for name, rule in RULES.items():
            evaluate = compiled[name].evaluate
            spent[name]["qubit"] += timed(lambda r=rule: [jsonLogic(r, record) for record in data])  # type: ignore[misc]
            spent[name]["compiled"] += timed(lambda e=evaluate: [e(inp) for inp in inputs])  # type: ignore[misc]
            spent[name]["lookup"] += timed(
                lambda r=rule: [compile_rule(r).evaluate(inp) for inp in inputs]  # type: ignore[misc]
            )

    evaluations = args.records * args.rounds
    print(
        f"# python {platform.python_version()} on a {os.cpu_count()}-core machine (shared); "
        f"{args.records:,} records x {len(RULES)} rules x {args.rounds} rounds, one process"
    )
    figures: dict[str, Any] = {"records": args.records, "rounds": args.rounds, "rules": {}}
    for name, times in spent.items():
        ours, theirs = evaluations / times["compiled"], evaluations / times["qubit"]
        figures["rules"][name] = {
            "compiled_per_s": round(ours),
            "qubit_per_s": round(theirs),
            "ratio": round(ours / theirs, 1),
        }
        print(
            f"rule {name}: compiled {ours:,.0f} evals/s, json-logic-qubit {theirs:,.0f} evals/s, "
            f"ratio {ours / theirs:.1f}x"
        )
    total = evaluations * len(RULES)
    ours = total / sum(t["compiled"] for t in spent.values())
    theirs = total / sum(t["qubit"] for t in spent.values())
    lookup = total / sum(t["lookup"] for t in spent.values())
    ratio = ours / theirs
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(f"all rules, compiled: {ours:,.0f} evals/s")
    print(f"all rules, json-logic-qubit (baseline): {theirs:,.0f} evals/s")
    print(f"ratio compiled / json-logic-qubit: {ratio:.1f}x (target >= {TARGET_RATIO:.0f}x): {verdict}")  # fmt: skip
    print(
        f"all rules, compiled with compile_rule() per evaluation (cache hit): {lookup:,.0f} "
        f"evals/s ({lookup / theirs:.1f}x json-logic-qubit)"
    )
    figures.update(
        compiled_per_s=round(ours),
        qubit_per_s=round(theirs),
        ratio=round(ratio, 1),
        target_ratio=TARGET_RATIO,
        target_met=ratio >= TARGET_RATIO,
        compiled_with_lookup_per_s=round(lookup),
    )
    print(f"# written to {write_results('rules', figures).relative_to(_ROOT)}")


if __name__ == "__main__":
    main()
