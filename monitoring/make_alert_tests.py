"""Writes monitoring/alerts_test.yml: promtool unit tests firing and resolving every alert.

Each case names the series (promtool's expanding notation, one sample per ``interval``), when
the alert must be firing and when it must not be (pending, or resolved after the series
recover), and the labels it fires with. Annotations are rendered from alerts.yml, so a changed
summary needs no change here. Run: ``python monitoring/make_alert_tests.py``.
"""
import re
import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
C = "sensory_beam_counter_total"
SUM = "sensory_beam_distribution_sum"
COUNT = "sensory_beam_distribution_count"
SOC = 'pipeline="social"'
STEP_UP = "0+0x5 1+0x40"          # 0 for 6 minutes, then 1 for good
DOWN_THEN_UP = "1+0x5 0+0x15 1+0x10"  # down from 6m to 20m, then back

# alert -> (interval, series {selector: values}, firing at, not firing at, firing labels)
CASES = {
    "SensoryValidationPassRateLow": ("1m", {
        f'{C}{{{SOC},stage="schema_validator",metric="received"}}': "0+100x60",
        f'{C}{{{SOC},stage="schema_validator",metric="ok"}}': "0+90x30 2700+100x30",
    }, ["25m"], ["5m", "55m"], {"pipeline": "social"}),
    "SensoryDeadLetterRateHigh": ("1m", {
        f'{C}{{{SOC},stage="schema_validator",metric="received"}}': "0+100x60",
        f'sensory_dead_letters_total{{{SOC},processor="schema-validator",'
        f'error_type="ValidationError"}}': "0+5x30 150+0x30",
    }, ["25m"], ["5m", "55m"], {"pipeline": "social"}),
    "SensoryEmbeddingLatencyHigh": ("1m", {
        f'{SUM}{{{SOC},stage="embeddings",metric="inference_batch_latency_micro_secs"}}':
            "0+20000000x30 600000000+1000000x30",
        f'{C}{{{SOC},stage="embeddings",metric="num_inferences"}}': "0+100x60",
    }, ["25m"], ["5m", "55m"], {"pipeline": "social"}),
    "SensoryEmbeddingBatchesFailing": ("1m", {
        f'{C}{{{SOC},stage="embeddings",metric="failed_batches_counter"}}': STEP_UP,
    }, ["10m"], ["3m", "40m"], {"pipeline": "social"}),
    "SensoryEndToEndLatencyHigh": ("1m", {
        f'{SUM}{{{SOC},stage="end_to_end",metric="latency_ms"}}': "0+600000x30 18000000+1000x30",
        f'{COUNT}{{{SOC},stage="end_to_end",metric="latency_ms"}}': "0+100x60",
    }, ["25m"], ["5m", "55m"], {"pipeline": "social"}),
    "SensorySinkDeadLetters": ("1m", {
        f'{C}{{pipeline="market",stage="snowflake_sink",metric="dead_lettered"}}': "0+0x5 3+0x40",
    }, ["10m"], ["3m", "30m"], {"pipeline": "market", "stage": "snowflake_sink"}),
    "SensorySinkRetries": ("1m", {
        f'{C}{{pipeline="market",stage="weaviate_sink",metric="retries"}}': "0+0x5 10+0x40",
    }, ["10m"], ["3m", "30m"], {"pipeline": "market", "stage": "weaviate_sink"}),
    "SensoryKafkaWriteFailures": ("1m", {
        f'{C}{{{SOC},stage="kafka_write",metric="failed"}}': STEP_UP,
    }, ["10m"], ["3m", "40m"], {"pipeline": "social"}),
    "SensoryRunFailed": ("1m", {
        f'sensory_run_success{{{SOC}}}': "1+0x10 0+0x10 1+0x10",
    }, ["15m"], ["5m", "25m"], {"pipeline": "social"}),
    "SensoryLastRunDeadLetterRateHigh": ("1m", {
        f'sensory_dead_letters_total{{job="sensory_pipeline",{SOC},processor="schema-validator",'
        f'error_type="ParseError"}}': "5+0x10 1+0x10",
        f'{C}{{job="sensory_pipeline",{SOC},stage="schema_validator",metric="received"}}':
            "100+0x20",
    }, ["5m"], ["15m"], {"pipeline": "social"}),
    "SensoryConsumerLagHigh": ("1m", {
        'sensory_kafka_consumergroup_lag{group="sensory-social",topic="source.social.tiktok",'
        'partition="0"}': "20000+0x20 0+0x20",
    }, ["15m"], ["5m", "30m"], {"group": "sensory-social", "topic": "source.social.tiktok"}),
    "SensoryConsumerLagGrowing": ("1m", {
        'sensory_kafka_consumergroup_lag{group="sensory-social",topic="source.social.tiktok",'
        'partition="0"}': "0+200x40 8000+0x30",
    }, ["30m"], ["3m", "65m"], {"group": "sensory-social"}),
    "SensoryDeadLetterTopicRateHigh": ("1m", {
        'sensory_kafka_topic_messages_total{topic="dead-letters-social",partition="0"}':
            "0+10x30 300+0x40",
        'sensory_kafka_topic_messages_total{topic="source.social.tiktok",partition="0"}':
            "0+100x70",
    }, ["25m"], ["5m", "60m"], {}),
    "SensoryKafkaUnreachable": ("1m", {
        'sensory_kafka_exporter_up{job="kafka-lag"}': DOWN_THEN_UP,
    }, ["12m"], ["3m", "25m"], {}),
    "SensoryMetricsTargetDown": ("1m", {
        'up{job="kafka-lag",instance="127.0.0.1:9308"}': DOWN_THEN_UP,
    }, ["15m"], ["3m", "25m"], {"job": "kafka-lag", "instance": "127.0.0.1:9308"}),
    "SensoryScraperSuccessRateLow": ("1m", {
        'sensory_source_requests_total{source="tiktok",outcome="ok"}': "90+0x10 100+0x10",
        'sensory_source_requests_total{source="tiktok",outcome="error"}': "10+0x10 0+0x10",
    }, ["5m"], ["15m"], {"source": "tiktok"}),
    "SensoryScraperRateLimited": ("1m", {
        'sensory_source_requests_total{source="daraz",outcome="ok"}': "80+0x10 95+0x10",
        'sensory_source_requests_total{source="daraz",outcome="rate_limited"}':
            "20+0x10 5+0x10",
    }, ["5m"], ["15m"], {"source": "daraz"}),
    # time() is seconds since 0 in promtool: a success at 0 s is 4 h old at 240m.
    "SensorySourceStale": ("10m", {
        'sensory_source_last_success_timestamp_seconds{source="facebook"}': "0+0x30 15000+0x30",
    }, ["240m"], ["60m", "330m"], {"source": "facebook"}),
    "SensoryWeatherStale": ("10m", {
        'sensory_weather_observed_timestamp_seconds{city="Dhaka"}': "0+0x30 15000+0x30",
    }, ["180m"], ["60m", "330m"], {"city": "Dhaka"}),
    "SensoryFlinkJobManagerDown": ("1m", {
        'up{job="flink-jobmanager",instance="127.0.0.1:9249"}': DOWN_THEN_UP,
    }, ["15m"], ["3m", "25m"], {"job": "flink-jobmanager", "instance": "127.0.0.1:9249"}),
    "SensoryFlinkNoRunningJob": ("1m", {
        'flink_jobmanager_numRunningJobs{job="flink-jobmanager"}': DOWN_THEN_UP,
    }, ["15m"], ["3m", "25m"], {}),
    "SensoryFlinkTaskManagersMissing": ("1m", {
        'flink_jobmanager_numRegisteredTaskManagers{job="flink-jobmanager"}': DOWN_THEN_UP,
    }, ["15m"], ["3m", "25m"], {}),
    "SensoryFlinkJobRestarting": ("1m", {
        'flink_jobmanager_job_numRestarts{job_name="sensory-social"}': STEP_UP,
    }, ["10m"], ["3m", "40m"], {"job_name": "sensory-social"}),
}


def _render(template: str, labels: dict) -> str:
    return re.sub(r"\{\{\s*\$labels\.(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""),
                  template)


def build(rules_file: Path = HERE / "alerts.yml") -> dict:
    """The promtool test document for ``rules_file``; fails on an alert without a case."""
    rules = {rule["alert"]: rule for group in yaml.safe_load(rules_file.read_text())["groups"]
             for rule in group["rules"] if "alert" in rule}
    missing = sorted(set(rules) - set(CASES))
    if missing:
        raise SystemExit(f"alerts without a test case: {missing}")
    tests = []
    for alert, (interval, series, firing, quiet, labels) in CASES.items():
        rule = rules[alert]
        expected = {**rule.get("labels", {}), **labels}
        annotations = {key: _render(value, expected)
                       for key, value in rule.get("annotations", {}).items()}
        cases = [{"eval_time": at, "alertname": alert,
                  "exp_alerts": [{"exp_labels": expected, "exp_annotations": annotations}]}
                 for at in firing]
        cases += [{"eval_time": at, "alertname": alert, "exp_alerts": []} for at in quiet]
        tests.append({"name": alert, "interval": interval,
                      "input_series": [{"series": s, "values": v} for s, v in series.items()],
                      "alert_rule_test": sorted(cases, key=lambda c: int(c["eval_time"][:-1]))})
    return {"rule_files": ["alerts.yml"], "evaluation_interval": "1m", "tests": tests}


def main() -> None:
    target = HERE / "alerts_test.yml"
    text = ("# Generated by monitoring/make_alert_tests.py; edit the cases there.\n"
            + yaml.safe_dump(build(), sort_keys=False, width=100))
    if "--check" in sys.argv:
        if target.read_text() != text:
            raise SystemExit(f"{target} is out of date: run python {Path(__file__).name}")
        return
    target.write_text(text)


if __name__ == "__main__":
    main()
