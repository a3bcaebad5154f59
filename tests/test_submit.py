"""Runner configs and ``sensory submit``: merging, environment expansion, a real direct run."""
import glob
import json

import pytest
from click.testing import CliRunner

from sensory.cli.main import main
from sensory.cli.submit import ConfigError, load_runner_config, merged_argv, to_flags

CONFIGS = sorted(glob.glob("runner_configs/*.yaml"))


@pytest.mark.parametrize("path", CONFIGS)
def test_every_config_loads_with_defaults(path, monkeypatch):
    for name in ("SENSORY_FLINK_MASTER", "SENSORY_FLINK_RUNTIME_JAR", "SENSORY_FLINK_REST_PORT",
                 "SENSORY_WORKER_POOL_PORT", "SENSORY_EXPANSION_PORT",
                 "SENSORY_EXPANSION_SERVICE"):
        monkeypatch.delenv(name, raising=False)
    config = load_runner_config(path)
    assert config["runner"] in {"DirectRunner", "FlinkRunner", "PortableRunner"}
    assert all("${" not in str(value) for value in config.values())


def test_cluster_config_has_what_a_session_cluster_needs(monkeypatch):
    for name in ("SENSORY_FLINK_REST_PORT", "SENSORY_WORKER_POOL_PORT", "SENSORY_EXPANSION_PORT"):
        monkeypatch.delenv(name, raising=False)
    config = load_runner_config("runner_configs/flink_cluster.yaml")
    assert config["flink_master"] == "127.0.0.1:8081"
    assert config["parallelism"] >= 1 and config["checkpointing_interval"] > 0
    assert config["environment_type"] == "EXTERNAL"
    assert config["environment_config"] == "127.0.0.1:18550"
    assert config["kafka_expansion_service"] == "127.0.0.1:8097"
    assert config["flink_submit_uber_jar"] is True
    assert config["flink_job_server_jar"].startswith(".local/flink-runtime/")


def test_cluster_config_follows_the_stack_port_variables(monkeypatch):
    monkeypatch.setenv("SENSORY_FLINK_REST_PORT", "18081")
    monkeypatch.setenv("SENSORY_WORKER_POOL_PORT", "15000")
    config = load_runner_config("runner_configs/flink_cluster.yaml")
    assert config["flink_master"] == "127.0.0.1:18081"
    assert config["environment_config"] == "127.0.0.1:15000"


def test_environment_expansion_and_override_order(tmp_path, monkeypatch):
    path = tmp_path / "c.yaml"
    path.write_text("runner: FlinkRunner\nflink_master: ${MASTER:-a:1}\nstreaming: true\n"
                    "flag_off: false\nempty: null\n")
    assert merged_argv(str(path), ["--flink_master=b:2"]) == [
        "--runner=FlinkRunner", "--flink_master=a:1", "--streaming", "--flink_master=b:2"]
    monkeypatch.setenv("MASTER", "c:3")
    assert load_runner_config(str(path))["flink_master"] == "c:3"


@pytest.mark.parametrize("text,message", [
    ("- a\n- b\n", "mapping"), ("a: [1, 2]\n", "single value"),
    ("a: ${NOPE_NOT_SET}\n", "NOPE_NOT_SET"), ("a: [\n", "not valid YAML"),
])
def test_bad_configs_say_why(tmp_path, text, message, monkeypatch):
    monkeypatch.delenv("NOPE_NOT_SET", raising=False)
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_runner_config(str(path))


def test_to_flags_skips_false_and_none():
    assert to_flags({"a": 1, "b": True, "c": False, "d": None}) == ["--a=1", "--b"]


def test_submit_direct_runs_the_pipeline(tmp_path, pii_key):
    source = tmp_path / "posts.jsonl"
    source.write_text(json.dumps({
        "platform": "facebook", "post_id": "f1", "author": "x", "content": "Saree sale today",
        "engagement_count": 1, "posted_at": "2025-12-20T10:00:00Z"}) + "\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["submit", "social", "--config",
                                       "runner_configs/direct.yaml", f"--input_file={source}",
                                       f"--output_dir={out}", "--no_weather",
                                       "--no_embeddings"])
    assert result.exit_code == 0, result.output
    (records,) = glob.glob(str(out / "records-*.jsonl"))
    assert json.loads(open(records).read())["context"]["category"]["name"] == "fashion"
