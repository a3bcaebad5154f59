"""Throughput of the python ReadFromKafka relative to a raw confluent-kafka consumer.

Both read the same freshly produced topic (6 partitions) to its end, in one run, on the local
stack's broker (``sensory stack up kafka`` first). Prints messages/s of each and their ratio.

Usage: python bench/kafka_read.py [--messages 50000] [--bootstrap 127.0.0.1:9092]
"""
import argparse
import time
import uuid

import apache_beam as beam
from confluent_kafka import Consumer, Producer, TopicPartition

from sensory.io.kafka import ReadFromKafka
from sensory.io.kafka_admin import ensure_topics
from sensory.io.kafka_read import consumer_config
from sensory.io.kafka_write import producer_config
from sensory.topics import TopicSpec

PARTITIONS = 6


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
        seen += sum(1 for m in consumer.consume(500, timeout=1.0) if m.error() is None)
    elapsed = time.perf_counter() - started
    consumer.close()
    return elapsed


def beam_read(bootstrap: str, topic: str) -> float:
    started = time.perf_counter()
    with beam.Pipeline() as pipeline:
        _ = (pipeline
             | ReadFromKafka(bootstrap_servers=bootstrap, topics=[topic],
                             consumer_group=f"bench-beam-{uuid.uuid4().hex[:6]}",
                             read_until_end=True)
             | beam.combiners.Count.Globally())
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    args = parser.parse_args()
    topic = f"bench-{uuid.uuid4().hex[:8]}"
    ensure_topics(args.bootstrap, {topic: TopicSpec(PARTITIONS, 1)})
    produce(args.bootstrap, topic, args.messages)
    raw_s = raw_read(args.bootstrap, topic, args.messages)
    beam_s = beam_read(args.bootstrap, topic)
    raw_rate, beam_rate = args.messages / raw_s, args.messages / beam_s
    print(f"messages: {args.messages} over {PARTITIONS} partitions")
    print(f"raw confluent-kafka consumer: {raw_rate:10.0f} msg/s ({raw_s:.2f} s)")
    print(f"ReadFromKafka (python, DirectRunner, pipeline start included): "
          f"{beam_rate:10.0f} msg/s ({beam_s:.2f} s)")
    print(f"ratio ReadFromKafka / raw: {beam_rate / raw_rate:.3f}")


if __name__ == "__main__":
    main()
