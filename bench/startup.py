"""Start-up: what a bounded run pays before (and around) its first record, before and after.

In one run, on the local stack (``sensory stack up`` first), each step interleaved between this
checkout and each ``--baseline PYTHON`` (another checkout's interpreter, e.g. a frozen ``main``
with its own thin venv; repeatable) so the ratios come from the same state of the (shared,
noisy) machine:

1. ``python -c "import sensory.pipelines.social"``, ``--imports`` times each.
2. The bounded social pipeline on a fresh topic of ``--messages`` sample posts (6 partitions,
   like ``bench/e2e.py``): ``python -m sensory.pipelines.social --topics=T --read_until_end``
   with ``--no_embeddings --sinks=snowflake`` (``plain``) and ``--sinks=snowflake,weaviate``
   (``embeddings``), ``--runs`` times each, timed from launch to exit. With 10 messages the
   records cost next to nothing, so this wall time is the fixed cost of a run.
3. ``--breakdown``: one run of this checkout per mode in a child process
   (``bench/startup_phases.py``) that times the phases itself (imports, option checks +
   preflight, pipeline construction, the run) and reads the run's own latency metrics (Kafka
   consume, sink flushes, RunInference's model load).

Every interpreter runs with ``cwd=/tmp``, so each imports its own checkout. Medians and the
ratio this/baseline are printed with ``uptime``. Rows and objects written are deleted at the
end, and the topics too.

Usage: python bench/startup.py [--baseline PYTHON ...] [--imports 5] [--runs 3]
       [--modes plain,embeddings] [--messages 10] [--breakdown]
"""
import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# pylint: disable=wrong-import-position
from e2e import (MODES, PARTITIONS, cleanup, make_lines, pipeline_env,  # noqa: E402
                 pipeline_texts, produce, sink_ok, uptime)

from sensory import endpoints  # noqa: E402
from sensory.io.kafka_admin import ensure_topics  # noqa: E402
from sensory.topics import TopicSpec  # noqa: E402

IMPORT = "import sensory.pipelines.social"


def _timed(argv: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    # pipeline_env: the runs start in /tmp, so they are told where the stack's secrets are.
    done = subprocess.run(argv, capture_output=True, text=True, cwd="/tmp", env=pipeline_env(),
                          check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise RuntimeError(f"failed ({done.returncode}): {' '.join(argv)}")
    return wall, done


def run_args(topic: str, mode: str) -> list[str]:
    """The pipeline's arguments for a bounded run of ``topic`` in ``mode``."""
    return [f"--topics={topic}", f"--consumer_group=startup-{uuid.uuid4().hex[:8]}",
            "--read_until_end", *MODES[mode]]


def fresh_topic(bootstrap: str, salt: str, messages: int) -> tuple[str, int]:
    """A new topic holding ``messages`` sample posts; returns it and how many are valid."""
    lines = make_lines(messages, 0.0, salt)
    topic = f"bench-startup-{salt}"
    ensure_topics(bootstrap, {topic: TopicSpec(PARTITIONS, 1)})
    produce(bootstrap, topic, lines)
    return topic, len(pipeline_texts(lines))


def _report(label: str, walls: dict[str, list[float]]) -> None:
    medians = {name: statistics.median(values) for name, values in walls.items()}
    line = ", ".join(f"{name} median {median:6.2f} s ({' '.join(f'{v:.2f}' for v in walls[name])})"
                     for name, median in medians.items())
    ratios = [f"this/{name} {medians['this'] / median:.3f}"
              for name, median in medians.items() if name != "this"]
    if ratios:
        line += "; " + ", ".join(ratios)
    print(f"{label:22s} {line}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", action="append", default=[],
                        help="python of another checkout (repeatable: baseline, baseline2, ...)")
    parser.add_argument("--imports", type=int, default=5, help="import timings per variant")
    parser.add_argument("--runs", type=int, default=3, help="bounded runs per variant and mode")
    parser.add_argument("--modes", default="plain,embeddings")
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--breakdown", action="store_true",
                        help="also time the phases of one run of this checkout per mode")
    args = parser.parse_args()
    os.environ.setdefault("SENSORY_PII_KEY", secrets.token_hex(32))
    variants = [("this", sys.executable)] + [
        (f"baseline{index + 1 if index else ''}", python)
        for index, python in enumerate(args.baseline)]
    for name, python in variants:
        print(f"{name}: {python}")
    bootstrap = endpoints.kafka_bootstrap()
    run_salt = "su" + uuid.uuid4().hex[:6]
    topics = []
    print(f"load before: {uptime()}", flush=True)
    try:
        if args.imports:
            walls: dict[str, list[float]] = {}
            for _ in range(args.imports):
                for name, python in variants:
                    walls.setdefault(name, []).append(_timed([python, "-c", IMPORT])[0])
            _report("import", walls)
        for mode in args.modes.split(",") if args.runs else []:
            walls = {}
            for repeat in range(args.runs):
                for name, python in variants:
                    topic, valid = fresh_topic(
                        bootstrap, f"{run_salt}{mode[0]}{repeat}{name[0]}{name[-1]}",
                        args.messages)
                    topics.append(topic)
                    wall, done = _timed([python, "-m", "sensory.pipelines.social",
                                         *run_args(topic, mode)])
                    written = sink_ok(done.stdout + done.stderr)
                    if written != valid:
                        raise RuntimeError(f"{name} {mode}: snowflake ok={written}, "
                                           f"expected {valid}")
                    walls.setdefault(name, []).append(wall)
            _report(f"run {mode} n={args.messages}", walls)
            print(f"  load: {uptime()}", flush=True)
        if args.breakdown:
            for mode in args.modes.split(","):
                topic, _ = fresh_topic(bootstrap, f"{run_salt}{mode[0]}b", args.messages)
                topics.append(topic)
                wall, done = _timed([sys.executable, os.path.join(
                    os.path.dirname(os.path.abspath(__file__)), "startup_phases.py"), topic, mode])
                report = json.loads(done.stdout.strip().splitlines()[-1])
                print(f"breakdown {mode} (this checkout; process wall {wall:.2f} s):")
                for name, seconds in report["phases_s"].items():
                    print(f"  {name:34s} {seconds:6.2f} s")
                print(f"  {'interpreter start + exit':34s} "
                      f"{wall - report['phases_s']['total (to here)']:6.2f} s")
                for name, millis in sorted(report["in_run_ms"].items()):
                    print(f"    inside the run: {name:50s} {millis / 1000:6.2f} s")
        print(f"load after: {uptime()}")
    finally:
        cleanup(run_salt)
        _delete_topics(bootstrap, topics)


def _delete_topics(bootstrap: str, topics: list[str]) -> None:
    if not topics:
        return
    from confluent_kafka.admin import AdminClient  # pylint: disable=import-outside-toplevel
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    for topic, future in admin.delete_topics(topics, operation_timeout=30).items():
        try:
            future.result()
        except Exception as err:  # pylint: disable=broad-except
            print(f"cleanup topic {topic}: {err}")


if __name__ == "__main__":
    main()
