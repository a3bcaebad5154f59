"""Issue #2's acceptance check: the held-out corpus through both pipelines in file mode.

Each pipeline runs as a subprocess through the real CLI, with SENSORY_PII_KEY set and INFO
logging captured, then every line is accounted for and every planted PII value looked for.
"""
import glob
import json
import os
import subprocess
import sys

import pytest

from heldout_corpus import corpus

KEY = "heldout-test-key-not-a-secret-0123456789"


def _read(pattern):
    out = []
    for path in sorted(glob.glob(pattern)):
        with open(path, encoding="utf-8") as handle:
            out += [json.loads(line) for line in handle if line.strip()]
    return out


@pytest.fixture(scope="module", params=["social", "market"])
def run(request, tmp_path_factory):
    kind = request.param
    lines = corpus(kind)
    work = tmp_path_factory.mktemp(kind)
    source = work / "input.jsonl"
    source.write_bytes(b"\n".join(line.raw for line in lines) + b"\n")
    env = {**os.environ, "SENSORY_PII_KEY": KEY}
    env.pop("SENSORY_PII_KEY_FILE", None)
    result = subprocess.run(
        [sys.executable, "-m", "sensory.cli.main", "-v", "run", kind,
         f"--input_file={source}", f"--output_dir={work / 'out'}",
         "--no_weather", "--no_embeddings"],
        capture_output=True, env=env, timeout=300, check=False)
    logs = result.stdout.decode("utf-8", "replace") + result.stderr.decode("utf-8", "replace")
    assert result.returncode == 0, logs[-3000:]
    return {"kind": kind, "lines": lines, "logs": logs,
            "records": _read(str(work / "out" / "records-*.jsonl")),
            "dead": _read(str(work / "out" / "dead_letters-*.jsonl")),
            "files": [open(p, encoding="utf-8").read()
                      for p in glob.glob(str(work / "out" / "*.jsonl"))]}


def test_every_line_comes_out_exactly_once(run):
    lines, records, dead = run["lines"], run["records"], run["dead"]
    assert len(records) + len(dead) == len(lines)
    record_lines = sorted(r["_source"]["offset"] for r in records)
    dead_lines = sorted(d["metadata"]["offset"] for d in dead)
    assert record_lines == [i + 1 for i, line in enumerate(lines) if line.valid]
    assert dead_lines == [i + 1 for i, line in enumerate(lines) if not line.valid]


def test_invalid_lines_are_schema_validator_dead_letters(run):
    assert {d["metadata"]["processor"] for d in run["dead"]} == {"schema-validator"}
    assert 0.12 < len(run["dead"]) / len(run["lines"]) < 0.3
    for dead in run["dead"]:
        assert dead["error"]["type"] in {"DecodeError", "ParseError", "NotAnObject",
                                         "ValidationError"}
        assert dead["error"]["message"]


def test_no_duplicate_ids(run):
    if run["kind"] == "social":
        ids = [r["post_id"] for r in run["records"]]
    else:
        ids = [(r["order_id"], r["product_id"]) for r in run["records"]]
    assert len(ids) == len(set(ids))


def test_no_planted_pii_in_outputs_or_logs(run):
    haystacks = {"outputs": "\n".join(run["files"]), "logs": run["logs"]}
    planted = {value for line in run["lines"] for value in line.pii}
    assert len(planted) > 100
    for where, text in haystacks.items():
        lowered = text.lower()
        leaked = sorted(value for value in planted if value.lower() in lowered)
        assert not leaked, f"{len(leaked)} planted PII values found in {where}: {leaked[:5]}"


def test_records_are_shielded_and_enriched(run):
    for record in run["records"]:
        assert record["_anonymized"] is True and record["_anonymization_version"] == "1"
        assert not {"author", "author_username", "customer_phone", "customer_email",
                    "customer_name"} & set(record)
        if run["kind"] == "social":
            assert len(record["author_hash"]) == 64
        else:
            assert len(record["customer_phone_hash"]) == 64
        assert record["context"]["category"]["name"]
        assert record["context"]["temporal"]["season"] == "autumn"
