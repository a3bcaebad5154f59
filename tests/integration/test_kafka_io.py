"""ReadFromKafka / WriteToKafka against the stack's real broker."""
import glob
import json
import os
import signal
import subprocess
import sys
import time
import uuid

import apache_beam as beam
import pytest
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from heldout_corpus import corpus
from sensory.io.kafka import ReadFromKafka, WriteToKafka
from sensory.io.kafka_admin import ensure_topics
from sensory.io.kafka_write import producer_config
from sensory.topics import TopicSpec

pytestmark = pytest.mark.integration


def _fresh_topic(bootstrap, partitions):
    topic = f"it-{uuid.uuid4().hex[:10]}"
    ensure_topics(bootstrap, {topic: TopicSpec(partitions, 1)})
    return topic


def _produce(bootstrap, topic, values, partitions=None):
    """Produces ``values``; with ``partitions``, round-robin over them (the default sticky
    partitioner may put a fast burst of keyless messages into only a few partitions)."""
    from confluent_kafka import Producer
    producer = Producer(producer_config(bootstrap))
    for index, value in enumerate(values):
        extra = {"partition": index % partitions} if partitions else {}
        producer.produce(topic, value=value if isinstance(value, bytes) else str(value).encode(),
                         **extra)
        producer.poll(0)
    assert producer.flush(60) == 0


def test_bounded_read_of_10000_messages_over_6_partitions(kafka_bootstrap):
    topic = _fresh_topic(kafka_bootstrap, 6)
    _produce(kafka_bootstrap, topic, range(10_000), partitions=6)
    p = TestPipeline()
    values = (p | ReadFromKafka(bootstrap_servers=kafka_bootstrap, topics=[topic],
                                consumer_group=f"g-{topic}", read_until_end=True)
              | beam.Map(lambda m: (m.partition, int(m.value))))
    assert_that(values | "Values" >> beam.Map(lambda pv: pv[1]),
                equal_to(list(range(10_000))), label="exactly_once")
    assert_that(values | "Partitions" >> beam.Map(lambda pv: pv[0]) | beam.Distinct(),
                equal_to(list(range(6))), label="all_partitions")
    result = p.run()
    result.wait_until_finish()
    counters = {c.key.metric.name: c.committed for c in result.metrics().query(
        MetricsFilter().with_namespace("sensory.kafka_read"))["counters"]}
    assert counters["received"] == 10_000
    # Offsets are committed from the bundle finalizer: the group now sits at the end.
    from confluent_kafka import Consumer, TopicPartition
    consumer = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": f"g-{topic}"})
    committed = consumer.committed([TopicPartition(topic, i) for i in range(6)], timeout=30)
    consumer.close()
    assert sum(tp.offset for tp in committed) == 10_000


def test_write_to_kafka_then_read_back(kafka_bootstrap):
    topic = _fresh_topic(kafka_bootstrap, 2)
    with TestPipeline() as p:
        _ = (p | beam.Create([{"n": i} for i in range(50)])
             | WriteToKafka(bootstrap_servers=kafka_bootstrap, topic=topic))
    with TestPipeline() as p:
        values = (p | ReadFromKafka(bootstrap_servers=kafka_bootstrap, topics=[topic],
                                    consumer_group=f"g-{topic}", read_until_end=True)
                  | beam.Map(lambda m: json.loads(m.value)["n"]))
        assert_that(values, equal_to(list(range(50))))


def test_heldout_corpus_through_kafka_matches_file_mode_checks(kafka_bootstrap, tmp_path):
    for kind in ("social", "market"):
        lines = corpus(kind)
        topic = _fresh_topic(kafka_bootstrap, 3)
        _produce(kafka_bootstrap, topic, [line.raw for line in lines])
        out = tmp_path / kind
        env = {**os.environ, "SENSORY_PII_KEY": "kafka-heldout-key-0123456789abcdef"}
        result = subprocess.run(
            [sys.executable, "-m", "sensory.cli.main", "-v", "run", kind,
             f"--bootstrap_servers={kafka_bootstrap}", f"--topics={topic}",
             f"--consumer_group=g-{topic}", "--read_until_end", f"--output_dir={out}",
             "--no_weather", "--no_embeddings"],
            capture_output=True, env=env, timeout=300, check=False)
        logs = (result.stdout + result.stderr).decode("utf-8", "replace")
        assert result.returncode == 0, logs[-2000:]
        records = [json.loads(l) for f in glob.glob(str(out / "records-*.jsonl")) for l in open(f)]
        dead = [json.loads(l) for f in glob.glob(str(out / "dead_letters-*.jsonl"))
                for l in open(f)]
        assert len(records) + len(dead) == len(lines)
        assert len(records) == sum(line.valid for line in lines)
        assert {d["metadata"]["processor"] for d in dead} == {"schema-validator"}
        assert {d["metadata"]["source_topic"] for d in dead} == {topic}
        keys = [r.get("post_id") or (r["order_id"], r["product_id"]) for r in records]
        assert len(keys) == len(set(keys))
        text = "\n".join(open(f).read() for f in glob.glob(str(out / "*.jsonl"))).lower() + \
            logs.lower()
        leaked = [p.value for line in lines for p in line.pii if p.value.lower() in text]
        assert not leaked, leaked[:5]


def _wait_for_values(path, expected, timeout_s=90):
    deadline = time.monotonic() + timeout_s
    seen = set()
    while time.monotonic() < deadline:
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                seen = {int(line) for line in handle if line.strip()}
            if expected <= seen:
                return seen
        time.sleep(0.5)
    raise AssertionError(f"missing after {timeout_s} s: {sorted(expected - seen)[:10]}")


def test_streaming_read_picks_up_new_messages_and_resumes_after_kill(kafka_bootstrap, tmp_path):
    topic, group = _fresh_topic(kafka_bootstrap, 3), f"g-{uuid.uuid4().hex[:8]}"
    out = str(tmp_path / "seen.txt")
    helper = os.path.join(os.path.dirname(__file__), "kafka_stream_reader.py")

    def start():
        return subprocess.Popen([sys.executable, helper, kafka_bootstrap, topic, group, out],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)

    _produce(kafka_bootstrap, topic, range(0, 100))
    reader = start()
    try:
        _wait_for_values(out, set(range(0, 100)))
        _produce(kafka_bootstrap, topic, range(100, 150))  # after the reader started
        _wait_for_values(out, set(range(0, 150)))
        time.sleep(3)  # let a checkpoint finalize and commit
    finally:
        os.killpg(reader.pid, signal.SIGKILL)
        reader.wait()
    _produce(kafka_bootstrap, topic, range(150, 200))  # while nobody reads
    reader = start()
    try:
        seen = _wait_for_values(out, set(range(0, 200)))
    finally:
        os.killpg(reader.pid, signal.SIGKILL)
        reader.wait()
    assert seen == set(range(200))  # no gap
    with open(out, encoding="utf-8") as handle:
        reread = len([l for l in handle if l.strip()]) - 200
    # Resuming from committed offsets: at most the last uncommitted bundle is read again.
    assert reread < 150, f"{reread} messages re-read: the restart did not resume"
