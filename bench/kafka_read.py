"""Throughput of the python ReadFromKafka against a raw consumer and beam-nuggets' KafkaConsume.

All read the same freshly produced topic (6 partitions, N messages), in one run, on the local
stack's broker (``sensory stack up kafka`` first): a raw confluent-kafka consumer in this
process, then each Beam reader in a process of its own (bench/kafka_read_driver.py, DirectRunner)
behind the same timing step, which notes the wall time of the first and of the N-th message it
sees. Ours ends by itself (``read_until_end``); KafkaConsume never ends, except through
kafka-python's ``consumer_timeout_ms`` (``--idle_s``), so its wall time includes that wait.
Prints start-up (pipeline built → first message), read rate (first → N-th message), rate to
the N-th message from the start, wall time, their ratios and ``uptime``.

beam-nuggets is never a dependency of the project: install it into a throwaway venv
(``python3 -m venv /tmp/nuggets-venv && /tmp/nuggets-venv/bin/pip install beam-nuggets lz4``;
lz4 because Sensory's producers compress with it) and pass that venv's python.

Usage: python bench/kafka_read.py [--messages 50000] [--bootstrap 127.0.0.1:9092]
           [--nuggets_python /tmp/nuggets-venv/bin/python] [--idle_s 10]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from sensory.io.kafka_admin import ensure_topics
from sensory.io.kafka_read import consumer_config
from sensory.io.kafka_write import producer_config
from sensory.topics import TopicSpec

PARTITIONS = 6
DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kafka_read_driver.py")


def produce(bootstrap: str, topic: str, count: int) -> None:
    producer = Producer(producer_config(bootstrap))
    payload = b'{"platform":"tiktok","post_id":"%d","content":"' + b"x" * 180 + b'"}'
    for i in range(count):
        while True:
            try:
                producer.produce(topic, value=payload % i)
                break
            except BufferError:
                producer.poll(0.1)
    assert producer.flush(120) == 0


def raw_read(bootstrap: str, topic: str, count: int) -> float:
    consumer = Consumer(consumer_config(bootstrap, f"bench-raw-{uuid.uuid4().hex[:6]}"))
    consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
    started, seen = time.perf_counter(), 0
    while seen < count:
        # Never ask for more than is left: consume() waits its full timeout for a short batch.
        batch = consumer.consume(min(500, count - seen), timeout=1.0)
        seen += sum(1 for m in batch if m.error() is None)
    elapsed = time.perf_counter() - started
    consumer.close()
    return elapsed


def driver_read(python: str, reader: str, bootstrap: str, topic: str, count: int,
                idle_s: float) -> dict:
    """Runs bench/kafka_read_driver.py in ``python``; returns its times (epoch seconds)."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{reader}-") as out:
        command = [python, DRIVER, "--reader", reader, "--mode", "stamp",
                   "--bootstrap", bootstrap, "--topic", topic, "--out", out,
                   "--group", f"bench-{reader}-{uuid.uuid4().hex[:6]}",
                   "--messages", str(count), "--idle_s", str(idle_s)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        stamps_path = os.path.join(out, "stamps.json")
        if done.returncode != 0 or not os.path.exists(stamps_path):
            raise RuntimeError(f"{reader} read failed (rc {done.returncode}):\n"
                               f"{done.stderr[-3000:]}")
        with open(stamps_path, encoding="utf-8") as stamps:
            times = json.load(stamps)
    times.update(json.loads(done.stdout.strip().splitlines()[-1]))
    return times


def _row(name: str, count: int, times: dict, extra: str = "") -> float:
    start_s = times["t_first"] - times["t0"]
    read_s = times["t_nth"] - times["t_first"]
    rate = (count - 1) / read_s
    print(f"{name:<44} {start_s:8.2f} {read_s:8.2f} {rate:10.0f} "
          f"{count / (times['t_nth'] - times['t0']):12.0f} {times['t_end'] - times['t0']:8.2f}"
          f"{extra}")
    return rate


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--nuggets_python", default=None,
                        help="python of a throwaway venv with beam-nuggets installed; without it "
                             "the beam-nuggets row is skipped (default: none)")
    parser.add_argument("--idle_s", type=float, default=10.0,
                        help="beam-nuggets' consumer_timeout_ms, seconds: how it is stopped "
                             "(default 10)")
    parser.add_argument("--keep_topic", action="store_true",
                        help="keep the bench topic on the broker (default: delete it)")
    args = parser.parse_args()
    print(f"uptime before: {_uptime()}")
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    ensure_topics(args.bootstrap, {topic: TopicSpec(PARTITIONS, 1)})
    try:
        produce(args.bootstrap, topic, args.messages)
        raw_s = raw_read(args.bootstrap, topic, args.messages)
        ours = driver_read(sys.executable, "ours", args.bootstrap, topic, args.messages,
                           args.idle_s)
        nuggets = driver_read(args.nuggets_python, "nuggets", args.bootstrap, topic,
                              args.messages, args.idle_s) if args.nuggets_python else None
    finally:
        if not args.keep_topic:
            _delete_topic(args.bootstrap, topic)
    raw_rate = args.messages / raw_s
    print(f"messages: {args.messages} over {PARTITIONS} partitions, topic {topic}")
    print(f"{'reader (DirectRunner, own process)':<44} {'start s':>8} {'read s':>8} "
          f"{'read msg/s':>10} {'to-Nth msg/s':>12} {'wall s':>8}")
    print(f"{'raw confluent-kafka consumer (in-process)':<44} {'':>8} {raw_s:8.2f} "
          f"{raw_rate:10.0f}")
    ours_rate = _row("ReadFromKafka python, read_until_end", args.messages, ours,
                     "  (wall: to the pipeline's end)")
    print(f"ratio ours / raw (read msg/s): {ours_rate / raw_rate:.3f}")
    if nuggets is not None:
        nuggets_rate = _row("beam-nuggets KafkaConsume", args.messages, nuggets,
                            f"  (wall includes the {args.idle_s:g} s consumer_timeout_ms)")
        print(f"ratio nuggets / raw (read msg/s): {nuggets_rate / raw_rate:.3f}")
        print(f"ratio ours / nuggets (read msg/s): {ours_rate / nuggets_rate:.3f}")
        print("ratio ours / nuggets (to-Nth msg/s, start-up included): "
              f"{(nuggets['t_nth'] - nuggets['t0']) / (ours['t_nth'] - ours['t0']):.3f}")
    print(f"uptime after: {_uptime()}")


def _delete_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    for future in admin.delete_topics([topic], operation_timeout=30).values():
        future.result()


if __name__ == "__main__":
    main()
