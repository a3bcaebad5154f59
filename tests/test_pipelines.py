"""The social and market pipelines end to end on DirectRunner (file mode and beam.Create)."""
import json
import subprocess
import sys

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
import pytest
from click.testing import CliRunner

from sensory.cli.main import main
from sensory.io.weaviate import WeaviateSettings, WriteToWeaviate
from sensory.pipelines import market, social
from sensory.pipelines.core import snowflake_batching
from sensory.pipelines.launcher import summarize_output
from sensory.pipelines.options import SensoryOptions
from sensory.samples import sample_lines

# Unit tests stay off the network: no weather service, no model.
OFFLINE = ["--no_weather", "--no_embeddings"]
POST = {"platform": "tiktok", "post_id": "t-1", "author": "Nusrat", "engagement_count": 5,
        "content": "Selling my iPhone 13, call 01712345678", "posted_at": "2025-12-19T10:00:00Z",
        "location": "Sylhet"}


def test_build_pipeline_with_create(pii_key, tmp_path):
    options = PipelineOptions([*OFFLINE, f"--output_dir={tmp_path}"]).view_as(SensoryOptions)
    p = TestPipeline()
    out = social.build_pipeline(p, options, messages=p | beam.Create([
        json.dumps(POST).encode(), b"{broken", json.dumps({**POST, "post_id": ""}).encode()]))
    assert_that(out.records | beam.Map(lambda r: (
        r["post_id"], "author" in r, r["context"]["category"]["name"],
        r["content"].split()[-1].split("_")[0])),
        equal_to([("t-1", False, "smartphone", "PHONE")]), label="records")
    assert_that(out.dead_letters | "Types" >> beam.Map(lambda d: d["error"]["type"]),
                equal_to(["ParseError", "ValidationError"]), label="dead_letters")
    p.run().wait_until_finish()


def test_file_mode_accounts_for_every_line(tmp_path, pii_key):
    for kind, module in (("social", social), ("market", market)):
        lines = list(sample_lines(kind, 150, seed=11))
        source = tmp_path / f"{kind}.jsonl"
        source.write_text("\n".join(lines) + "\n", encoding="utf-8")
        out = tmp_path / f"out_{kind}"
        assert module.run([f"--input_file={source}", f"--output_dir={out}", *OFFLINE]) == 0
        summary = summarize_output(str(out))
        assert summary["records"] + summary["dead_letters"] == len(lines), summary
        assert summary["records"] > len(lines) * 0.7, summary
        assert sorted(p.name for p in out.iterdir()) == [
            "dead_letters-00000-of-00001.jsonl", "records-00000-of-00001.jsonl"]


def test_refuses_to_start_without_key(tmp_path, monkeypatch):
    monkeypatch.delenv("SENSORY_PII_KEY", raising=False)
    monkeypatch.delenv("SENSORY_PII_KEY_FILE", raising=False)
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps(POST) + "\n")
    result = subprocess.run(
        [sys.executable, "-m", "sensory.pipelines.social", f"--input_file={source}",
         f"--output_dir={tmp_path / 'out'}", *OFFLINE], capture_output=True, text=True,
        timeout=120)
    assert result.returncode == 2
    assert "no PII key: set SENSORY_PII_KEY or pass --pii_key_file" in result.stderr
    assert not (tmp_path / "out").exists()


def test_cli_run_and_missing_options(tmp_path, pii_key):
    runner = CliRunner()
    result = runner.invoke(main, ["run", "market", "--output_dir=/tmp/x", "--sinks=s3"])
    assert result.exit_code == 2 and "unknown sink" in result.output
    source = tmp_path / "orders.jsonl"
    source.write_text("\n".join(sample_lines("market", 20, seed=3)) + "\n")
    result = runner.invoke(main, ["run", "market", f"--input_file={source}",
                                  f"--output_dir={tmp_path / 'out'}", *OFFLINE])
    assert result.exit_code == 0, result.output
    assert "market:" in result.output and "records" in result.output


def _batching(*flags):
    return snowflake_batching(PipelineOptions(list(flags)).view_as(SensoryOptions))


def test_snowflake_batching_is_keyed_only_on_streaming_flink_unless_chosen():
    assert _batching("--runner=FlinkRunner", "--streaming") == "keyed"
    assert _batching("--runner=PortableRunner", "--streaming") == "keyed"
    assert _batching("--runner=FlinkRunner") == "bundle"  # bounded: bundles are large
    assert _batching("--streaming") == "bundle"  # DirectRunner
    assert _batching("--streaming", "--snowflake_batching=keyed") == "keyed"
    assert _batching("--runner=FlinkRunner", "--streaming",
                     "--snowflake_batching=bundle") == "bundle"


def test_snowflake_shards_below_one_are_refused(tmp_path, pii_key):
    result = CliRunner().invoke(main, [
        "run", "social", f"--input_file={tmp_path}/none.jsonl", f"--output_dir={tmp_path}",
        "--snowflake_shards=0", *OFFLINE])
    assert result.exit_code != 0
    assert "--snowflake_shards must be at least 1" in result.output


def test_weaviate_index_settings_below_one_are_refused(tmp_path, pii_key):
    for flag in ("--weaviate_max_connections=0", "--weaviate_ef_construction=-4"):
        result = CliRunner().invoke(main, [
            "run", "social", f"--input_file={tmp_path}/none.jsonl", f"--output_dir={tmp_path}",
            flag, *OFFLINE])
        assert result.exit_code != 0
        assert f"{flag.split('=')[0]} must be at least 1" in result.output


def test_write_to_weaviate_refuses_bad_index_settings():
    with pytest.raises(ValueError, match="ef_construction must be a positive integer"):
        WriteToWeaviate(settings=WeaviateSettings(), ef_construction=0)
    with pytest.raises(ValueError, match="max_connections must be a positive integer"):
        WriteToWeaviate(settings=WeaviateSettings(), max_connections=2.5)


def test_keyed_snowflake_batching_is_refused_on_direct_runner(tmp_path, pii_key):
    result = CliRunner().invoke(main, [
        "run", "social", f"--input_file={tmp_path}/none.jsonl", "--sinks=snowflake",
        "--snowflake_batching=keyed", *OFFLINE])
    assert result.exit_code != 0
    assert "--snowflake_batching=keyed needs FlinkRunner or PortableRunner" in result.output
