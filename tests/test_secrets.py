"""Secrets never reach logs, outputs or dead letters: a file-mode run at DEBUG with all set.

The weather call goes to the in-thread OpenWeatherMap emulator (the API key travels as the
``appid`` query parameter, which urllib3 logs at DEBUG); the Redis cache URL carries a password
(the server is absent, so the cache fails and logs); Snowflake and Weaviate settings are set to
random values too, so any options dump or settings repr would show them.
"""
import socket

from sensory.pipelines import social
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
