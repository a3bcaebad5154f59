"""Kafka topic administration: create the contract's topics, describe what exists."""
from sensory.topics import TopicSpec

_DAY_MS = 24 * 3600 * 1000


def ensure_topics(bootstrap_servers: str, topics: dict[str, TopicSpec],
                  timeout_s: float = 30.0) -> list[str]:
    """Creates missing topics with their partitions and retention; returns those created.

    Existing topics are left as they are (their partition count is reported by
    ``describe_topics``), so this is safe to run on every start.
    """
    from confluent_kafka.admin import AdminClient, NewTopic  # pylint: disable=import-outside-toplevel
    admin = AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 3})
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    missing = [NewTopic(name, num_partitions=spec.partitions, replication_factor=1,
                        config={"retention.ms": str(spec.retention_days * _DAY_MS)})
               for name, spec in topics.items() if name not in existing]
    if not missing:
        return []
    for name, future in admin.create_topics(missing, request_timeout=timeout_s).items():
        try:
            future.result()
        except Exception as err:  # pylint: disable=broad-except
            if "TOPIC_ALREADY_EXISTS" not in str(err):
                raise RuntimeError(f"creating topic {name} failed: {err}") from err
    return [topic.topic for topic in missing]


def describe_topics(bootstrap_servers: str, timeout_s: float = 10.0) -> dict[str, int]:
    """Partition count of every topic on the broker (internal topics excluded)."""
    from confluent_kafka.admin import AdminClient  # pylint: disable=import-outside-toplevel
    metadata = AdminClient({"bootstrap.servers": bootstrap_servers, "log_level": 3}).list_topics(
        timeout=timeout_s)
    return {name: len(topic.partitions) for name, topic in metadata.topics.items()
            if not name.startswith("__")}
