"""Pipeline metrics to Prometheus: the snapshot of a file-mode run, labels, and the helpers."""
import json
import time
import urllib.request

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from sensory.metrics_export import CounterSnapshotCollector, SourceMetrics, safe_label, serve, \
    write_snapshot
from sensory.pipelines import social
from sensory.samples import sample_lines
from sensory.transforms.observe import reason_metric_name

OFFLINE = ["--no_weather", "--no_embeddings", "--metrics_port=0", "--metrics_pushgateway="]


def _samples(text: str) -> dict:
    """``{(name, frozenset(labels.items())): value}`` of a Prometheus text exposition."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _value(samples, name, **labels):
    return samples[(name, frozenset(labels.items()))]


def test_file_mode_run_writes_stage_counters_and_dead_letter_reasons(tmp_path, pii_key):
    lines = list(sample_lines("social", 120, seed=5)) + ["{broken", json.dumps({"post_id": ""})]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    snapshot = tmp_path / "social.prom"
    assert social.run([f"--input_file={source}", f"--output_dir={tmp_path / 'out'}",
                       f"--metrics_snapshot={snapshot}", *OFFLINE]) == 0
    samples = _samples(snapshot.read_text())
    received = _value(samples, "sensory_beam_counter_total", pipeline="social",
                      stage="schema_validator", metric="received")
    ok = _value(samples, "sensory_beam_counter_total", pipeline="social",
                stage="schema_validator", metric="ok")
    assert received == len(lines)
    dead = {labels: value for (name, labels), value in samples.items()
            if name == "sensory_dead_letters_total"}
    validator_dead = sum(v for labels, v in dead.items()
                         if ("processor", "schema-validator") in labels)
    assert ok + validator_dead == received and validator_dead >= 2
    assert _value(samples, "sensory_dead_letters_total", pipeline="social",
                  processor="schema-validator", error_type="ParseError") >= 1
    # File mode has no Kafka timestamps: every record is counted as untimed, none measured.
    assert _value(samples, "sensory_beam_counter_total", pipeline="social",
                  stage="end_to_end", metric="untimed") > 0
    assert _value(samples, "sensory_beam_distribution_count", pipeline="social",
                  stage="schema_validator", metric="latency_us") == ok
    assert _value(samples, "sensory_run_success", pipeline="social") == 1.0
    for (_name, labels), _ in samples.items():
        for _key, label_value in labels:
            assert safe_label(label_value) == label_value


def test_dead_letter_reason_names_are_closed_sets():
    assert reason_metric_name({"metadata": {"processor": "schema-validator"},
                               "error": {"type": "ValidationError"}}) == \
        "schema-validator.ValidationError"
    assert reason_metric_name({"metadata": {"processor": "Nusrat 01712345678"},
                               "error": {"type": "call me at 0171"}}) == "other.other"


def test_safe_label_never_passes_free_text():
    assert safe_label("Dhaka") == "Dhaka"
    assert safe_label("a b/c\n") == "a_b_c_"
    assert safe_label("x" * 100) == "x" * 64
    assert safe_label("tiktok", allowed=("facebook",)) == "other"
    assert safe_label("") == "none"


def test_source_metrics_serve_and_snapshot(tmp_path):
    registry = CollectorRegistry()
    metrics = SourceMetrics(registry)
    metrics.request("tiktok", "ok")
    metrics.request("tiktok", "rate_limited")
    metrics.items("tiktok", 7)
    with pytest.raises(ValueError):
        metrics.request("tiktok", "teapot")
    server = serve(registry, 0)
    try:
        port = server.server_address[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
            served = _samples(reply.read().decode())
    finally:
        server.shutdown()
        server.server_close()
    assert _value(served, "sensory_source_requests_total", source="tiktok",
                  outcome="rate_limited") == 1
    assert _value(served, "sensory_source_items_total", source="tiktok") == 7
    written = write_snapshot(registry, str(tmp_path / "s.prom"))
    assert _value(_samples(written.read_text()), "sensory_source_requests_total",
                  source="tiktok", outcome="ok") == 1


def test_the_metrics_endpoint_closes_without_waiting_half_a_second():
    # A bounded run closes its endpoint at its very end; socketserver's default poll made
    # that wait up to 0.5 s. Five closes in a row must all be quick.
    for _ in range(5):
        server = serve(CollectorRegistry(), 0)
        time.sleep(0.01)
        started = time.monotonic()
        server.shutdown()
        server.server_close()
        assert time.monotonic() - started < 0.2


def test_prometheus_config_scrapes_every_source_on_this_checkouts_ports(monkeypatch):
    from sensory.stack import config
    from sensory.stack.prometheus import scrape_config
    monkeypatch.setattr(config, "FLINK_TM_METRICS_PORT", 25999)
    settings = scrape_config()
    jobs = {job["job_name"]: job for job in settings["scrape_configs"]}
    assert set(jobs) == {"prometheus", "pushgateway", "kafka-lag", "sensory-pipelines",
                         "sensory-scrapers", "flink-jobmanager", "flink-taskmanager"}
    assert jobs["flink-taskmanager"]["static_configs"][0]["targets"] == ["127.0.0.1:25999"]
    assert jobs["pushgateway"]["honor_labels"] is True
    assert settings["rule_files"][0].endswith("monitoring/alerts.yml")


def test_scraper_counter_snapshots_become_prometheus_counters(tmp_path):
    counts = {"tiktok": {"requests": 10, "throttled": 2, "bad name!": 1},
              "Nusrat 0171": {"items": 3}}
    registry = CollectorRegistry()
    registry.register(CounterSnapshotCollector(lambda: counts))
    samples = _samples(write_snapshot(registry, str(tmp_path / "s.prom")).read_text())
    assert _value(samples, "sensory_scraper_requests_total", source="tiktok") == 10
    assert _value(samples, "sensory_scraper_throttled_total", source="tiktok") == 2
    assert _value(samples, "sensory_scraper_items_total", source="Nusrat_0171") == 3
    assert not any("bad" in name for name, _ in samples)
