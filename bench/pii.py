"""The PII shield before (main's hand-written phone regex) and after (libphonenumber), in one run.

Two measurements on the same records:

* **False positives**: numbers that are not PII (prices, order ids, dates, quantities, sizes)
  in the free text of the sample corpus (``sensory.samples``), the held-out test corpus
  (``tests/heldout_corpus.py``) and a generated merchant-text corpus that is dense in such
  numbers; counts how many of them the old and the new shield tokenise. Planted PII is masked
  before numbers are counted, so only non-PII numbers count.
* **Throughput**: records/s of the shield's per-record work (``_ShieldFn.transform_record``)
  with the old and the new hasher, of the validate stage (``parse_record``) on the same lines
  and of the context stage on the shielded records, so the ratios mean something on a shared,
  noisy machine. Pass ``--leniencies`` for false positives and recall per matcher leniency.

The old implementation is loaded from git (``git show REV:transforms/pii_text.py``, by
default the revision just before the hand-written ``PHONE_RE`` was removed).

Usage: python bench/pii.py [--old-rev REV] [--repeat 3] [--leniencies]
"""
import argparse
import collections
import json
import os
import random
import re
import subprocess
import sys
import time
import types

from sensory.models import RECORD_MODELS, RECORD_TYPE_KEY
from sensory.samples import sample_lines
from sensory.transforms import pii_phones
from sensory.transforms.context import _ContextFn, load_category_table
from sensory.transforms.pii import _ShieldFn
from sensory.transforms.pii_text import PII_FIELDS, PIIHasher
from sensory.transforms.validate import _Rejected, parse_record

KEY = b"bench-key-0123456789abcdef"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_NOT_FREE_TEXT = {"platform", "post_id", "order_id", "merchant_id", "product_id", "currency",
                  "posted_at", "created_at"}
# A number as people write it: digits (either script) joined by , . : / - (one char each).
NUMBER_RE = re.compile(r"[0-9০-৯]+(?:[,.:/\-][0-9০-৯]+)*")
TOKEN_RE = re.compile(r"(?:PHONE|EMAIL|CARD|NID)_[0-9a-f]{16}")
MASK = "\u2063"  # invisible separator: stands in for planted PII, never a digit
ASCII_DIGITS = str.maketrans("০১২৩৪৫৬৭৮৯", "0123456789")


def regex_shield_rev() -> str:
    """The last revision whose shield used the hand-written ``PHONE_RE``."""
    removed = subprocess.run(
        ["git", "-C", ROOT, "log", "-1", "--format=%H", "-S", "PHONE_RE = re.compile", "--",
         "transforms/pii_text.py"], check=True, capture_output=True, text=True).stdout.strip()
    return f"{removed}^"


def load_old_module(rev: str) -> types.ModuleType:
    """Imports ``transforms/pii_text.py`` as it is at git revision ``rev``."""
    source = subprocess.run(["git", "-C", ROOT, "show", f"{rev}:transforms/pii_text.py"],
                            check=True, capture_output=True, text=True).stdout
    module = types.ModuleType("old_pii_text")
    exec(compile(source, f"{rev}:transforms/pii_text.py", "exec"), module.__dict__)  # noqa: S102
    return module


def _free_texts(value, key=None):
    if key in PII_FIELDS or key in _NOT_FREE_TEXT or (key or "").startswith("_"):
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _free_texts(item)
    elif isinstance(value, dict):
        for k, item in value.items():
            yield from _free_texts(item, k)


def _heldout():
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import heldout_corpus  # pylint: disable=import-outside-toplevel
    lines = heldout_corpus.corpus("social") + heldout_corpus.corpus("market")
    return [(line.raw.decode("utf-8", "replace"), [p.value for p in line.pii]) for line in lines]


def _samples(count: int):
    out = []
    for kind in ("social", "market"):
        for line in sample_lines(kind, count):
            # The sample generator's only free-text PII is "Call 01XXXXXXXXX".
            out.append((line, re.findall(r"(?<=Call )01[3-9][0-9]{8}", line)))
    return out


def _merchant_texts(count: int, seed: int = 11):
    """Merchant posts dense in numbers that are not PII (no PII planted)."""
    rng = random.Random(seed)
    bengali = str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")
    makers = [
        lambda: f"৳ {rng.randint(100, 99999):,}", lambda: f"Tk {rng.randint(1, 9999):,}.{rng.randint(0, 99):02d}",
        lambda: f"{rng.randint(100, 99999):,} টাকা".translate(bengali),
        lambda: f"order #{rng.randint(10000, 99999999)}", lambda: f"ORD-{rng.randint(1, 999999):06d}",
        lambda: f"invoice {rng.randint(1000000, 99999999)}",
        lambda: f"{rng.randint(2020, 2026)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        lambda: f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/{rng.randint(2020, 2026)}",
        lambda: f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.{rng.randint(2020, 2026)}",
        lambda: f"qty {rng.randint(1, 500)}", lambda: f"{rng.randint(1, 50)} pcs",
        lambda: f"{rng.randint(1, 64)}GB/{rng.randint(64, 1024)}GB",
        lambda: f"{rng.randint(2000, 9999)} {rng.randint(100, 999)} {rng.randint(100, 999)}",
        lambda: f"tracking {rng.randint(10**10, 10**12 - 1)}",
        lambda: f"{rng.randint(10, 23)}:{rng.randint(0, 59):02d}",
    ]
    words = ["দাম", "only", "Eid offer", "delivery", "ঢাকা", "stock", "in", "paid", "—", "!"]
    texts = []
    for _ in range(count):
        pieces = [rng.choice(makers)() if rng.random() < 0.5 else rng.choice(words)
                  for _ in range(rng.randint(3, 10))]
        texts.append((json.dumps({"content": " ".join(pieces)}, ensure_ascii=False), []))
    return texts


def phone_forms(count: int, seed: int = 5) -> list[tuple[str, str]]:
    """Random written forms of valid BD mobiles (random prefix, grouping, separators, script)."""
    rng = random.Random(seed)
    bengali = str.maketrans("0123456789", "০১২৩৪৫৬৭৮৯")
    forms = []
    for _ in range(count):
        national = f"1{rng.randint(3, 9)}{rng.randint(0, 99_999_999):08d}"
        prefix = rng.choice(["+880", "880", "00880", "0", ""])
        digits = prefix.lstrip("+") + national
        cuts = sorted(rng.sample(range(1, len(digits)), rng.randint(0, 4)))
        groups = [digits[a:b] for a, b in zip([0] + cuts, cuts + [len(digits)])]
        seps = rng.sample([" ", "-", ".", "/", ""], 2)
        written = ("+" if prefix.startswith("+") else "") + groups[0] + "".join(
            rng.choice(seps) + g for g in groups[1:])
        if rng.random() < 0.3:
            written = written.translate(bengali)
        forms.append((f"call {written} now", f"+880{national}"))
    return forms


def recall(forms, hasher) -> int:
    """How many of the forms come out as the token of their own number."""
    return sum(hasher.token("phone", e164) in hasher.scrub_text(text) for text, e164 in forms)


def false_positives(corpus, scrub) -> tuple[int, int, collections.Counter]:
    """Counts non-PII numbers in the corpus's free text and how many ``scrub`` tokenises."""
    total, lost, examples = 0, 0, collections.Counter()
    for raw, planted in corpus:
        try:
            obj = json.loads(raw)
            texts = list(_free_texts(obj))
        except ValueError:
            texts = [raw]
        for text in texts:
            masked = text
            for value in sorted(planted, key=len, reverse=True):
                masked = masked.replace(value, MASK)
            before = collections.Counter(NUMBER_RE.findall(masked))
            # Digits inside an e-mail are part of PII too; they are not "numbers".
            out = scrub(masked)
            after = collections.Counter(NUMBER_RE.findall(TOKEN_RE.sub(MASK, out)))
            total += sum(before.values())
            for number, n in before.items():
                if after[number] < n:
                    lost += n - after[number]
                    examples[number] += n - after[number]
    return total, lost, examples


def throughput(records, lines, old_hasher, new_hasher, repeat: int) -> dict:
    """Records/s of the shield (old, new hasher) and of validation, interleaved per round."""
    shield = _ShieldFn(None)
    rates = collections.defaultdict(list)
    for _ in range(repeat):
        for name, hasher in (("shield_old", old_hasher), ("shield_new", new_hasher)):
            shield._hasher = hasher  # pylint: disable=protected-access
            started = time.perf_counter()
            for record in records:
                shield.transform_record(record)
            rates[name].append(len(records) / (time.perf_counter() - started))
        context = _ContextFn(load_category_table(None))
        context.setup()
        shield._hasher = new_hasher  # pylint: disable=protected-access
        shielded = [shield.transform_record(record) for record in records]
        started = time.perf_counter()
        for record in shielded:
            context.transform_record(record)
        rates["context"].append(len(shielded) / (time.perf_counter() - started))
        started = time.perf_counter()
        for line, model in lines:
            try:
                parse_record(line, model)
            except _Rejected:
                pass
        rates["validate"].append(len(lines) / (time.perf_counter() - started))
    return {name: max(values) for name, values in rates.items()}


def _validated(corpus_lines):
    records, lines = [], []
    for raw, kind in corpus_lines:
        model = RECORD_MODELS[kind]
        lines.append((raw, model))
        try:
            record = parse_record(raw, model)
        except _Rejected:
            continue
        record[RECORD_TYPE_KEY] = kind
        records.append(record)
    return records, lines


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-rev", default=None,
                        help="Git revision of the old shield. Default: the parent of the commit "
                             "that removed the hand-written PHONE_RE.")
    parser.add_argument("--samples", type=int, default=2000, help="Sample lines per kind.")
    parser.add_argument("--repeat", type=int, default=3, help="Throughput rounds (best kept).")
    parser.add_argument("--leniencies", action="store_true",
                        help="Also count false positives and misses per matcher leniency.")
    args = parser.parse_args(argv)

    old_module = load_old_module(args.old_rev or regex_shield_rev())
    assert hasattr(old_module, "PHONE_RE"), "the old revision must be the regex shield"
    old, new = old_module.PIIHasher(KEY), PIIHasher(KEY)
    corpora = {"samples": _samples(args.samples), "heldout": _heldout(),
               "merchant-numbers": _merchant_texts(2000)}
    print("false positives: non-PII numbers tokenised (old regex -> libphonenumber)")
    for name, corpus in corpora.items():
        total, lost_old, ex_old = false_positives(corpus, old.scrub_text)
        _, lost_new, ex_new = false_positives(corpus, new.scrub_text)
        print(f"  {name:17s} numbers={total:6d}  old={lost_old:5d}  new={lost_new:5d}"
              f"  old e.g. {list(ex_old)[:4]}  new e.g. {list(ex_new)[:4]}")
    forms = phone_forms(2000)
    print(f"recall: generated BD mobile forms found as their own number: "
          f"old={recall(forms, old)}/{len(forms)}  new={recall(forms, new)}/{len(forms)}")
    if args.leniencies:
        saved = pii_phones.LENIENCY
        for leniency in (pii_phones.Leniency.POSSIBLE, pii_phones.Leniency.VALID,
                         pii_phones.Leniency.STRICT_GROUPING):
            pii_phones.LENIENCY = leniency
            counts = [false_positives(c, new.scrub_text)[1] for c in corpora.values()]
            alone = sum(any(pii_phones._e164(m.number) == e164  # pylint: disable=protected-access
                            for m in pii_phones.PhoneNumberMatcher(
                                text.translate(ASCII_DIGITS), "BD", leniency=leniency))
                        for text, e164 in forms)
            print(f"  leniency {leniency}: false positives per corpus {counts}, "
                  f"recall {recall(forms, new)}/{len(forms)} (matcher alone {alone})")
        pii_phones.LENIENCY = saved

    corpus_lines = [(line, kind) for kind in ("social", "market")
                    for line in sample_lines(kind, args.samples)]
    corpus_lines += [(raw, "social" if '"post_id"' in raw else "market")
                     for raw, _ in corpora["heldout"]]
    records, lines = _validated(corpus_lines)
    rates = throughput(records, lines, old, new, args.repeat)
    print(f"throughput on {len(records)} valid records / {len(lines)} lines "
          f"(best of {args.repeat}; uptime: {os.popen('uptime').read().strip()})")
    for name, rate in rates.items():
        print(f"  {name:11s} {rate:10.0f} records/s")
    print(f"  shield new/old = {rates['shield_new'] / rates['shield_old']:.2f}   "
          f"shield new/validate = {rates['shield_new'] / rates['validate']:.2f}   "
          f"shield old/validate = {rates['shield_old'] / rates['validate']:.2f}   "
          f"shield new/context = {rates['shield_new'] / rates['context']:.2f}")


if __name__ == "__main__":
    main()
