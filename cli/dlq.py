"""``sensory dlq replay``: send dead letters back once their cause is fixed.

Sink and embedding failures carry the processed (already PII-free) record: replay writes it to
the sinks again, which is safe because both sinks upsert on natural keys. Earlier-stage failures
carry the scrubbed input: replay produces it back onto its source topic with ``retry_count``
raised. Letters that fail again go back to their dead-letter topic.
"""
import json
import time
from collections import Counter
from typing import Iterable

import apache_beam as beam
import click
from apache_beam.metrics.metric import MetricsFilter

from sensory import endpoints

from sensory.deadletter import EMBEDDING_SERVICE, SNOWFLAKE_SINK, WEAVIATE_SINK
from sensory.io.kafka_write import producer_config
from sensory.io.snowflake import WriteToSnowflake
from sensory.io.weaviate import WriteToWeaviate
from sensory.topics import (DEAD_LETTERS_MARKET_TOPIC, DEAD_LETTERS_SOCIAL_TOPIC,
                            SCHEMA_ERRORS_TOPIC)

SINK_PROCESSORS = {SNOWFLAKE_SINK, WEAVIATE_SINK, EMBEDDING_SERVICE}
DLQ_TOPICS = (SCHEMA_ERRORS_TOPIC, DEAD_LETTERS_SOCIAL_TOPIC, DEAD_LETTERS_MARKET_TOPIC)


def read_dead_letters_from_topics(bootstrap_servers: str, topics: Iterable[str],
                                  group: str, timeout_s: float = 120.0) -> tuple[list, object]:
    """Everything on the topics past ``group``'s committed offsets, up to their current end.

    The consumer comes back uncommitted, so the caller commits only after a successful replay.
    """
    from confluent_kafka import Consumer, TopicPartition  # pylint: disable=import-outside-toplevel
    from sensory.io.kafka_read import consumer_config  # pylint: disable=import-outside-toplevel
    consumer = Consumer(consumer_config(bootstrap_servers, group))
    metadata = consumer.list_topics(timeout=30)
    partitions = [TopicPartition(t, p) for t in topics if t in metadata.topics
                  for p in metadata.topics[t].partitions]
    starts = {}
    for tp in consumer.committed(partitions, timeout=30):
        low, high = consumer.get_watermark_offsets(tp, timeout=30)
        starts[(tp.topic, tp.partition)] = (max(tp.offset, low) if tp.offset >= 0 else low, high)
    pending = {key for key, (start, end) in starts.items() if start < end}
    consumer.assign([TopicPartition(t, p, starts[(t, p)][0]) for t, p in pending])
    letters, deadline = [], time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        message = consumer.poll(1.0)
        if message is None or message.error() is not None:
            continue
        letters.append(json.loads(message.value()))
        key = (message.topic(), message.partition())
        if message.offset() + 1 >= starts[key][1]:
            pending.discard(key)
    if pending:
        raise click.ClickException(f"timed out reading dead letters from {sorted(pending)}")
    return letters, consumer


def replay_to_sinks(letters: list[dict]) -> dict[str, int]:
    """Rewrites the records of sink/embedding dead letters; returns what the sinks counted."""
    records = [letter["original_data"] for letter in letters]
    needs_embedding = [r for r in records if not r.get("embedding")]
    ready = [r for r in records if r.get("embedding")]
    # Imported here, not at the top: they import torch (about 3 s), which every other
    # `sensory` command would pay for at start-up.
    # pylint: disable=import-outside-toplevel
    from sensory.transforms.embeddings import EmbedRecords
    from sensory.transforms.embeddings_model import SentenceTransformerModelHandler
    pipeline = beam.Pipeline()
    embedded, _ = (pipeline | "Unembedded" >> beam.Create(needs_embedding)
                   | "Embed" >> EmbedRecords(model_handler=SentenceTransformerModelHandler()))
    merged = (embedded, pipeline | "Embedded" >> beam.Create(ready)) | beam.Flatten()
    _ = merged | "Snowflake" >> WriteToSnowflake(max_retries=1)
    _ = merged | "Weaviate" >> WriteToWeaviate(max_retries=1)
    result = pipeline.run()
    result.wait_until_finish()
    counters = result.metrics().query(MetricsFilter())["counters"]
    return {f"{c.key.metric.namespace.split('.')[-1]}.{c.key.metric.name}": c.committed
            for c in counters if c.key.metric.namespace.endswith("_sink")
            and c.key.metric.name in ("ok", "dead_lettered")}


@click.group(name="dlq")
def dlq() -> None:
    """Dead letters."""


@dlq.command()
@click.option("--bootstrap_servers", default=endpoints.kafka_bootstrap,
              show_default="127.0.0.1:$SENSORY_KAFKA_PORT")
@click.option("--file", "files", multiple=True, type=click.Path(exists=True, dir_okay=False),
              help="Dead letters as JSON lines (file mode output) instead of the topics.")
@click.option("--topic", "topics", multiple=True, help="Dead-letter topics to drain. "
              "Default: schema-validation-errors, dead-letters-social, dead-letters-market.")
@click.option("--group", default="sensory-dlq-replay", show_default=True)
@click.option("--dry-run", is_flag=True, help="Only count what would be replayed.")
def replay(bootstrap_servers: str, files: tuple, topics: tuple, group: str,
           dry_run: bool) -> None:
    """Replay dead letters: sink failures to the sinks, others to their source topics."""
    consumer = None
    if files:
        letters = [json.loads(line) for path in files
                   for line in open(path, encoding="utf-8") if line.strip()]
    else:
        letters, consumer = read_dead_letters_from_topics(bootstrap_servers,
                                                          topics or DLQ_TOPICS, group)
    by_processor = Counter(l["metadata"]["processor"] for l in letters)
    click.echo(f"{len(letters)} dead letters: {dict(by_processor)}")
    if dry_run or not letters:
        return
    sink_letters = [l for l in letters if l["metadata"]["processor"] in SINK_PROCESSORS]
    source_letters = [l for l in letters if l["metadata"]["processor"] not in SINK_PROCESSORS]
    if sink_letters:
        click.echo(f"sinks: {replay_to_sinks(sink_letters)}")
    if source_letters:
        from confluent_kafka import Producer  # pylint: disable=import-outside-toplevel
        producer = Producer(producer_config(bootstrap_servers))
        skipped = 0
        for letter in source_letters:
            topic = letter["metadata"].get("source_topic")
            if not topic:
                skipped += 1
                continue
            data = letter["original_data"]
            value = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
            retries = int(letter["metadata"].get("retry_count") or 0) + 1
            producer.produce(topic, value=value.encode("utf-8"),
                             headers=[("sensory-retry-count", str(retries).encode())])
        if producer.flush(60):
            raise click.ClickException("Kafka did not acknowledge every replayed message")
        click.echo(f"source topics: {len(source_letters) - skipped} produced, "
                   f"{skipped} without a source topic (file input) skipped")
    if consumer is not None:
        consumer.commit(asynchronous=False)
        consumer.close()
