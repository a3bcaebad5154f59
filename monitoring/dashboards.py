"""Generates the two Grafana dashboards (provisioning JSON) under monitoring/dashboards/.

Generated rather than hand-written: the ~20 panels share one datasource variable, grid layout
and field defaults, which hand-written JSON repeats (and lets drift) hundreds of lines apart;
here each panel is one line of title, PromQL and unit. The JSON stays committed, because that is
what Grafana provisions; ``--check`` (run by the tests) fails when it is out of date. The tests
also run every target's PromQL against the stack's Prometheus after a demo run.

Run: ``python monitoring/dashboards.py``.
"""
import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "dashboards"
C = "sensory_beam_counter_total"
DSUM, DCOUNT, DMAX = ("sensory_beam_distribution_sum", "sensory_beam_distribution_count",
                      "sensory_beam_distribution_max")
SNOWFLAKE_FLUSH = 'stage="snowflake_sink",metric="flush_latency_ms"'
SCRAPER = "sensory_scraper_"
FLINK_OP = "flink_taskmanager_job_task_operator_sensory_"
DLQ_TOPICS = 'topic=~"dead-letters-.+|schema-validation-errors"'
# Counter totals come from a live pipeline and from the Pushgateway's copy of a finished run;
# max by (...) instead of sum keeps the few seconds both exist from counting a run twice.


def _mean(selector: str, by: str, scale: str = "") -> str:
    return f"max by ({by}) ({DSUM}{{{selector}}}) / max by ({by}) ({DCOUNT}{{{selector}}}){scale}"


def target(expr: str, legend: str) -> dict:
    """One PromQL query of a panel."""
    return {"expr": expr, "legendFormat": legend}


def panel(title: str, kind: str, targets: list[dict], unit: str = "short",
          description: str = "") -> dict:
    """A panel without position (``dashboard`` lays them out)."""
    return {"title": title, "type": kind, "description": description, "targets": targets,
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []}}


def pipeline_health() -> list[dict]:
    emb = 'stage="embeddings",metric="inference_batch_latency_micro_secs"'
    e2e = 'stage="end_to_end",metric="latency_ms"'
    sink = 'stage=~".+_sink",metric="flush_latency_ms"'
    return [
        panel("Records per stage (run totals)", "bargauge", [
            target(f'max by (pipeline, stage, metric) ({C}{{metric=~"received|ok|dead_lettered"}})',
                   "{{pipeline}} {{stage}} {{metric}}")],
              description="Beam counters of each stage: since a streaming job started, or of "
                          "the last bounded run (Pushgateway)."),
        panel("Throughput per stage", "timeseries", [
            target(f'sum by (pipeline, stage) (rate({C}{{metric="ok"}}[1m]))',
                   "{{pipeline}} {{stage}}"),
            # rate() drops the metric name, so the stage goes into a label first (in a
            # subquery): otherwise the per-stage series collide ("same labelset").
            target(f'sum by (stage) (rate(label_replace({{__name__=~"{FLINK_OP}.+_ok"}}, '
                   f'"stage", "$1", "__name__", "{FLINK_OP}(.+)_ok")[1m:15s]))',
                   "flink {{stage}}")], unit="ops",
              description="Records per second leaving each stage (DirectRunner and Flink)."),
        panel("Dead letters by reason", "bargauge", [
            target("max by (pipeline, processor, error_type) (sensory_dead_letters_total)",
                   "{{pipeline}} {{processor}} {{error_type}}")]),
        panel("Dead-letter topics: messages per second", "timeseries", [
            target(f"sum by (topic) (rate(sensory_kafka_topic_messages_total{{{DLQ_TOPICS}}}[5m]))",
                   "{{topic}}")], unit="ops"),
        panel("Validation pass rate", "stat", [
            target(f'max by (pipeline) ({C}{{stage="schema_validator",metric="ok"}}) / '
                   f'max by (pipeline) ({C}{{stage="schema_validator",metric="received"}})',
                   "{{pipeline}}"),
            target(f'sum({FLINK_OP}schema_validator_ok) / '
                   f'sum({FLINK_OP}schema_validator_received)', "flink")],
              unit="percentunit", description="Plan: above 98 %."),
        panel("Dead-letter rate", "stat", [
            target(f'sum by (pipeline) (max by (pipeline, processor, error_type) '
                   f'(sensory_dead_letters_total)) / max by (pipeline) '
                   f'({C}{{stage="schema_validator",metric="received"}})', "{{pipeline}}")],
              unit="percentunit", description="Plan: below 2 %."),
        panel("Embedding batch latency (mean, max)", "timeseries", [
            target(_mean(emb, "pipeline", " / 1000"), "{{pipeline}} mean per batch"),
            target(f"max by (pipeline) ({DMAX}{{{emb}}}) / 1000", "{{pipeline}} max per batch"),
            target(f"max by (pipeline) ({DSUM}{{{emb}}}) / max by (pipeline) "
                   f'({C}{{stage="embeddings",metric="num_inferences"}}) / 1000',
                   "{{pipeline}} mean per record")], unit="ms",
              description="Beam distributions carry count, sum, min and max only: no p50/p95 "
                          "exists to export. Plan: p95 under 100 ms per record; the mean per "
                          "record is what the alert checks."),
        panel("Sink write latency (mean, max)", "timeseries", [
            target(_mean(sink, "pipeline, stage"), "{{pipeline}} {{stage}} mean"),
            target(f"max by (pipeline, stage) ({DMAX}{{{sink}}})", "{{pipeline}} {{stage}} max")],
              unit="ms"),
        panel("Sink writes, retries and dead letters", "bargauge", [
            target(f'max by (pipeline, stage, metric) ({C}{{stage=~".+_sink",'
                   f'metric=~"ok|retries|dead_lettered"}})',
                   "{{pipeline}} {{stage}} {{metric}}")]),
        panel("Consumer lag", "timeseries", [
            target("sum by (group, topic) (sensory_kafka_consumergroup_lag)",
                   "{{group}} {{topic}}")],
              description="End offset minus committed offset, per group and topic."),
        panel("End-to-end latency", "timeseries", [
            target(_mean(e2e, "pipeline"), "{{pipeline}} to processed, mean"),
            target(f"max by (pipeline) ({DMAX}{{{e2e}}})", "{{pipeline}} to processed, max"),
            target(f"{_mean(e2e, 'pipeline')} + on (pipeline) ({_mean(emb, 'pipeline', ' / 1000')})"
                   f" + on (pipeline) ({_mean(SNOWFLAKE_FLUSH, 'pipeline')})",
                   "{{pipeline}} to Snowflake, estimated mean")], unit="ms",
              description="Measured: Kafka message timestamp to the record validated, shielded "
                          "and with context. Estimated to Snowflake: that plus the mean embedding "
                          "batch and Snowflake load latency. Plan: under 5 s."),
        panel("Last bounded run", "stat", [
            target("max by (pipeline) (sensory_run_success)", "{{pipeline}} succeeded"),
            target("time() - max by (pipeline) (sensory_run_end_timestamp_seconds)",
                   "{{pipeline}} seconds ago")]),
        panel("Flink cluster", "stat", [
            target("max(flink_jobmanager_numRunningJobs)", "running jobs"),
            target("max(flink_jobmanager_numRegisteredTaskManagers)", "task managers")]),
    ]


def sources() -> list[dict]:
    requests = "sensory_source_requests_total"
    return [
        panel("Source success rate", "stat", [
            target(f'sum by (source) ({requests}{{outcome="ok"}}) / '
                   f"sum by (source) ({requests})", "{{source}}")],
              unit="percentunit", description="Plan: above 95 %."),
        panel("HTTP 429 (rate limited)", "bargauge", [
            target(f'sum by (source) ({requests}{{outcome="rate_limited"}})', "{{source}}"),
            target(f"sum by (source) ({SCRAPER}throttled_total)", "{{source}} (scraper)")]),
        panel("Requests by outcome", "bargauge", [
            target(f"sum by (source, outcome) ({requests})", "{{source}} {{outcome}}")]),
        panel("Items per source", "bargauge", [
            target("sum by (source) (sensory_source_items_total)", "{{source}}"),
            target(f"sum by (source) ({SCRAPER}items_total)", "{{source}} (scraper)")]),
        panel("Scrapers: attempts not retried", "stat", [
            target(f"1 - sum by (source) ({SCRAPER}retries_total) / "
                   f"sum by (source) ({SCRAPER}requests_total)", "{{source}}")],
              unit="percentunit",
              description="Scrapers count every HTTP attempt and every retry; 1 - retries / "
                          "requests is the share of attempts that did not fail. Plan: above "
                          "95 %."),
        panel("Scrapers: requests, 429s, retries, unmappable items", "bargauge", [
            target(f'sum by (source, __name__) ({{__name__=~"{SCRAPER}(requests|throttled|'
                   f'retries|errors)_total"}})', "{{source}} {{__name__}}")]),
        panel("Time since last success", "stat", [
            target("time() - max by (source) (sensory_source_last_success_timestamp_seconds)",
                   "{{source}}")], unit="s"),
        panel("Weather freshness per city", "bargauge", [
            target("time() - max by (city) (sensory_weather_observed_timestamp_seconds)",
                   "{{city}}")], unit="s", description="Age of the newest weather observation."),
        panel("Weather join outcomes", "bargauge", [
            target(f'max by (pipeline, metric) ({C}{{stage="weather_join"}})',
                   "{{pipeline}} {{metric}}")]),
        panel("Source topics: messages per second", "timeseries", [
            target('sum by (topic) (rate(sensory_kafka_topic_messages_total{topic=~"source[.].+"}'
                   "[5m]))", "{{topic}}")], unit="ops"),
    ]


def dashboard(title: str, uid: str, panels: list[dict]) -> dict:
    """A Grafana dashboard with a Prometheus datasource variable, two panels per row."""
    placed = []
    for index, item in enumerate(panels):
        refs = [{"refId": chr(ord("A") + i), **t, "datasource": {
            "type": "prometheus", "uid": "${datasource}"}} for i, t in enumerate(item["targets"])]
        placed.append({"id": index + 1, **item, "targets": refs,
                       "datasource": {"type": "prometheus", "uid": "${datasource}"},
                       "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)}})
    return {"title": title, "uid": uid, "schemaVersion": 39, "version": 1, "editable": True,
            "tags": ["sensory"], "time": {"from": "now-6h", "to": "now"}, "refresh": "30s",
            "templating": {"list": [{"name": "datasource", "type": "datasource",
                                     "query": "prometheus", "label": "Prometheus"}]},
            "panels": placed}


DASHBOARDS = {"pipeline-health.json": ("Sensory: Pipeline health", "sensory-pipeline-health",
                                       pipeline_health),
              "sources.json": ("Sensory: Sources", "sensory-sources", sources)}


def render() -> dict[str, str]:
    """File name -> JSON text of each dashboard."""
    return {name: json.dumps(dashboard(title, uid, make()), indent=2) + "\n"
            for name, (title, uid, make) in DASHBOARDS.items()}


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, text in render().items():
        path = OUT / name
        if "--check" in sys.argv:
            if not path.exists() or path.read_text() != text:
                raise SystemExit(f"{path} is out of date: run python monitoring/dashboards.py")
        else:
            path.write_text(text)


if __name__ == "__main__":
    main()
