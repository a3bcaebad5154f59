"""Compares two ``pytest --durations=0`` outputs test by test ("no test > 10 % slower").

Run the suite of both checkouts on the same machine state, one after the other, each with
``pytest --durations=0 -p no:cacheprovider -q > FILE``, then::

    python bench/test_durations.py BASELINE.txt THIS.txt [--threshold 0.10] [--min_s 1.0]

For every test in both files it adds setup + call + teardown, and lists the tests whose time grew
by more than ``--threshold`` (and by at least ``--min_s`` seconds: a 0.05 s test that takes
0.07 s is noise, not a regression), the biggest gains, and the totals.
"""
import argparse
import re
from collections import defaultdict

_LINE = re.compile(r"^\s*([0-9.]+)s\s+(setup|call|teardown)\s+(\S+)")


def durations(path: str) -> dict[str, float]:
    """Seconds per test id (setup + call + teardown) in one ``--durations=0`` output."""
    totals: dict[str, float] = defaultdict(float)
    with open(path, encoding="utf-8", errors="replace") as handle:
        for line in handle:
            match = _LINE.match(line)
            if match:
                totals[match.group(3)] += float(match.group(1))
    return dict(totals)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baseline")
    parser.add_argument("this")
    parser.add_argument("--threshold", type=float, default=0.10)
    parser.add_argument("--min_s", type=float, default=1.0)
    args = parser.parse_args()
    base, this = durations(args.baseline), durations(args.this)
    common = sorted(set(base) & set(this))
    print(f"{len(common)} tests in both; {len(set(this) - set(base))} only in this, "
          f"{len(set(base) - set(this))} only in the baseline")
    slower = [(this[t] - base[t], t) for t in common
              if this[t] > base[t] * (1 + args.threshold) and this[t] - base[t] >= args.min_s]
    print(f"slower by > {args.threshold:.0%} and >= {args.min_s} s: {len(slower)}")
    for delta, test in sorted(slower, reverse=True):
        print(f"  {base[test]:7.2f} s -> {this[test]:7.2f} s  (x{this[test] / base[test]:.2f})"
              f"  {test}")
    faster = sorted((base[t] - this[t], t) for t in common)[-8:]
    print("biggest gains:")
    for delta, test in reversed(faster):
        ratio = this[test] / max(base[test], 1e-9)
        print(f"  {base[test]:7.2f} s -> {this[test]:7.2f} s  (x{ratio:.2f})  {test}")
    total_base, total_this = sum(base[t] for t in common), sum(this[t] for t in common)
    print(f"total over common tests: {total_base:.1f} s -> {total_this:.1f} s "
          f"(x{total_this / total_base:.2f})")


if __name__ == "__main__":
    main()
