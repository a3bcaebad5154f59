"""Secrets never reach logs, outputs or dead letters: a file-mode run at DEBUG with all set.

The weather call goes to the in-thread OpenWeatherMap emulator (the API key travels as the
``appid`` query parameter, which urllib3 logs at DEBUG); the Redis cache URL carries a password
(the server is absent, so the cache fails and logs); Snowflake and Weaviate settings are set to
random values too, so any options dump or settings repr would show them.
"""
import logging
import socket

import pytest

from sensory import endpoints, stack_secrets
from sensory.pipelines import social
from sensory.redact import SecretMaskingFilter, mask_secrets
from sensory.samples import sample_lines
from secret_scan import debug_log_capture, files_text, leaks, random_secret


def test_file_mode_run_at_debug_leaks_no_secret(emulator, tmp_path, monkeypatch, capsys):
    values = {name: random_secret(name) for name in (
        "pii-key", "openweather-key", "redis-password", "snowflake-password",
        "weaviate-key", "snowflake-passphrase")}
    monkeypatch.setenv("SENSORY_PII_KEY", values["pii-key"])
    monkeypatch.delenv("SENSORY_PII_KEY_FILE", raising=False)
    monkeypatch.setenv("OPENWEATHER_API_KEY", values["openweather-key"])
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", values["snowflake-password"])
    monkeypatch.setenv("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE", values["snowflake-passphrase"])
    monkeypatch.setenv("WEAVIATE_API_KEY", values["weaviate-key"])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = sock.getsockname()[1]
    source = tmp_path / "posts.jsonl"
    lines = list(sample_lines("social", 40, seed=5)) + ["{not json", '{"post_id": 1}']
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    with debug_log_capture() as log:
        code = social.run([
            f"--input_file={source}", f"--output_dir={out}", "--no_embeddings",
            f"--weather_base_url=http://127.0.0.1:{emulator.server_port}/data/2.5",
            f"--redis_url=redis://:{values['redis-password']}@127.0.0.1:{dead_port}/0",
            "--skip_preflight"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert emulator.requests_served > 0, "the weather API was never called"
    logged = log.getvalue()
    assert "appid=***" in logged, "the weather request line was not logged (or not masked)"
    assert files_text(str(out)).count("\n") >= len(lines) - 1
    everything = "\n".join([logged, captured.out, captured.err, files_text(str(out))])
    assert leaks(everything, values) == {}


@pytest.mark.parametrize("url, shown", [
    ("redis://:pw-1@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
    ("rediss://user:pw@cache.example:6380/2", "rediss://user:***@cache.example:6380/2"),
    ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
])
def test_mask_url(url, shown):
    assert endpoints.mask_url(url) == shown


def test_mask_secrets_in_request_lines_and_headers():
    line = ('http://127.0.0.1:1 "GET /data/2.5/weather?q=Dhaka%2CBD&appid=k3y-123&units=metric '
            'HTTP/1.1" 200 | Authorization: Bearer abcdef123456 | https://u:p4ss@h.example/x')
    masked = mask_secrets(line)
    assert "k3y-123" not in masked and "abcdef123456" not in masked and "p4ss" not in masked
    assert "q=Dhaka%2CBD&appid=***&units=metric" in masked
    record = logging.LogRecord("urllib3.connectionpool", logging.DEBUG, __file__, 1,
                               '%s "GET %s"', ("http://h", "/w?appid=zzz-999"), None)
    assert SecretMaskingFilter().filter(record) and "zzz-999" not in record.getMessage()


def test_redis_url_follows_redis_url_env_then_the_stack_password(tmp_path, monkeypatch):
    monkeypatch.setenv("SENSORY_LOCAL_DIR", str(tmp_path))
    monkeypatch.setenv("SENSORY_REDIS_PORT", "7001")
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert endpoints.redis_url() == "redis://127.0.0.1:7001/0"  # before the first `stack up`
    password = stack_secrets.ensure_secret(stack_secrets.REDIS_PASSWORD)
    assert (tmp_path / "secrets" / "redis-password").stat().st_mode & 0o777 == 0o600
    assert stack_secrets.ensure_secret(stack_secrets.REDIS_PASSWORD) == password
    assert endpoints.redis_url() == f"redis://:{password}@127.0.0.1:7001/0"
    monkeypatch.setenv("REDIS_URL", "rediss://:real@cache.example:6380/0")
    assert endpoints.redis_url() == "rediss://:real@cache.example:6380/0"


def test_weaviate_settings_use_the_stack_key_only_for_loopback(tmp_path, monkeypatch):
    from sensory.io.weaviate import WeaviateSettings
    monkeypatch.setenv("SENSORY_LOCAL_DIR", str(tmp_path))
    key = stack_secrets.ensure_secret(stack_secrets.WEAVIATE_API_KEY)
    assert WeaviateSettings.from_env({}).api_key == key
    assert WeaviateSettings.from_env({"WEAVIATE_API_KEY": "cloud"}).api_key == "cloud"
    assert WeaviateSettings.from_env({"WEAVIATE_HOST": "w.example"}).api_key is None
    assert key not in repr(WeaviateSettings.from_env({}))
