"""The local stack is locked down: clients without credentials are refused, secrets are 0600,
listeners are on loopback (except the two Weaviate cannot move), and bad credentials fail fast.
"""
import json
import socket
import stat
import subprocess

import pytest
import requests
from click.testing import CliRunner

from sensory import endpoints, stack_secrets
from sensory.cli.main import main
from sensory.io.weaviate import WeaviateSettings, connect
from sensory.stack import config, manager, process
from sensory.stack.listeners import is_loopback

pytestmark = pytest.mark.integration

REST = f"http://{config.HOST}:{config.WEAVIATE_PORT}"


def test_weaviate_rest_refuses_requests_without_a_valid_key(stack):
    assert requests.get(f"{REST}/v1/schema", timeout=5).status_code == 401
    assert requests.get(f"{REST}/v1/schema", timeout=5,
                        headers={"Authorization": "Bearer not-the-key"}).status_code == 401
    key = stack_secrets.read_secret(stack_secrets.WEAVIATE_API_KEY)
    assert requests.get(f"{REST}/v1/schema", timeout=5,
                        headers={"Authorization": f"Bearer {key}"}).status_code == 200


def test_weaviate_client_without_key_is_refused(stack):
    import weaviate
    from weaviate.exceptions import UnexpectedStatusCodeError
    anonymous = WeaviateSettings(host=config.HOST, http_port=config.WEAVIATE_PORT,
                                 grpc_port=config.WEAVIATE_GRPC_PORT, api_key=None)
    with pytest.raises(UnexpectedStatusCodeError) as refused:
        # connect_to_custom asks /v1/meta first; that is where the refusal comes.
        client = weaviate.connect_to_custom(
            http_host=anonymous.host, http_port=anonymous.http_port, http_secure=False,
            grpc_host=anonymous.host, grpc_port=anonymous.grpc_port, grpc_secure=False,
            skip_init_checks=True)
        client.collections.list_all()
    assert refused.value.status_code == 401
    with connect(WeaviateSettings.from_env()) as ours:  # the stack's key, found by from_env
        assert isinstance(ours.collections.list_all(), dict)


def test_weaviate_cluster_data_port_requires_the_cluster_password(stack):
    # This port binds all interfaces (no Weaviate setting moves it), so it must refuse strangers.
    url = f"http://{config.HOST}:{config.WEAVIATE_DATA_PORT}/cluster/users/db/anyone"
    assert requests.get(url, timeout=5).status_code == 401


def test_redis_refuses_clients_without_the_password(stack):
    import redis
    for password in (None, "wrong-password"):
        client = redis.Redis(host=config.HOST, port=config.REDIS_PORT, password=password,
                             socket_timeout=2)
        with pytest.raises(redis.AuthenticationError):
            client.ping()
        client.close()
    # redis-py 8 opens with HELLO; the plain protocol shows the server's own answer.
    with socket.create_connection((config.HOST, config.REDIS_PORT), timeout=2) as raw:
        raw.sendall(b"PING\r\n")
        assert raw.recv(100).startswith(b"-NOAUTH")
    ours = redis.Redis.from_url(endpoints.redis_url())
    assert ours.ping()
    assert ours.config_get("protected-mode") == {"protected-mode": "yes"}
    assert ours.config_get("bind") == {"bind": config.HOST}
    ours.close()


def test_secret_files_are_private(stack):
    folder = stack_secrets.secret_path(stack_secrets.REDIS_PASSWORD).parent
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in (stack_secrets.REDIS_PASSWORD, stack_secrets.WEAVIATE_API_KEY,
                 stack_secrets.WEAVIATE_CLUSTER_PASSWORD):
        path = stack_secrets.secret_path(name)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
        assert len(path.read_text().strip()) == 48
    assert stat.S_IMODE((config.local_dir() / "redis" / "redis.conf").stat().st_mode) == 0o600


def test_status_reports_auth_and_loopback_listeners(stack):
    result = CliRunner().invoke(main, ["stack", "status", "--json"])
    status = json.loads(result.output)
    auth = {name: entry["auth"] for name, entry in status.items()}
    assert {name: auth[name] for name in ("kafka", "redis", "weaviate", "snowflake",
                                          "openweather")} == {
        "kafka": False, "redis": True, "weaviate": True, "snowflake": False,
        "openweather": False}
    assert all(value in (True, False) for value in auth.values()), auth
    exposed = {address for entry in status.values() for address in entry["listens"]
               if not is_loopback(address)}
    # Weaviate v1.35 binds these two with net.Listen(":port"); both refuse anonymous callers.
    # Flink's Prometheus reporter (opt-in `stack up --flink`) has no bind-address setting.
    assert {address.rsplit(":", 1)[1] for address in exposed} <= {
        str(config.WEAVIATE_GRPC_PORT), str(config.WEAVIATE_DATA_PORT),
        str(config.FLINK_JM_METRICS_PORT), str(config.FLINK_TM_METRICS_PORT)}
    assert f"{config.HOST}:{config.REDIS_PORT}" in status["redis"]["listens"]
    assert f"{config.HOST}:{config.KAFKA_PORT}" in status["kafka"]["listens"]


def test_up_restarts_a_redis_started_without_a_password(stack):
    (redis_service,) = manager.services(["redis"])
    manager.down(["redis"])
    process.start(["redis-server", "--bind", config.HOST, "--port", str(config.REDIS_PORT),
                   "--save", "", "--appendonly", "no"], pid_file=redis_service.pid_file,
                  log_file=redis_service.log_file)
    process.wait_until(lambda: process.port_open(config.HOST, config.REDIS_PORT), timeout_s=10,
                       what="passwordless redis")
    assert redis_service.requires_auth() is False
    lines = []
    manager.up(["redis"], progress=lines.append)
    assert "redis: restarting (started without a password)" in lines
    assert redis_service.requires_auth() is True and redis_service.healthy()


def _run_cli(*args, env):
    return subprocess.run(["sensory", "run", *args], capture_output=True, text=True,
                          timeout=300, env=env, check=False)


@pytest.fixture
def run_in_process(pii_key, tmp_path):
    def run(*args):
        result = CliRunner().invoke(main, ["run", *args])
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1, (result.exit_code, result.stderr)
        return lines[0]
    source = tmp_path / "in.jsonl"
    source.write_text("{}\n")
    run.input_file = str(source)
    return run


def test_preflight_wrong_redis_password(stack, run_in_process):
    url = f"redis://:wrong-password@{config.HOST}:{config.REDIS_PORT}/0"
    line = run_in_process("social", f"--input_file={run_in_process.input_file}",
                          "--output_dir=/tmp/unused", f"--redis_url={url}", "--no_embeddings")
    assert line.startswith(f"sensory social: --redis_url=redis://:***@{config.HOST}:"
                           f"{config.REDIS_PORT}/0: Redis refused the credentials")
    assert "wrong-password" not in line


def test_preflight_weaviate_without_key(stack, run_in_process, monkeypatch, tmp_path):
    monkeypatch.delenv("WEAVIATE_API_KEY", raising=False)
    monkeypatch.setenv("SENSORY_LOCAL_DIR", str(tmp_path / "elsewhere"))  # no key file there
    line = run_in_process("market", f"--input_file={run_in_process.input_file}",
                          "--no_weather", "--no_embedding_cache", "--sinks=weaviate")
    assert line.startswith(f"sensory market: WEAVIATE_API_KEY: Weaviate at {REST} requires an "
                           "API key and none is set (HTTP 401)")


def test_preflight_missing_topic(stack, run_in_process):
    line = run_in_process("social", f"--bootstrap_servers={stack['kafka'].address}",
                          "--topics=source.social.nonexistent", "--read_until_end",
                          "--output_dir=/tmp/unused", "--no_weather", "--no_embeddings")
    assert line == (f"sensory social: --topics: topic(s) source.social.nonexistent do not "
                    f"exist on {stack['kafka'].address} (create the contract's topics with: "
                    "sensory topics create)")
