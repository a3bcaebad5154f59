"""The Kubernetes manifests under flink/k8s parse and carry what production needs."""
import glob

import yaml

DOCS = [doc for path in sorted(glob.glob("flink/k8s/*.yaml"))
        for doc in yaml.safe_load_all(open(path, encoding="utf-8")) if doc]


def _of_kind(kind):
    found = [doc for doc in DOCS if doc["kind"] == kind]
    assert found, f"no {kind} in flink/k8s"
    return found


def test_every_manifest_has_identity():
    for doc in DOCS:
        assert doc["apiVersion"] and doc["kind"] and doc["metadata"]["name"]
        assert doc["metadata"].get("namespace") == "sensory", doc["metadata"]["name"]


def test_flink_deployment_session_cluster_with_worker_pool_sidecar():
    (deployment,) = _of_kind("FlinkDeployment")
    spec = deployment["spec"]
    assert spec["flinkVersion"] == "v1_19" and spec["image"].startswith("flink:1.19")
    assert "job" not in spec  # session cluster: jobs come as uber jars through the REST API
    conf = spec["flinkConfiguration"]
    assert int(conf["taskmanager.numberOfTaskSlots"]) >= 2
    assert conf["execution.checkpointing.interval"]
    containers = {c["name"]: c for c in spec["podTemplate"]["spec"]["containers"]}
    pool = containers["beam-worker-pool"]
    assert pool["command"][-1] == "apache_beam.runners.worker.worker_pool_main"
    assert pool["args"] == ["--service_port=50000"]
    assert pool["image"].startswith("ghcr.io/millionx/sensory:")  # workers import sensory
    assert {p["containerPort"] for p in pool["ports"]} == {50000}
    assert conf["taskmanager.memory.jvm-metaspace.size"] == "1024m"
    assert conf["metrics.reporter.prom.factory.class"].endswith("PrometheusReporterFactory")
    assert any(e["name"] == "SENSORY_PII_KEY" and "secretKeyRef" in e["valueFrom"]
               for e in pool["env"])


def test_expansion_service_and_submission_jobs():
    deployment = [d for d in _of_kind("Deployment")
                  if d["metadata"]["name"] == "beam-expansion-service"]
    (container,) = deployment[0]["spec"]["template"]["spec"]["containers"]
    assert container["command"][-1] == "org.apache.beam.sdk.expansion.service.ExpansionService"
    assert "2.62.0" in " ".join(container["command"])
    assert "--experiments=use_deprecated_read" in container["args"]
    assert "--defaultEnvironmentType=EMBEDDED" in container["args"]
    jobs = {j["metadata"]["name"]: j for j in _of_kind("Job")}
    for pipeline in ("social", "market"):
        (submit,) = jobs[f"sensory-submit-{pipeline}"]["spec"]["template"]["spec"]["containers"]
        assert submit["args"][:2] == ["submit", pipeline]
        assert "runner_configs/flink_k8s.yaml" in submit["args"]


def test_weather_cronjob_runs_hourly_with_the_real_api_key():
    (cron,) = [c for c in _of_kind("CronJob") if c["metadata"]["name"] == "sensory-weather-fetch"]
    assert cron["spec"]["schedule"].split()[1:] == ["*", "*", "*", "*"]  # once an hour
    (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    assert container["args"][:2] == ["weather", "fetch"]
    assert any(e["name"] == "OPENWEATHER_API_KEY" and "secretKeyRef" in e["valueFrom"]
               for e in container["env"])


def test_scrape_cronjobs_run_one_source_each_never_concurrently():
    crons = {c["metadata"]["name"]: c for c in _of_kind("CronJob")}
    for source in ("shopify", "daraz", "facebook", "tiktok"):
        cron = crons[f"sensory-scrape-{source}"]
        assert cron["spec"]["concurrencyPolicy"] == "Forbid"  # one cursor, one writer
        (container,) = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        assert container["args"][:3] == ["scrape", source, "--once"]
        for env in container.get("env", []):
            assert "secretKeyRef" in env["valueFrom"], env["name"]
