"""The run's files: the JSON summary (for machines and CI) and one self-contained HTML page.

The page inlines its CSS and SVG charts and loads nothing: it opens offline, from an e-mail
attachment or a CI artifact, years later. The JSON is embedded too, so the page is the
whole record.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

import orjson

from loadtest.svg import PALETTE, Line, histogram_chart, line_chart
from loadtest.thresholds import shown

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#111827;background:#f8fafc}
main{max-width:1340px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}h3{font-size:15px;margin:18px 0 6px}
.meta{color:#4b5563}.badge{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600;color:#fff}
.pass{background:#059669}.fail{background:#dc2626}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:10px 14px;min-width:130px}
.card b{display:block;font-size:20px}.card span{color:#6b7280;font-size:12px}
table{border-collapse:collapse;background:#fff;border:1px solid #e5e7eb;margin:6px 0}
th,td{padding:5px 10px;border-bottom:1px solid #f1f5f9;text-align:right}th{background:#f1f5f9}
td:first-child,th:first-child{text-align:left}.ok{color:#059669}.bad{color:#dc2626}
.charts{display:flex;flex-wrap:wrap;gap:16px}
figure{margin:0;background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:8px;width:640px;max-width:100%}
figcaption{font-weight:600;margin:0 0 4px}svg{width:100%;height:auto;font-size:11px;fill:#374151}
svg .grid{stroke:#e5e7eb}svg .axis{stroke:#9ca3af}svg .label{fill:#6b7280}
.legend{font-size:12px;color:#374151}.key{margin-right:12px}.key i{display:inline-block;width:10px;height:10px;margin-right:4px;border-radius:2px}
.none{color:#9ca3af}code{background:#eef2ff;padding:1px 4px;border-radius:4px}
table.errors td{text-align:left;vertical-align:top;max-width:520px;overflow-wrap:anywhere}
"""


def write_reports(summary: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromisoformat(summary["started_at"]).strftime("%Y%m%d-%H%M%S")
    stem = f"{summary['scenario']['name']}-{stamp}"
    json_path = out_dir / f"{stem}.json"
    html_path = out_dir / f"{stem}.html"
    json_path.write_bytes(orjson.dumps(summary, option=orjson.OPT_INDENT_2))
    html_path.write_text(render_html(summary), encoding="utf-8")
    return json_path, html_path


def _sample_cells(sample: dict[str, Any] | None) -> str:
    """The first error of a kind: which operation, the answer, and what was sent."""
    if not sample:
        return '<td colspan="4" class="none">no sample</td>'
    request = sample.get("request") or {}
    problem = " — ".join(str(p) for p in (sample.get("title"), sample.get("detail")) if p)
    sent = f"{request.get('method', '')} {request.get('path', '')}".strip()
    body = f"<br><code>{escape(request['body'])}</code>" if request.get("body") else ""
    cells = (
        escape(str(sample.get("operation", ""))),
        escape(str(sample.get("status", ""))),
        escape(problem),
        f"{escape(sent)}{body}",
    )
    return "".join(f"<td>{cell}</td>" for cell in cells)


def _ms(figures: dict[str, float], key: str) -> str:
    return f"{figures[key]:,.1f}" if key in figures else "—"


def _card(value: str, label: str) -> str:
    return f'<div class="card"><b>{escape(value)}</b><span>{escape(label)}</span></div>'


def _row(name: str, op: dict[str, Any]) -> str:
    figures = op["latency_ms"]
    cells = [
        escape(name),
        f"{op['count']:,}",
        f"{op.get('rps', 0):,.1f}",
        f"{sum(op['errors'].values()):,} ({op['error_rate']:.2%})",
        *(_ms(figures, k) for k in ("p50", "p90", "p95", "p99", "max")),
    ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _table(rows: list[str]) -> str:
    head = "".join(
        f"<th>{h}</th>"
        for h in ("", "count", "rate/s", "errors", "p50 ms", "p90 ms", "p95 ms", "p99 ms", "max ms")
    )
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _timeline_charts(name: str, series: dict[str, Any], color: str) -> str:
    points = series["timeline"]
    lines = [
        Line(f"{stat}", [(p["t"], p.get(stat)) for p in points], shade)
        for stat, shade in (("p50", color), ("p95", "#d97706"), ("max", "#dc2626"))
    ]
    over_time = line_chart(
        lines, x_label="seconds", y_label="ms", title=f"{name}: latency over time"
    )
    spread = histogram_chart(series["histogram"], title=f"{name}: latency histogram", color=color)
    return f'<div class="charts">{over_time}{spread}</div>'


def _throughput(summary: dict[str, Any]) -> str:
    lines = []
    for i, (name, op) in enumerate(summary["operations"].items()):
        points = [(p["t"], p["count"] / p["width"]) for p in op["timeline"]]
        lines.append(Line(name, points, PALETTE[i % len(PALETTE)]))
    errors: dict[float, float] = {}
    for op in summary["operations"].values():
        for p in op["timeline"]:
            errors[p["t"]] = errors.get(p["t"], 0) + p["errors"] / p["width"]
    if any(errors.values()):
        lines.append(Line("errors", sorted(errors.items()), "#dc2626"))
    return line_chart(
        lines, x_label="seconds", y_label="per second", title="throughput by operation"
    )


def render_html(summary: dict[str, Any]) -> str:
    totals, fresh = summary["totals"], summary["freshness"]
    verdict = (
        '<span class="badge pass">PASSED</span>'
        if summary["passed"]
        else ('<span class="badge fail">FAILED</span>')
    )
    scenario = summary["scenario"]
    sub_p99 = fresh["subscription"]["latency_ms"].get("p99")
    cards = "".join(
        [
            _card(f"{totals['count']:,}", "operations"),
            _card(f"{totals['rps']:,.1f}/s", "throughput"),
            _card(f"{totals['error_rate']:.2%}", "errors"),
            _card(f"{_ms(totals['latency_ms'], 'p95')} ms", "latency p95"),
            _card(f"{_ms(totals['latency_ms'], 'p99')} ms", "latency p99"),
            _card(f"{sub_p99:,.1f} ms" if sub_p99 is not None else "—", "freshness p99 (push)"),
            _card(f"{totals['dropped']:,}", "dropped arrivals"),
            _card(f"{summary['subscriptions']['connected']}", "subscriptions held"),
        ]
    )
    thresholds = (
        "".join(
            f"<tr><td><code>{escape(v['threshold'])}</code></td><td>{escape(shown(v['actual'], v['unit']))}</td>"
            f'<td class="{"ok" if v["passed"] else "bad"}">{"pass" if v["passed"] else "FAIL"}</td></tr>'
            for v in summary["thresholds"]
        )
        or '<tr><td colspan="3" class="none">no thresholds</td></tr>'
    )
    rows = [_row(n, op) for n, op in summary["operations"].items()] + [_row("all", totals)]
    fresh_rows = [
        _row("command → subscriber", fresh["subscription"]),
        _row(f"command → GraphQL read ({fresh['read']['mode']})", fresh["read"]),
    ]
    samples = totals.get("error_samples", {})
    errors = "".join(
        f"<tr><td>{escape(k)}</td><td>{n:,}</td>{_sample_cells(samples.get(k))}</tr>"
        for k, n in totals["errors"].items()
    )
    per_op = "".join(
        f"<h3>{escape(name)}</h3>" + _timeline_charts(name, op, PALETTE[i % len(PALETTE)])
        for i, (name, op) in enumerate(summary["operations"].items())
    )
    freshness_charts = _timeline_charts(
        "command → subscriber", fresh["subscription"], "#0891b2"
    ) + _timeline_charts("command → GraphQL read", fresh["read"], "#7c3aed")
    setup, subs = summary["setup"], summary["subscriptions"]
    executor = ", ".join(f"{k}: {v}" for k, v in scenario["executor"].items() if v is not None)
    embedded = orjson.dumps(summary).decode().replace("</", "<\\/")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>bsdflow loadtest · {escape(scenario["name"])}</title><style>{STYLE}</style></head>
<body><main>
<h1>bsdflow loadtest · {escape(scenario["name"])} {verdict}</h1>
<div class="meta">{escape(scenario["description"])}</div>
<div class="meta">target {escape(summary["target"])} · tenant {escape(summary["tenant"])} ·
started {escape(summary["started_at"])} · measured {summary["duration_s"]:.1f} s ·
executor {escape(executor)}</div>
<div class="cards">{cards}</div>
<h2>Thresholds</h2><table><tr><th>threshold</th><th>actual</th><th>result</th></tr>{thresholds}</table>
<h2>Operations</h2>{_table(rows)}
<p class="meta">Latency percentiles are over successful operations; failures are counted by kind.
Load generator: start lag p99 {_ms(totals["schedule_lag_ms"], "p99")} ms, event-loop lag p99
{_ms(totals["client_loop_lag_ms"], "p99")} ms (high values mean the client, not the server, was busy) · {totals["interrupted"]} iterations cut at the end ·
setup {setup["commands"]} commands ({setup["entity_types"]} entity types, {setup["entities"]} entities,
{setup["probe_commands"]} subscription probes) in {setup["seconds"]:.1f} s.</p>
<h3>Errors by kind</h3><table class="errors"><tr><th>kind</th><th>count</th><th>operation</th><th>status</th><th>problem (first of its kind)</th><th>request</th></tr>{errors or '<tr><td colspan="6" class="none">none</td></tr>'}</table>
<div class="charts">{_throughput(summary)}</div>
<h2>Freshness</h2>{_table(fresh_rows)}
<p class="meta">From a command's HTTP answer to the subscription message carrying its position
(each of {subs["connected"]} connections counts), and to a GraphQL read that shows it.
{fresh["missed"]} expected messages never arrived; subscriptions received {subs["messages"]:,}
messages{escape(", errors " + str(subs["errors"])) if subs["errors"] else ""}.</p>
{freshness_charts}
<h2>Per operation</h2>{per_op}
<script type="application/json" id="summary">{embedded}</script>
</main></body></html>
"""
