"""What a consumer group's committed offsets say after a Kafka read is SIGKILLed mid-way.

One freshly produced topic (6 partitions, N messages), read by each reader in turn with a fresh
consumer group, in a process of its own (bench/kafka_read_driver.py, DirectRunner): Sensory's
``ReadFromKafka`` unbounded and with ``read_until_end``, and beam-nuggets' ``KafkaConsume`` (with
``--nuggets_python``, a throwaway venv's python: never a dependency of the project). Behind the
reader a throttle (``--rate`` msg/s, a pipeline slower than its reader, as every real one is)
and a sink that writes each message's id to a file, either flushed per message (``direct``) or
buffered and written in ``finish_bundle`` (``bundle``, the project's sink pattern). Once the
throttle has let ``--kill_at`` of the messages through, the process group gets SIGKILL.

Then, per partition, the group's committed offset is compared with the offsets the sink
delivered: ``lost`` = offsets below the committed one that were never delivered (a restart of
the group skips them), ``re-read`` = delivered offsets at or above it (a restart reads them
again). Prints one row per reader and sink, and ``uptime``.

Usage: python bench/kafka_kill.py [--messages 20000] [--rate 1000] [--kill_at 0.5]
           [--nuggets_python /tmp/nuggets-venv/bin/python] [--bootstrap 127.0.0.1:9092]
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid

from confluent_kafka import Consumer, TopicPartition

from kafka_read import DRIVER, PARTITIONS, _delete_topic, _uptime, produce
from sensory.io.kafka_admin import ensure_topics
from sensory.io.kafka_read import consumer_config
from sensory.topics import TopicSpec

_POST_ID = re.compile(rb'"post_id":"(\d+)"')
SINKS = ("direct", "bundle")


def offsets_by_id(bootstrap: str, topic: str, count: int) -> dict[str, tuple[int, int]]:
    """post_id → (partition, offset) of every message on the topic."""
    consumer = Consumer(consumer_config(bootstrap, f"kill-map-{uuid.uuid4().hex[:6]}"))
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    where = {}
    while len(where) < count:
        for message in consumer.consume(min(500, count - len(where)), timeout=1.0):
            if message.error() is None:
                post_id = _POST_ID.search(message.value()).group(1).decode()
                where[post_id] = (message.partition(), message.offset())
    consumer.close()
    return where


def committed_offsets(bootstrap: str, topic: str, group: str) -> dict[int, int]:
    """The group's committed offset per partition (0 where it committed nothing)."""
    consumer = Consumer(consumer_config(bootstrap, group))
    committed = consumer.committed([TopicPartition(topic, p) for p in range(PARTITIONS)],
                                   timeout=30)
    consumer.close()
    return {tp.partition: max(tp.offset, 0) for tp in committed}


def _read_int(path: str) -> int:
    try:
        with open(path, encoding="utf-8") as source:
            return int(source.read() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def kill_run(python: str, reader: str, sink: str, bounded: bool, args, topic: str) -> dict:
    """Runs one read, SIGKILLs it at ``kill_at`` of the messages processed; returns the counts."""
    group = f"kill-{reader}-{sink}-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory(prefix="kafka-kill-") as out:
        command = [python, DRIVER, "--reader", reader, "--mode", sink, "--bootstrap",
                   args.bootstrap, "--topic", topic, "--group", group, "--out", out,
                   "--rate", str(args.rate)] + (["--bounded"] if bounded else [])
        with open(os.path.join(out, "log"), "w", encoding="utf-8") as log:
            started = time.monotonic()
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
            target = int(args.kill_at * args.messages)
            while (process.poll() is None and time.monotonic() - started < args.timeout_s
                   and _read_int(os.path.join(out, "progress")) < target):
                time.sleep(0.2)
            ended_by_itself = process.poll() is not None
            if not ended_by_itself:
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        seconds = time.monotonic() - started
        processed = _read_int(os.path.join(out, "progress"))
        delivered_path = os.path.join(out, "delivered.txt")
        delivered = []
        if os.path.exists(delivered_path):
            with open(delivered_path, encoding="utf-8") as source:
                delivered = source.read().split()
        if ended_by_itself:
            with open(os.path.join(out, "log"), encoding="utf-8") as source:
                print(f"{reader}/{sink} ended by itself (rc {process.returncode}):\n"
                      f"{source.read()[-2000:]}", file=sys.stderr)
    return {"seconds": seconds, "processed": processed, "delivered": delivered,
            "committed": committed_offsets(args.bootstrap, topic, group),
            "killed": not ended_by_itself}


def compare(run: dict, where: dict[str, tuple[int, int]]) -> tuple[int, int, int]:
    """(committed total, lost, re-read) of one run."""
    committed = run["committed"]
    delivered = {where[post_id] for post_id in run["delivered"]}
    reread = sum(1 for partition, offset in delivered if offset >= committed[partition])
    delivered_below = len(delivered) - reread
    committed_total = sum(committed.values())
    return committed_total, committed_total - delivered_below, reread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=1000.0,
                        help="msg/s the pipeline behind the reader processes (default 1000)")
    parser.add_argument("--kill_at", type=float, default=0.5,
                        help="share of the messages processed when SIGKILL comes (default 0.5)")
    parser.add_argument("--timeout_s", type=float, default=120.0,
                        help="kill a run after this long whatever it processed (default 120)")
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--nuggets_python", default=None,
                        help="python of a throwaway venv with beam-nuggets (default: skip it)")
    args = parser.parse_args()
    readers = [("ours", "ours unbounded", False), ("ours", "ours read_until_end", True)]
    if args.nuggets_python:
        readers.append(("nuggets", "nuggets KafkaConsume", False))
    print(f"uptime before: {_uptime()}")
    topic = f"bench-kill-{uuid.uuid4().hex[:8]}"
    ensure_topics(args.bootstrap, {topic: TopicSpec(PARTITIONS, 1)})
    try:
        produce(args.bootstrap, topic, args.messages)
        where = offsets_by_id(args.bootstrap, topic, args.messages)
        print(f"messages: {args.messages} over {PARTITIONS} partitions, throttle "
              f"{args.rate:g} msg/s, SIGKILL at {args.kill_at:g} processed")
        print(f"{'reader':<22} {'sink':<7} {'killed at s':>11} {'processed':>9} "
              f"{'delivered':>9} {'committed':>9} {'lost':>6} {'re-read':>7}")
        for reader, name, bounded in readers:
            python = args.nuggets_python if reader == "nuggets" else sys.executable
            for sink in SINKS:
                run = kill_run(python, reader, sink, bounded, args, topic)
                committed, lost, reread = compare(run, where)
                print(f"{name:<22} {sink:<7} {run['seconds']:11.1f} {run['processed']:9d} "
                      f"{len(run['delivered']):9d} {committed:9d} {lost:6d} {reread:7d}"
                      + ("" if run["killed"] else "  (ended before the kill)"), flush=True)
    finally:
        _delete_topic(args.bootstrap, topic)
    print(f"uptime after: {_uptime()}")


if __name__ == "__main__":
    main()
