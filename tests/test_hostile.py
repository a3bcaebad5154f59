"""Hostile input: every message leaves exactly once, as a record or a dead letter, and no PII.

Messages: invalid UTF-8, 10,000-level nesting, 10 MB strings, NaN/Infinity/1e309, duplicate
keys, top-level arrays, null bytes, a BOM, and random mutations of valid records (the count
follows $SENSORY_HYPOTHESIS_PROFILE: 10,000 per kind in "slow", a few dozen otherwise).
"""
import glob
import json
import logging
import os
import random
import re

import pytest
from hypothesis import given, strategies as st

from hostile_corpus import PLANTED, fixed_messages, mutate, mutated_messages, valid_record
from sensory.messages import SourceMessage
from sensory.pipelines import market, social
from sensory.transforms.pii import _ScrubDeadLetterFn, _ShieldFn
from sensory.transforms.validate import TOO_LARGE, _ValidateFn

SLOW = os.environ.get("SENSORY_HYPOTHESIS_PROFILE") == "slow"
MUTATIONS = 10_000 if SLOW else 40
OFFLINE = ["--no_weather", "--no_embeddings"]


def standalone_pii(text: str) -> list[str]:
    """Planted values that appear as values of their own (not glued inside an identifier)."""
    found = []
    for value in PLANTED:
        if re.search(r"(?<![0-9A-Za-z_.])" + re.escape(value) + r"(?![0-9A-Za-z_])", text,
                     re.IGNORECASE):
            found.append(value)
    return found


def _one_message(kind: str, value: bytes):
    """Validate → shield or scrub, as the pipeline does; returns the outputs of the message."""
    validate = _ValidateFn(kind, 1 << 20)
    validate.setup()
    outputs = list(validate.process(SourceMessage(value, "t", 0, 1)))
    assert len(outputs) == 1, outputs
    (out,) = outputs
    if hasattr(out, "tag"):
        scrub = _ScrubDeadLetterFn(None)
        scrub.setup()
        (dead,) = list(scrub.process(out.value))
        return "dead", dead
    shield = _ShieldFn(None)
    shield.setup()
    return "record", shield.transform_record(out)


@given(st.sampled_from(["social", "market"]), st.randoms(use_true_random=False))
def test_mutated_record_leaves_once_without_pii(pii_key, kind, rng):
    value = mutate(json.dumps(valid_record(kind, 1), ensure_ascii=False).encode(), rng)
    _, out = _one_message(kind, value)
    text = json.dumps(out, ensure_ascii=False)
    assert not standalone_pii(text), (value, text)


@pytest.mark.parametrize("kind", ["social", "market"])
def test_fixed_hostile_messages_unit(pii_key, kind):
    for label, value, expect_record in fixed_messages(kind, big_bytes=2 << 20):
        outcome, out = _one_message(kind, value)
        if expect_record is not None:
            assert (outcome == "record") == expect_record, (label, out)
        assert not standalone_pii(json.dumps(out, ensure_ascii=False)), label


def _run_file_mode(kind, tmp_path, lines, extra=()):
    source = tmp_path / f"{kind}.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / f"out_{kind}"
    module = {"social": social, "market": market}[kind]
    assert module.run([f"--input_file={source}", f"--output_dir={out}", *OFFLINE,
                       *extra]) == 0
    records = [json.loads(line) for f in glob.glob(str(out / "records-*.jsonl"))
               for line in open(f, encoding="utf-8")]
    dead = [json.loads(line) for f in glob.glob(str(out / "dead_letters-*.jsonl"))
            for line in open(f, encoding="utf-8")]
    written = "".join(open(f, encoding="utf-8").read() for f in glob.glob(str(out / "*")))
    return records, dead, written


def _record_id(record):
    return record.get("post_id") or record.get("order_id")


@pytest.mark.parametrize("kind", ["social", "market"])
def test_file_mode_accounts_for_every_hostile_message(pii_key, kind, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    fixed = fixed_messages(kind)
    lines = [value for _, value, _ in fixed] + mutated_messages(kind, MUTATIONS)
    records, dead, written = _run_file_mode(kind, tmp_path, lines)

    # Exactly once: line numbers of dead letters and of records (ids map to lines) partition
    # the input.
    dead_lines = [d["metadata"]["offset"] for d in dead]
    assert len(dead_lines) == len(set(dead_lines))
    assert len(records) + len(dead) == len(lines), (len(records), len(dead), len(lines))
    by_label = {label: number for number, (label, _, _) in enumerate(fixed, start=1)}
    for label, _, expect_record in fixed:
        if expect_record is not None:
            assert (by_label[label] not in dead_lines) == expect_record, label
    assert {_record_id(r) for r in records} >= {"h-0", "h-13", "h-14"}

    # The 10 MB message: size and hash only, never its body.
    (big,) = [d for d in dead if d["metadata"]["offset"] == by_label["10 MB string"]]
    assert big["error"]["type"] == TOO_LARGE and "max_message_bytes" in big["error"]["message"]
    assert set(big["original_data"]) == {"size_bytes", "sha256"}
    assert big["original_data"]["size_bytes"] > 10 * 1024 * 1024
    assert len(written) < 8 * 1024 * 1024 + 2000 * len(lines)

    logs = "\n".join(r.getMessage() for r in caplog.records)
    assert not standalone_pii(written), standalone_pii(written)
    assert not standalone_pii(logs), standalone_pii(logs)


def test_oversized_limit_is_an_option(pii_key, tmp_path):
    small = json.dumps(valid_record("social", 1)).encode()
    large = json.dumps({**valid_record("social", 2), "content": "y" * 5000}).encode()
    records, dead, _ = _run_file_mode("social", tmp_path, [small, large],
                                      extra=["--max_message_bytes=4096"])
    assert [_record_id(r) for r in records] == ["h-1"]
    assert [d["error"]["type"] for d in dead] == [TOO_LARGE]
    assert dead[0]["original_data"]["size_bytes"] == len(large)


def test_mutations_are_deterministic_and_line_free():
    first, second = mutated_messages("market", 50), mutated_messages("market", 50)
    assert first == second and not any(b"\n" in m or b"\r" in m for m in first)
