"""Producing test messages to the stack's Kafka, shared by the integration tests."""
from sensory.io.kafka_write import producer_config


def produce(bootstrap: str, topic: str, values) -> None:
    """Produces every value (bytes) to ``topic`` with our idempotent producer; fails if any is lost."""
    from confluent_kafka import Producer  # pylint: disable=import-outside-toplevel
    producer = Producer(producer_config(bootstrap))
    for value in values:
        producer.produce(topic, value=value)
        producer.poll(0)
    assert producer.flush(60) == 0
