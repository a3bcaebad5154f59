"""Dashboards as code and ``sensory report``: structure, freshness, and a rendered page."""
import json
import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from sensory.cli.main import main
from sensory.cli.report import from_snapshots, render

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = ROOT / "monitoring" / "dashboards"
REQUIRED = {
    "pipeline-health.json": ["Throughput per stage", "Dead letters by reason",
                             "Validation pass rate", "Embedding batch latency (mean, max)",
                             "Sink write latency (mean, max)",
                             "Sink writes, retries and dead letters", "Consumer lag",
                             "End-to-end latency"],
    "sources.json": ["Source success rate", "HTTP 429 (rate limited)", "Items per source",
                     "Weather freshness per city"],
}
SNAPSHOT = """\
# TYPE sensory_beam_counter_total counter
sensory_beam_counter_total{metric="received",pipeline="social",stage="schema_validator"} 300.0
sensory_beam_counter_total{metric="ok",pipeline="social",stage="schema_validator"} 245.0
sensory_beam_counter_total{metric="dead_lettered",pipeline="social",stage="schema_validator"} 55.0
sensory_beam_counter_total{metric="num_inferences",pipeline="social",stage="embeddings"} 245.0
# TYPE sensory_dead_letters_total counter
sensory_dead_letters_total{error_type="ParseError",pipeline="social",processor="schema-validator"} 28.0
sensory_dead_letters_total{error_type="ValidationError",pipeline="social",processor="schema-validator"} 27.0
# TYPE sensory_beam_distribution summary
sensory_beam_distribution_count{metric="latency_us",pipeline="social",stage="schema_validator"} 245.0
sensory_beam_distribution_sum{metric="latency_us",pipeline="social",stage="schema_validator"} 75981.0
# TYPE sensory_beam_distribution_min gauge
sensory_beam_distribution_min{metric="latency_us",pipeline="social",stage="schema_validator"} 36.0
# TYPE sensory_beam_distribution_max gauge
sensory_beam_distribution_max{metric="latency_us",pipeline="social",stage="schema_validator"} 16100.0
# TYPE sensory_run_success gauge
sensory_run_success{pipeline="social"} 1.0
# TYPE sensory_run_start_timestamp_seconds gauge
sensory_run_start_timestamp_seconds{pipeline="social"} 1.7e+09
# TYPE sensory_run_end_timestamp_seconds gauge
sensory_run_end_timestamp_seconds{pipeline="social"} 1.700000067e+09
"""


def test_dashboard_json_is_generated_and_current():
    subprocess.run([sys.executable, str(ROOT / "monitoring" / "dashboards.py"), "--check"],
                   check=True)


def test_dashboards_are_well_formed_grafana_json():
    for name, titles in REQUIRED.items():
        board = json.loads((DASHBOARDS / name).read_text())
        assert board["uid"] and board["title"].startswith("Sensory")
        assert [v["name"] for v in board["templating"]["list"]] == ["datasource"]
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids))
        assert set(titles) <= {p["title"] for p in board["panels"]}
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == "${datasource}"
            assert set(panel["gridPos"]) == {"h", "w", "x", "y"}
            assert panel["targets"], panel["title"]
            refs = [t["refId"] for t in panel["targets"]]
            assert len(refs) == len(set(refs))
            for target in panel["targets"]:
                expr = target["expr"]
                assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}")
                # Every series a panel reads is one this project (or Flink) exports.
                for metric in re.findall(r"\b(sensory_[a-z_]+|flink_[A-Za-z_]+)", expr):
                    assert metric.startswith(("sensory_beam_", "sensory_dead_letters",
                                              "sensory_run_", "sensory_source_",
                                              "sensory_weather_", "sensory_kafka_", "flink_")), \
                        metric


def test_report_from_a_snapshot_shows_every_section(tmp_path):
    snapshot = tmp_path / "social.prom"
    snapshot.write_text(SNAPSHOT)
    html = render(from_snapshots([snapshot]))
    for text in ("Records per stage", "Dead letters by reason", "Latency per stage",
                 "Consumer lag over time", "81.7 %", "succeeded, 67 s", "ParseError",
                 "schema_validator · per record"):
        assert text in html, text
    assert html.count("<svg") == 3  # stages, dead letters, latency; no lag in a snapshot
    result = CliRunner().invoke(main, ["report", "--snapshot", str(snapshot), "-o",
                                       str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r.html").read_text().startswith("<!doctype html>")


def test_report_says_clearly_when_prometheus_is_missing(tmp_path):
    result = CliRunner().invoke(main, ["report", "--prometheus", "http://127.0.0.1:9",
                                       "-o", str(tmp_path / "r.html")])
    assert result.exit_code != 0 and "did not answer" in result.output
