"""Bad configuration fails fast: one stderr line naming the setting, exit code 2.

Unreachable services are real closed ports (nothing listens), not mocks. The first test and the
``submit`` test run the real ``sensory`` console script, so stray log lines would be seen too.
"""
import os
import socket
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from sensory.cli.main import main

FILE_MODE = ["--no_weather", "--no_embeddings"]


@pytest.fixture
def closed_port():
    """A TCP port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def input_file(tmp_path):
    path = tmp_path / "posts.jsonl"
    path.write_text("{}\n")
    return str(path)


@pytest.fixture(autouse=True)
def _env(monkeypatch, pii_key, tmp_path):
    # No stack secrets and no real-service settings leak in from the developer's shell.
    monkeypatch.setenv("SENSORY_LOCAL_DIR", str(tmp_path / "no-stack"))
    for name in ("SNOWFLAKE_ACCOUNT", "WEAVIATE_API_KEY", "WEAVIATE_HOST", "REDIS_URL",
                 "OPENWEATHER_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def _one_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def _run(*args) -> str:
    result = CliRunner().invoke(main, ["run", *args])
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert result.stdout == ""
    return _one_line(result.stderr)


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "sensory.cli.main", *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})},
                          check=False)


def test_missing_input_file_through_the_console_script(tmp_path):
    pattern = str(tmp_path / "nope" / "*.jsonl")
    result = _cli("run", "social", f"--input_file={pattern}", f"--output_dir={tmp_path}/o",
                  *FILE_MODE)
    assert result.returncode == 2, result.stderr
    assert _one_line(result.stderr) == (
        f"sensory social: --input_file={pattern}: no file matches this path or glob")
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_verbose_adds_the_traceback(tmp_path):
    result = CliRunner().invoke(main, ["run", "market", f"--input_file={tmp_path}/none.jsonl",
                                       "--verbose", *FILE_MODE])
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].startswith("sensory market: --input_file=")
    assert "Traceback (most recent call last)" in result.stderr
    assert "PreflightError" in result.stderr


def test_unreachable_broker_answers_within_seconds(closed_port):
    began = time.monotonic()
    line = _run("social", f"--bootstrap_servers=127.0.0.1:{closed_port}", "--read_until_end",
                *FILE_MODE)
    assert line == (f"sensory social: --bootstrap_servers=127.0.0.1:{closed_port}: no Kafka "
                    "broker answered within 5 s (is the stack up? sensory stack up)")
    assert time.monotonic() - began < 15


def test_unreachable_redis_names_redis_url(input_file, closed_port):
    line = _run("social", f"--input_file={input_file}", "--output_dir=/tmp/unused",
                f"--redis_url=redis://:s3cret-pw@127.0.0.1:{closed_port}/0", "--no_embeddings")
    assert line.startswith(f"sensory social: --redis_url=redis://:***@127.0.0.1:{closed_port}/0: "
                           "Redis did not answer within 5 s")
    assert "s3cret-pw" not in line


def test_embedding_cache_needs_redis_too(input_file, closed_port):
    line = _run("social", f"--input_file={input_file}", "--output_dir=/tmp/unused", "--no_weather",
                f"--redis_url=redis://127.0.0.1:{closed_port}/0")
    assert line.startswith(f"sensory social: --redis_url=redis://127.0.0.1:{closed_port}/0: "
                           "Redis did not answer within 5 s")


def test_unreachable_weaviate_names_its_settings(input_file, closed_port, monkeypatch):
    monkeypatch.setenv("SENSORY_WEAVIATE_PORT", str(closed_port))
    line = _run("market", f"--input_file={input_file}", "--no_weather", "--no_embedding_cache",
                "--sinks=weaviate")
    assert line == (f"sensory market: WEAVIATE_HOST/SENSORY_WEAVIATE_PORT: Weaviate at "
                    f"http://127.0.0.1:{closed_port} did not answer within 5 s (is the stack "
                    "up? sensory stack up)")


def test_unreachable_snowflake_emulator(input_file, closed_port, monkeypatch):
    monkeypatch.setenv("SENSORY_SNOWFLAKE_PORT", str(closed_port))
    line = _run("social", f"--input_file={input_file}", *FILE_MODE, "--sinks=snowflake")
    assert line.startswith(f"sensory social: SENSORY_SNOWFLAKE_PORT={closed_port}: the "
                           "Snowflake emulator at 127.0.0.1 did not answer")


def test_half_configured_real_snowflake(input_file, monkeypatch):
    monkeypatch.setenv("SNOWFLAKE_ACCOUNT", "xy12345")
    monkeypatch.delenv("SNOWFLAKE_USER", raising=False)
    line = _run("social", f"--input_file={input_file}", *FILE_MODE, "--sinks=snowflake")
    assert line.startswith("sensory social: SNOWFLAKE_ACCOUNT is set, so real Snowflake is "
                           "used: also set SNOWFLAKE_USER")


def test_unreadable_snowflake_private_key(input_file, monkeypatch, tmp_path):
    monkeypatch.setenv("SNOWFLAKE_ACCOUNT", "xy12345")
    monkeypatch.setenv("SNOWFLAKE_USER", "loader")
    monkeypatch.setenv("SNOWFLAKE_PRIVATE_KEY_FILE", str(tmp_path / "missing.p8"))
    line = _run("social", f"--input_file={input_file}", *FILE_MODE, "--sinks=snowflake")
    assert line.startswith(f"sensory social: SNOWFLAKE_PRIVATE_KEY_FILE={tmp_path}/missing.p8: "
                           "cannot load the private key")


def test_real_weather_api_without_key(input_file):
    line = _run("social", f"--input_file={input_file}", "--output_dir=/tmp/unused",
                "--weather_base_url=https://api.openweathermap.org/data/2.5", "--redis_url=",
                "--no_embeddings")
    assert line == ("sensory social: no OpenWeatherMap key: set OPENWEATHER_API_KEY (or pass "
                    "--no_weather)")


def test_missing_pii_key(input_file, monkeypatch):
    monkeypatch.delenv("SENSORY_PII_KEY")
    line = _run("social", f"--input_file={input_file}", "--output_dir=/tmp/unused", *FILE_MODE)
    assert line.startswith("sensory social: no PII key: set SENSORY_PII_KEY or pass "
                           "--pii_key_file=PATH.")


def test_submit_with_a_bad_config_answers_the_same_way(tmp_path):
    config = tmp_path / "direct.yaml"
    config.write_text(f"runner: DirectRunner\ninput_file: {tmp_path}/absent-*.jsonl\n"
                      f"output_dir: {tmp_path}/out\nno_weather: true\nno_embeddings: true\n")
    result = _cli("submit", "market", "--config", str(config))
    assert result.returncode == 2, result.stderr
    assert _one_line(result.stderr) == (f"sensory market: --input_file={tmp_path}/absent-*.jsonl: "
                                        "no file matches this path or glob")


def test_submit_with_an_unreadable_runner_config(tmp_path):
    result = CliRunner().invoke(main, ["submit", "social", "--config", str(tmp_path / "no.yaml")])
    assert result.exit_code == 2
    assert _one_line(result.stderr) == (f"Error: cannot read runner config {tmp_path}/no.yaml: "
                                        "No such file or directory")
