"""The Flink stack service's generated configuration and its registration (no processes)."""
import importlib

import yaml

from sensory.stack import config, manager
from sensory.stack.flink import FlinkService


def test_config_follows_the_port_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("SENSORY_FLINK_REST_PORT", "18081")
    monkeypatch.setenv("SENSORY_FLINK_RPC_PORT", "16123")
    importlib.reload(config)
    try:
        service = FlinkService(tmp_path)
        service._write_config()  # pylint: disable=protected-access
        conf = yaml.safe_load((service.conf_dir / "config.yaml").read_text())
        assert service.address == "127.0.0.1:18081"
    finally:
        monkeypatch.undo()
        importlib.reload(config)
    assert conf["rest.port"] == 18081 and conf["jobmanager.rpc.port"] == 16123
    assert conf["rest.bind-address"] == conf["taskmanager.bind-host"] == "127.0.0.1"
    assert conf["taskmanager.numberOfTaskSlots"] == 2
    assert conf["taskmanager.memory.process.size"] == "2048m"
    assert conf["taskmanager.memory.jvm-metaspace.size"] == "1024m"
    assert conf["state.checkpoints.dir"] == f"file://{tmp_path / 'flink' / 'checkpoints'}"
    assert conf["metrics.reporter.prom.factory.class"].endswith("PrometheusReporterFactory")
    assert int(conf["blob.service.cleanup.interval"]) <= 600


def test_flink_is_opt_in():
    assert "flink" not in manager.SERVICE_NAMES
    assert "flink" in manager.ALL_SERVICE_NAMES
    assert [s.name for s in manager.services(["flink"])] == ["flink"]
    assert "flink" not in [s.name for s in manager.services()]
