"""Issue #2's acceptance check: the held-out corpus through both pipelines in file mode.

Each pipeline runs as a subprocess through the real CLI (``sensory -v run KIND``) with
``SENSORY_PII_KEY`` set and INFO logging captured. Then every input line is accounted for
(records + dead letters = lines, matched by line number), ids are unique, and no planted PII
value, in any of the forms it could leak in, appears in any output file or in the logs.

Weather and embeddings are switched off: they need a weather endpoint and a model, and neither
changes which lines are valid or where PII could leak before them.
"""
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from heldout_corpus import (BENGALI_DIGITS, FREE_TEXT_PII, MARKET, PHONE_FORMS, SOCIAL, Line,
                            Planted, corpus, file_bytes, luhn_valid)

KEY = "heldout-acceptance-key-not-a-secret-0123456789"
RUN_TIMEOUT_S = 300
STRUCTURED_PII = ("author", "author_username", "customer_phone", "customer_email",
                  "customer_name")
HEX = frozenset("0123456789abcdef")
ASCII_DIGITS = str.maketrans("০১২৩৪৫৬৭৮৯", "0123456789")


@dataclass
class PipelineRun:
    """One pipeline's run over its corpus, and what came out."""

    kind: str
    lines: list[Line]
    records: list[dict]
    dead_letters: list[dict]
    output_texts: dict[str, str]  # file name -> content, for every file under the output dir
    logs: str
    seconds: float


def _read_jsonl(paths: list[Path]) -> list[dict]:
    out = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            out += [json.loads(line) for line in handle if line.strip()]
    return out


def _run_cli(kind: str, source: Path, output_dir: Path) -> tuple[str, float]:
    """Runs ``sensory -v run KIND`` on ``source``; returns the captured logs and seconds."""
    env = {**os.environ, "SENSORY_PII_KEY": KEY}
    env.pop("SENSORY_PII_KEY_FILE", None)  # the key must come from the environment here
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "sensory.cli.main", "-v", "run", kind,
         f"--input_file={source}", f"--output_dir={output_dir}", "--no_weather",
         "--no_embeddings"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, timeout=RUN_TIMEOUT_S,
        check=False)
    seconds = time.monotonic() - started
    logs = result.stdout.decode("utf-8", errors="replace")
    assert result.returncode == 0, f"{kind} run exited {result.returncode}:\n{logs[-4000:]}"
    return logs, seconds


@pytest.fixture(scope="module", params=[SOCIAL, MARKET])
def run(request, tmp_path_factory) -> PipelineRun:
    """Writes the corpus of one pipeline, runs the CLI on it, and reads every output."""
    kind = request.param
    lines = corpus(kind)
    work = tmp_path_factory.mktemp(f"heldout-{kind}")
    source, output_dir = work / "input.jsonl", work / "out"
    source.write_bytes(file_bytes(lines))
    logs, seconds = _run_cli(kind, source, output_dir)
    files = sorted(p for p in output_dir.rglob("*") if p.is_file())
    result = PipelineRun(
        kind=kind, lines=lines,
        records=_read_jsonl([p for p in files if p.name.startswith("records-")]),
        dead_letters=_read_jsonl([p for p in files if p.name.startswith("dead_letters-")]),
        output_texts={str(p.relative_to(output_dir)): p.read_text("utf-8", errors="replace")
                      for p in files},
        logs=logs, seconds=seconds)
    invalid = sum(not line.valid for line in lines)
    print(f"\n[heldout] {kind}: {len(lines)} lines ({len(lines) - invalid} valid, {invalid} "
          f"invalid) -> {len(result.records)} records, {len(result.dead_letters)} dead letters "
          f"in {seconds:.1f} s")
    return result


def _where(line: Line) -> str:
    return f"line {line.number} ({line.reason})"


def _by_offset(items: list[dict], path: tuple[str, str]) -> dict[Any, list[dict]]:
    out = defaultdict(list)
    for item in items:
        out[(item.get(path[0]) or {}).get(path[1])].append(item)
    return out


def _lines_by_number(run: PipelineRun) -> dict[int, Line]:
    return {line.number: line for line in run.lines}


# --- The corpus itself (no pipeline): it must cover what the brief and the contract list. ---

@pytest.mark.parametrize("kind", [SOCIAL, MARKET])
def test_corpus_covers_the_contract(kind):
    lines = corpus(kind)
    assert corpus(kind) == lines, "the corpus must be deterministic"
    invalid = [line for line in lines if not line.valid]
    assert 0.15 <= len(invalid) / len(lines) <= 0.25
    assert [line.number for line in lines] == list(range(1, len(lines) + 1))
    assert all(b"\n" not in line.raw for line in lines)
    planted = [p for line in lines for p in line.pii]
    forms = {(p.kind, p.form) for p in planted}
    assert set(FREE_TEXT_PII) <= forms, set(FREE_TEXT_PII) - forms
    in_invalid = {p.kind for line in invalid for p in line.pii}
    assert {"phone", "email", "card", "nid", "name"} <= in_invalid, in_invalid
    for p in planted:
        if p.kind == "card":
            assert luhn_valid(p.value.replace(" ", "").replace("-", "")), p
    for line in lines:
        text = line.raw.decode("utf-8", errors="replace")
        for p in line.pii:
            escaped = json.dumps(p.value)[1:-1]
            assert p.value in text or escaped in text, (_where(line), p)
    if kind == SOCIAL:
        assert {"author", "author_username", "timestamp", "posted_at"} <= _keys(lines)
    else:
        assert {"price", "unit_price", "timestamp", "total_price"} <= _keys(lines)
        structured_forms = {p.form for line in lines for p in line.pii
                            if p.where == "customer_phone"}
        assert set(PHONE_FORMS) <= structured_forms


def _keys(lines: list[Line]) -> set[str]:
    return {key for line in lines if line.valid for key in json.loads(line.raw)}


# --- The acceptance checks of issue #2. ---

def test_every_line_comes_out_once(run):
    records, dead = len(run.records), len(run.dead_letters)
    assert records + dead == len(run.lines), (
        f"{run.kind}: {records} records + {dead} dead letters != {len(run.lines)} lines")


def test_no_duplicate_ids(run):
    if run.kind == SOCIAL:
        ids = [record.get("post_id") for record in run.records]
    else:
        ids = [(record.get("order_id"), record.get("product_id")) for record in run.records]
    seen, duplicates = set(), []
    for record_id in ids:
        if record_id in seen:
            duplicates.append(record_id)
        seen.add(record_id)
    assert not duplicates, f"{run.kind}: duplicate ids {duplicates[:10]}"


def test_invalid_lines_are_schema_validator_dead_letters(run):
    dead = _by_offset(run.dead_letters, ("metadata", "offset"))
    records = _by_offset(run.records, ("_source", "offset"))
    problems = []
    for line in run.lines:
        mine_dead, mine_records = dead.pop(line.number, []), records.pop(line.number, [])
        if line.valid:
            if len(mine_records) != 1 or mine_dead:
                problems.append(f"{_where(line)}: valid, but {len(mine_records)} records and "
                                f"dead letters {[d.get('error') for d in mine_dead]}")
            continue
        if mine_records or len(mine_dead) != 1:
            problems.append(f"{_where(line)}: invalid, but {len(mine_records)} records and "
                            f"{len(mine_dead)} dead letters")
            continue
        problems += _dead_letter_problems(line, mine_dead[0])
    problems += [f"record with unknown _source.offset {k!r}" for k in records]
    problems += [f"dead letter with unknown metadata.offset {k!r}" for k in dead]
    assert not problems, f"{run.kind}: {len(problems)} problems:\n" + "\n".join(problems[:30])


def _dead_letter_problems(line: Line, dead: dict) -> list[str]:
    """What is wrong with the dead letter of an invalid line, per the contract's envelope."""
    problems = []
    metadata, error = dead.get("metadata") or {}, dead.get("error") or {}
    if metadata.get("processor") != "schema-validator":
        problems.append(f"{_where(line)}: processor {metadata.get('processor')!r}")
    if not error.get("type") or not error.get("message"):
        problems.append(f"{_where(line)}: error without type or message: {error}")
    # The contract's example message starts with the field it is about.
    if line.fields and not any(name in str(error.get("message")) for name in line.fields):
        problems.append(f"{_where(line)}: message {error.get('message')!r} names none of "
                        f"{line.fields}")
    original = dead.get("original_data")
    if line.is_object != isinstance(original, dict) or not isinstance(original, (dict, str)):
        problems.append(f"{_where(line)}: original_data is a {type(original).__name__}, "
                        f"expected {'an object' if line.is_object else 'a string'}")
    return problems


def _needles(planted: Planted) -> set[str]:
    """Every string whose presence in an output means the planted value leaked."""
    value = planted.value
    needles = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
    if planted.kind in ("phone", "card", "nid"):
        # A number leaks whichever script its digits are written in.
        digits = "".join(ch for ch in value.translate(ASCII_DIGITS) if ch.isdigit())
        if planted.kind == "phone":
            digits = digits[-10:]  # the national number without its leading 0
        needles |= {digits, digits.translate(BENGALI_DIGITS)}
    if planted.kind == "card":
        needles.add(value.replace(" ", "").replace("-", ""))
    elif planted.kind == "email":
        needles = {needle.lower() for needle in needles}
    return needles


def _leaks(run: PipelineRun) -> list[str]:
    haystacks = dict(run.output_texts, logs=run.logs)
    lowered = {name: text.lower() for name, text in haystacks.items()}
    found = []
    for line in run.lines:
        for planted in line.pii:
            texts = lowered if planted.kind == "email" else haystacks
            for needle in sorted(_needles(planted)):
                places = [name for name, text in texts.items() if needle in text]
                if places:
                    found.append(f"{_where(line)} {planted.kind}/{planted.form} in "
                                 f"{planted.where}: {needle!r} found in {places}")
    return found


def test_no_planted_pii_in_outputs_or_logs(run):
    planted = sum(len(line.pii) for line in run.lines)
    assert planted > 250, f"only {planted} planted PII values"
    assert run.output_texts, "the run wrote no files"
    leaks = _leaks(run)
    assert not leaks, f"{run.kind}: {len(leaks)} leaks:\n" + "\n".join(leaks[:40])


def _is_hash(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and set(value) <= HEX


def _shield_problems(record: dict, line: Line, kind: str) -> list[str]:
    where = _where(line)
    problems = []
    if record.get("_anonymized") is not True or not record.get("_anonymization_version"):
        problems.append(f"{where}: _anonymized/_anonymization_version missing")
    raw_fields = set(STRUCTURED_PII) & set(record)
    if raw_fields:
        problems.append(f"{where}: raw PII fields {sorted(raw_fields)} kept")
    hashes = ["author_hash"] if kind == SOCIAL else [
        f"{p.where}_hash" for p in line.pii
        if p.where in ("customer_phone", "customer_email", "customer_name")]
    problems += [f"{where}: {name} is {record.get(name)!r}, not a SHA-256 hex digest"
                 for name in hashes if not _is_hash(record.get(name))]
    context = record.get("context") or {}
    if not (context.get("category") or {}).get("name") or not context.get("temporal"):
        problems.append(f"{where}: context.category/context.temporal missing: {context}")
    return problems


def test_records_are_anonymised_and_enriched(run):
    lines = _lines_by_number(run)
    problems = []
    for record in run.records:
        line = lines.get((record.get("_source") or {}).get("offset"))
        if line is None:
            problems.append(f"record without a known _source.offset: {record.get('_source')}")
            continue
        problems += _shield_problems(record, line, run.kind)
    assert not problems, f"{run.kind}: {len(problems)} problems:\n" + "\n".join(problems[:30])


def test_equal_pii_hashes_alike(run):
    """Equal inputs give equal hashes (joins still work); all phone forms of a number too."""
    field, group_by = (("author_hash", "author") if run.kind == SOCIAL
                       else ("customer_phone_hash", "national"))
    lines = _lines_by_number(run)
    hashes_of = defaultdict(set)
    for record in run.records:
        line = lines[record["_source"]["offset"]]
        hashes_of[line.expected[group_by]].add(record.get(field))
    assert any(len(line_numbers) > 1 for line_numbers in _groups(run, group_by).values())
    split = {key: hashes for key, hashes in hashes_of.items() if len(hashes) != 1}
    assert not split, f"{run.kind}: one {group_by} got several {field}s: {split}"
    distinct = [next(iter(hashes)) for hashes in hashes_of.values()]
    assert len(distinct) == len(set(distinct)), f"{run.kind}: different {group_by}s hash alike"


def _groups(run: PipelineRun, key: str) -> dict[Any, list[int]]:
    out = defaultdict(list)
    for line in run.lines:
        if line.valid:
            out[line.expected[key]].append(line.number)
    return out


def _instant(value: Any) -> Any:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return f"unparseable {value!r}"
    if parsed.tzinfo is None:
        return f"no offset in {value!r}"
    return parsed.astimezone(timezone.utc)


def test_valid_records_keep_their_values(run):
    """Aliases resolve, "12" becomes 12, naive times are UTC, currency defaults to BDT."""
    lines = _lines_by_number(run)
    problems = []
    for record in run.records:
        line = lines[record["_source"]["offset"]]
        if run.kind == SOCIAL:
            got = {"id": record.get("post_id"), "event_utc": _instant(record.get("posted_at")),
                   "counts": {"engagement_count": record.get("engagement_count")}}
        else:
            got = {"id": (record.get("order_id"), record.get("product_id")),
                   "event_utc": _instant(record.get("created_at")),
                   "quantity": record.get("quantity"), "unit_price": record.get("unit_price"),
                   "currency": record.get("currency")}
        wrong = {key: (value, line.expected[key]) for key, value in got.items()
                 if value != line.expected[key]}
        if wrong:
            problems.append(f"{_where(line)}: (got, expected) {wrong}")
    assert not problems, f"{run.kind}: {len(problems)} problems:\n" + "\n".join(problems[:30])
