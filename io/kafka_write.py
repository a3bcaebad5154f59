"""``WriteToKafka``: JSON values to a topic with an idempotent, acks=all producer.

The producer opens in ``setup()`` and is flushed at the end of every bundle; a message that
Kafka did not acknowledge fails the bundle, so the runner retries it instead of losing it.
"""
import json
import logging
from typing import Any, Callable, Optional

import apache_beam as beam
from apache_beam import PCollection
from apache_beam.metrics import Metrics

_LOGGER = logging.getLogger(__name__)

NAMESPACE = "sensory.kafka_write"


class KafkaDeliveryError(RuntimeError):
    """Kafka did not acknowledge every message of a bundle."""


def producer_config(bootstrap_servers: str, **overrides: Any) -> dict[str, Any]:
    """The producer settings every Sensory writer uses (idempotent, acks=all)."""
    return {"bootstrap.servers": bootstrap_servers, "enable.idempotence": True, "acks": "all",
            "linger.ms": 20, "compression.type": "lz4", "log_level": 3, **overrides}


class _ProduceFn(beam.DoFn):
    def __init__(self, bootstrap_servers: str, topic_of: Callable[[Any], str],
                 key_of: Optional[Callable[[Any], Optional[str]]], flush_timeout_s: float):
        super().__init__()
        self._bootstrap_servers = bootstrap_servers
        self._topic_of = topic_of
        self._key_of = key_of
        self._flush_timeout_s = flush_timeout_s
        self._producer = None
        self._errors: list[str] = []

    def setup(self):
        from confluent_kafka import Producer  # pylint: disable=import-outside-toplevel
        self._producer = Producer(producer_config(self._bootstrap_servers))
        self._sent = Metrics.counter(NAMESPACE, "sent")
        self._acked = Metrics.counter(NAMESPACE, "acked")
        self._failed = Metrics.counter(NAMESPACE, "failed")

    def start_bundle(self):
        self._errors = []

    def _delivered(self, error, message):
        if error is not None:
            self._failed.inc()
            self._errors.append(f"{message.topic()}: {error}")
        else:
            self._acked.inc()

    def process(self, element: Any):
        value = json.dumps(element, ensure_ascii=False, sort_keys=True).encode("utf-8")
        key = self._key_of(element) if self._key_of else None
        while True:
            try:
                self._producer.produce(self._topic_of(element), value=value,
                                       key=key.encode() if key else None,
                                       on_delivery=self._delivered)
                break
            except BufferError:
                # Local queue full: let deliveries drain, then try again.
                self._producer.poll(0.5)
        self._sent.inc()
        self._producer.poll(0)

    def finish_bundle(self):
        remaining = self._producer.flush(self._flush_timeout_s)
        if remaining or self._errors:
            raise KafkaDeliveryError(
                f"{remaining} messages unacknowledged, {len(self._errors)} failed "
                f"(first: {self._errors[:1]}); the bundle will be retried")

    def teardown(self):
        if self._producer is not None:
            self._producer.flush(self._flush_timeout_s)
            self._producer = None


class WriteToKafka(beam.PTransform[PCollection[Any], PCollection[Any]]):
    """Produces each element as JSON to ``topic`` (or to ``topic_of(element)``).

    Args:
        bootstrap_servers: Kafka bootstrap servers.
        topic: Fixed target topic.
        topic_of: Picks the topic per element (instead of ``topic``).
        key_of: Message key per element, or None.
        flush_timeout_s: How long a bundle waits for acknowledgements.
    """

    def __init__(self, *, bootstrap_servers: str, topic: Optional[str] = None,
                 topic_of: Optional[Callable[[Any], str]] = None,
                 key_of: Optional[Callable[[Any], Optional[str]]] = None,
                 flush_timeout_s: float = 60.0):
        super().__init__()
        if not bootstrap_servers:
            raise ValueError("bootstrap_servers is required")
        if (topic is None) == (topic_of is None):
            raise ValueError("give exactly one of topic and topic_of")
        self._bootstrap_servers = bootstrap_servers
        self._topic_of = topic_of or (lambda _element, name=topic: name)
        self._key_of = key_of
        self._flush_timeout_s = flush_timeout_s

    def expand(self, elements):
        return elements | "Produce" >> beam.ParDo(_ProduceFn(
            self._bootstrap_servers, self._topic_of, self._key_of, self._flush_timeout_s))
