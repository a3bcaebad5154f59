"""``sensory report``: one self-contained HTML page about a run, with charts.

Two sources: the metrics snapshot files a finished run wrote (``--metrics_snapshot``; the demo
writes ``.local/metrics/demo-*.prom``), or a time window of the stack's Prometheus (totals at the
window's end, consumer lag over the window). Charts are inline SVG; the page needs no network.
"""
import json
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Optional

import click
from prometheus_client.parser import text_string_to_metric_families

from sensory.cli.report_svg import bar_chart, line_chart, range_chart, utc
from sensory.stack import config

# Stages in pipeline order; any other stage follows alphabetically.
STAGE_ORDER = ("files", "kafka_read", "schema_validator", "privacy_shield", "context_enricher",
               "weather_join", "embeddings", "snowflake_sink", "weaviate_sink", "kafka_write",
               "dead_letter_scrubber", "end_to_end")
FLOW = ("received", "ok", "dead_lettered")
# Short names of the latency distributions, for chart labels.
LATENCY_NAMES = {"latency_us": "per record", "flush_latency_ms": "write (flush)",
                 "inference_batch_latency_micro_secs": "inference batch",
                 "consume_latency_ms": "consume poll", "latency_ms": "Kafka → processed"}
_DURATIONS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass
class ReportData:
    """What the page shows, from either source."""

    source: str
    window: Optional[tuple[float, float]] = None
    counters: dict = field(default_factory=dict)       # (pipeline, stage, metric) -> value
    dead: dict = field(default_factory=dict)           # (pipeline, processor, error) -> value
    dists: dict = field(default_factory=dict)          # (pipeline, stage, metric) -> {stat: v}
    runs: dict = field(default_factory=dict)           # pipeline -> {start, end, success}
    lag: dict = field(default_factory=dict)            # group -> [(t, v)]


def _stage_key(stage: str) -> tuple:
    return (STAGE_ORDER.index(stage), "") if stage in STAGE_ORDER else (len(STAGE_ORDER), stage)


def _add_sample(data: ReportData, name: str, labels: dict, value: float) -> None:
    pipeline = labels.get("pipeline", "?")
    key = (pipeline, labels.get("stage"), labels.get("metric"))
    if name == "sensory_beam_counter_total":
        data.counters[key] = value
    elif name == "sensory_dead_letters_total":
        data.dead[(pipeline, labels.get("processor"), labels.get("error_type"))] = value
    elif name.startswith("sensory_beam_distribution_"):
        data.dists.setdefault(key, {})[name.rsplit("_", 1)[1]] = value
    elif name.startswith("sensory_run_"):
        stat = {"sensory_run_start_timestamp_seconds": "start",
                "sensory_run_end_timestamp_seconds": "end",
                "sensory_run_success": "success"}.get(name)
        if stat:
            data.runs.setdefault(pipeline, {})[stat] = value


def from_snapshots(paths: list[Path]) -> ReportData:
    """Reads snapshot files written by ``--metrics_snapshot``."""
    data = ReportData(source="snapshot " + ", ".join(p.name for p in paths))
    for path in paths:
        for family in text_string_to_metric_families(path.read_text(encoding="utf-8")):
            for sample in family.samples:
                _add_sample(data, sample.name, sample.labels, sample.value)
    return data


def _api(base_url: str, path: str, params: dict) -> list:
    url = f"{base_url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=30) as reply:
        body = json.load(reply)
    if body.get("status") != "success":
        raise click.ClickException(f"Prometheus: {body}")
    return body["data"]["result"]


def from_prometheus(base_url: str, start: float, end: float) -> ReportData:
    """Totals at ``end`` (largest value seen in the window) and lag over the window."""
    data = ReportData(source=f"Prometheus {base_url}", window=(start, end))
    window = f"{max(int(end - start), 60)}s"
    queries = {
        "sensory_beam_counter_total": "max by (pipeline, stage, metric) "
                                      f"(max_over_time(sensory_beam_counter_total[{window}]))",
        "sensory_dead_letters_total": "max by (pipeline, processor, error_type) "
                                      f"(max_over_time(sensory_dead_letters_total[{window}]))",
    }
    for stat, over in (("count", "max"), ("sum", "max"), ("min", "min"), ("max", "max")):
        queries[f"sensory_beam_distribution_{stat}"] = (
            f"max by (pipeline, stage, metric) "
            f"({over}_over_time(sensory_beam_distribution_{stat}[{window}]))")
    for name in ("sensory_run_start_timestamp_seconds", "sensory_run_end_timestamp_seconds",
                 "sensory_run_success"):
        queries[name] = f"max by (pipeline) (last_over_time({name}[{window}]))"
    for name, expression in queries.items():
        for row in _api(base_url, "query", {"query": expression, "time": end}):
            _add_sample(data, name, row["metric"], float(row["value"][1]))
    step = max(int((end - start) / 240), 5)
    for row in _api(base_url, "query_range", {
            "query": "sum by (group) (sensory_kafka_consumergroup_lag)", "start": start,
            "end": end, "step": step}):
        data.lag[row["metric"].get("group", "?")] = [(float(t), float(v))
                                                      for t, v in row["values"]]
    return data


def _section(title: str, body: str, note: str = "") -> str:
    note_html = f"<p class='note'>{escape(note)}</p>" if note else ""
    return f"<section><h2>{escape(title)}</h2>{note_html}{body}</section>"


def _count(value: Optional[float]) -> str:
    return "–" if value is None else f"{value:,.0f}"


def _cards(data: ReportData) -> str:
    cards = []
    for pipeline in sorted({key[0] for key in data.counters} | set(data.runs)):
        received = data.counters.get((pipeline, "schema_validator", "received"))
        passed = data.counters.get((pipeline, "schema_validator", "ok"))
        dead = sum(v for k, v in data.dead.items() if k[0] == pipeline)
        run = data.runs.get(pipeline, {})
        rate = f"{100 * passed / received:.1f} %" if received and passed is not None else "–"
        dlq = f"{100 * dead / received:.1f} %" if received else "–"
        duration = (f"{run['end'] - run['start']:.0f} s" if "end" in run and "start" in run
                    else "–")
        state = {1.0: "succeeded", 0.0: "FAILED"}.get(run.get("success"), "running / unknown")
        cards.append(
            f"<div class='card'><h3>{escape(pipeline)}</h3><table>"
            f"<tr><td>records in</td><td>{_count(received)}</td></tr>"
            f"<tr><td>validation pass rate</td><td>{rate}</td></tr>"
            f"<tr><td>dead letters</td><td>{dead:.0f} ({dlq})</td></tr>"
            f"<tr><td>run</td><td>{escape(state)}, {duration}</td></tr>"
            f"<tr><td>ended</td><td>{utc(run.get('end'))}</td></tr></table></div>")
    return "<div class='cards'>" + "".join(cards) + "</div>" if cards else \
        "<p class='empty'>No pipeline metrics in this source.</p>"


def _stage_rows(data: ReportData) -> list:
    keys = sorted({(p, s) for p, s, m in data.counters if m in FLOW},
                  key=lambda k: (k[0], _stage_key(k[1])))
    return [(f"{pipeline} · {stage}", [data.counters.get((pipeline, stage, m)) for m in FLOW])
            for pipeline, stage in keys]


def _other_counters(data: ReportData) -> str:
    rows = sorted(((p, s, m), v) for (p, s, m), v in data.counters.items() if m not in FLOW)
    if not rows:
        return ""
    body = "".join(f"<tr><td>{escape(p)}</td><td>{escape(s)}</td><td>{escape(m)}</td>"
                   f"<td class='num'>{v:,.0f}</td></tr>" for (p, s, m), v in rows)
    return ("<details><summary>Other counters</summary><table class='grid'><tr><th>pipeline"
            "</th><th>stage</th><th>counter</th><th>value</th></tr>" + body +
            "</table></details>")


def _latency_rows(data: ReportData) -> list:
    rows = []
    for (pipeline, stage, metric), stats in sorted(
            data.dists.items(), key=lambda item: (item[0][0], _stage_key(item[0][1]))):
        if not stats.get("count") or not any(u in metric for u in ("_ms", "_us", "micro_secs")):
            continue
        scale = 1 / 1000 if metric.endswith(("_us", "micro_secs")) else 1.0
        rows.append((f"{pipeline} · {stage} · {LATENCY_NAMES.get(metric, metric)}",
                     stats.get("min", 0) * scale,
                     stats["sum"] / stats["count"] * scale, stats.get("max", 0) * scale))
    return rows


def render(data: ReportData) -> str:
    """The HTML page."""
    window = (f"{utc(data.window[0])} – {utc(data.window[1])}" if data.window else
              "one finished run")
    dead_rows = [(f"{p} · {proc} · {err}", [v]) for (p, proc, err), v in
                 sorted(data.dead.items(), key=lambda item: -item[1])]
    sections = [
        _section("Summary", _cards(data)),
        _section("Records per stage", bar_chart(_stage_rows(data), FLOW) + _other_counters(data),
                 "Beam counters of each stage: what came in, what went on, what became a dead "
                 "letter."),
        _section("Dead letters by reason", bar_chart(dead_rows, ["dead letters"]),
                 "Processor (stage) and error type of every dead letter."),
        _section("Latency per stage", range_chart(_latency_rows(data), "ms"),
                 "Min–max range and mean (dot) of each latency distribution, log scale. Beam "
                 "distributions keep count, sum, min and max only, so there are no buckets "
                 "for a finer histogram."),
        _section("Consumer lag over time",
                 line_chart(data.lag) if data.lag else
                 "<p class='empty'>No lag series: a snapshot has none; use --prometheus with "
                 "a window in which the lag exporter ran.</p>",
                 "Messages not yet committed, per consumer group (sum over partitions)."),
    ]
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Sensory run report</title><style>
body{{font-family:system-ui,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:920px;
color:#1a202c}} h1{{margin:0 0 4px}} .meta{{color:#4a5568;margin:0 0 16px}}
section{{border-top:1px solid #e2e8f0;padding:8px 0 12px}} h2{{font-size:18px;margin:8px 0}}
.note{{color:#4a5568;font-size:13px;margin:0 0 8px}} .empty{{color:#a0aec0}}
.cards{{display:flex;gap:16px;flex-wrap:wrap}} .card{{border:1px solid #e2e8f0;border-radius:8px;
padding:8px 16px;min-width:260px}} .card h3{{margin:4px 0 8px;text-transform:capitalize}}
.card td{{padding:2px 12px 2px 0;font-size:14px}} .card td:last-child{{font-weight:600}}
table.grid{{border-collapse:collapse;font-size:13px}} .grid td,.grid th{{border-bottom:1px solid
#edf2f7;padding:2px 10px;text-align:left}} .num{{text-align:right}}
</style></head><body><h1>Sensory run report</h1>
<p class="meta">{escape(data.source)} · {escape(window)} · generated {utc(time.time())}</p>
{"".join(sections)}</body></html>
"""


def parse_duration(text: str) -> float:
    """``90s``, ``15m``, ``2h``, ``1d`` in seconds."""
    try:
        return float(text[:-1]) * _DURATIONS[text[-1]]
    except (KeyError, ValueError, IndexError) as err:
        raise click.BadParameter(f"{text!r}: use a number with s, m, h or d") from err


@click.command(name="report")
@click.option("--snapshot", "snapshots", multiple=True, type=click.Path(exists=True,
              dir_okay=False, path_type=Path),
              help="Metrics snapshot file of a finished run (repeatable). Default: none, which "
                   "reads the stack's Prometheus.")
@click.option("--prometheus", "prometheus_url", default=None,
              show_default="http://127.0.0.1:$SENSORY_PROMETHEUS_PORT",
              help="Prometheus to read a time window from.")
@click.option("--since", default="1h", show_default=True,
              help="Window length before --until (s, m, h, d).")
@click.option("--until", "until", type=float, default=None,
              help="Window end, epoch seconds. Default: now.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("sensory-report.html"), show_default=True, help="HTML file to write.")
def report(snapshots: tuple[Path, ...], prometheus_url: Optional[str], since: str,
           until: Optional[float], output: Path) -> None:
    """Write an HTML report of a finished run (--snapshot) or a Prometheus time window."""
    if snapshots:
        data = from_snapshots(list(snapshots))
    else:
        base = prometheus_url or f"http://{config.HOST}:{config.PROMETHEUS_PORT}"
        end = until or time.time()
        try:
            data = from_prometheus(base, end - parse_duration(since), end)
        except OSError as err:
            raise click.ClickException(f"Prometheus at {base} did not answer ({err}); start "
                                       f"it with `sensory stack up` or pass --snapshot") from err
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render(data), encoding="utf-8")
    click.echo(f"wrote {output} ({len(data.counters)} counters, {len(data.dead)} dead-letter "
               f"reasons, {len(data.lag)} lag series)")
