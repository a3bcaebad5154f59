"""The embedding-heavy social pipeline on the local Flink cluster at parallelism 1 and 2, and on
DirectRunner, in one run, on the same input file; ratios of the times.

Needs ``sensory stack up --flink``. Validation, PII shield, context and embeddings run; weather
is off and the output goes to files, so the time is the pipeline's and not a sink's. Each Flink
run is timed two ways: the Flink job's own duration (REST API) and the client's submit-to-finish
wall time (which adds building and uploading the uber jar).

Usage: python bench/flink_parallelism.py [--lines 1000]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

from sensory.samples import sample_lines
from sensory.stack import config

KEY = "bench-flink-key-0123456789abcdef0123456789"


def _jobs() -> dict:
    url = f"http://{config.HOST}:{config.FLINK_REST_PORT}/jobs/overview"
    with urllib.request.urlopen(url, timeout=10) as reply:
        return {job["jid"]: job for job in json.load(reply)["jobs"]}


def _run(runner_config: str, source: str, out: str, key_file: str, *extra: str) -> dict:
    before = set(_jobs()) if "flink" in runner_config else set()
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "sensory.cli.main", "submit", "social", "--config", runner_config,
         f"--input_file={source}", f"--output_dir={out}", "--no_weather",
         f"--pii_key_file={key_file}", *extra],
        capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if result.returncode:
        raise SystemExit(f"{runner_config} {extra} failed:\n{result.stderr[-3000:]}")
    figures = {"wall_s": wall, "summary": result.stdout.strip().splitlines()[0]}
    if "flink" in runner_config:
        (job,) = [job for jid, job in _jobs().items() if jid not in before]
        figures["job_s"] = job["duration"] / 1000
        figures["state"] = job["state"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1000, help="Input lines. Default: 1000.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source, key_file = os.path.join(tmp, "in.jsonl"), os.path.join(tmp, "key")
        with open(source, "w", encoding="utf-8") as handle:
            handle.writelines(f"{line}\n" for line in sample_lines("social", args.lines, seed=11))
        with open(key_file, "w", encoding="utf-8") as handle:
            handle.write(KEY)
        print(f"load before: {os.getloadavg()}")
        runs = {
            "direct": _run("runner_configs/direct.yaml", source, f"{tmp}/d", key_file),
            "flink_p1": _run("runner_configs/flink_cluster.yaml", source, f"{tmp}/f1", key_file,
                             "--parallelism=1"),
            "flink_p2": _run("runner_configs/flink_cluster.yaml", source, f"{tmp}/f2", key_file,
                             "--parallelism=2"),
        }
        print(f"load after: {os.getloadavg()}")
    for name, figures in runs.items():
        print(f"{name:9s} {json.dumps(figures)}")
    p1, p2, direct = runs["flink_p1"], runs["flink_p2"], runs["direct"]
    print(f"flink job time p1/p2: {p1['job_s'] / p2['job_s']:.2f}x")
    print(f"flink wall time p1/p2: {p1['wall_s'] / p2['wall_s']:.2f}x")
    print(f"direct wall / flink p2 wall: {direct['wall_s'] / p2['wall_s']:.2f}x")
    print(f"direct wall / flink p2 job: {direct['wall_s'] / p2['job_s']:.2f}x")


if __name__ == "__main__":
    main()
