"""Kafka consumer lag and topic message counts for Prometheus, from the Kafka admin API.

On every scrape the collector asks the broker for each topic-partition's end offset and each
consumer group's committed offsets, and reports:

- ``sensory_kafka_consumergroup_lag{group,topic,partition}``: end offset minus committed offset
  (only where the group has committed an offset for that partition);
- ``sensory_kafka_consumergroup_committed_offset{group,topic,partition}``;
- ``sensory_kafka_topic_messages_total{topic,partition}``: the end offset, i.e. messages ever
  written (with transaction markers), so ``rate()`` of a dead-letter topic is its DLQ rate;
- ``sensory_kafka_exporter_up``: 1 if the broker answered this scrape.

Run it as a process with ``python -m sensory.io.kafka_lag --port 9308`` (the stack does).
"""
import argparse
import logging
import threading
import time
from typing import Iterable, Optional

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from sensory.metrics_export import safe_label, serve

_LOGGER = logging.getLogger(__name__)


class ConsumerLagCollector:
    """A prometheus-client collector of consumer lag per group, topic and partition.

    Args:
        bootstrap_servers: Kafka bootstrap servers.
        timeout_s: Per-request admin timeout.
        groups: Consumer groups to report; None for every group the broker lists.
    """

    def __init__(self, bootstrap_servers: str, *, timeout_s: float = 10.0,
                 groups: Optional[Iterable[str]] = None):
        self._bootstrap_servers = bootstrap_servers
        self._timeout_s = timeout_s
        self._groups = list(groups) if groups is not None else None
        self._admin = None
        self._lock = threading.Lock()

    def _client(self):
        if self._admin is None:
            from confluent_kafka.admin import AdminClient  # pylint: disable=import-outside-toplevel
            self._admin = AdminClient({"bootstrap.servers": self._bootstrap_servers,
                                       "log_level": 3})
        return self._admin

    def end_offsets(self) -> dict[tuple[str, int], int]:
        """``{(topic, partition): end offset}`` of every non-internal topic."""
        from confluent_kafka import TopicPartition  # pylint: disable=import-outside-toplevel
        from confluent_kafka.admin import OffsetSpec  # pylint: disable=import-outside-toplevel
        admin = self._client()
        metadata = admin.list_topics(timeout=self._timeout_s)
        request = {TopicPartition(name, partition): OffsetSpec.latest()
                   for name, topic in metadata.topics.items()
                   if not name.startswith("__") and topic.error is None
                   for partition in topic.partitions}
        if not request:
            return {}
        futures = admin.list_offsets(request, request_timeout=self._timeout_s)
        return {(tp.topic, tp.partition): future.result().offset
                for tp, future in futures.items()}

    def committed_offsets(self) -> dict[tuple[str, str, int], int]:
        """``{(group, topic, partition): committed offset}`` of the groups that committed."""
        from confluent_kafka import ConsumerGroupTopicPartitions  # pylint: disable=import-outside-toplevel
        admin = self._client()
        groups = self._groups
        if groups is None:
            listed = admin.list_consumer_groups(request_timeout=self._timeout_s).result()
            groups = sorted(group.group_id for group in listed.valid)
        committed = {}
        for group in groups:
            futures = admin.list_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(group)], request_timeout=self._timeout_s)
            for future in futures.values():
                for tp in future.result().topic_partitions:
                    if tp.error is None and tp.offset is not None and tp.offset >= 0:
                        committed[(group, tp.topic, tp.partition)] = tp.offset
        return committed

    def lag(self) -> tuple[dict, dict, dict]:
        """``(lag, committed, end_offsets)`` keyed as above; lag never negative."""
        with self._lock:
            ends = self.end_offsets()
            committed = self.committed_offsets()
        lag = {key: max(ends[key[1:]] - offset, 0) for key, offset in committed.items()
               if key[1:] in ends}
        return lag, committed, ends

    def collect(self):
        """Yields the metric families (called on every scrape)."""
        up = GaugeMetricFamily("sensory_kafka_exporter_up",
                               "1 if the Kafka broker answered the last scrape.")
        try:
            lag, committed, ends = self.lag()
        except Exception as err:  # pylint: disable=broad-except
            _LOGGER.warning("Kafka at %s did not answer: %s", self._bootstrap_servers, err)
            self._admin = None  # reconnect on the next scrape
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        group_labels = ["group", "topic", "partition"]
        lag_family = GaugeMetricFamily("sensory_kafka_consumergroup_lag",
                                       "Messages a consumer group has not committed yet.",
                                       labels=group_labels)
        committed_family = GaugeMetricFamily("sensory_kafka_consumergroup_committed_offset",
                                             "A consumer group's committed offset.",
                                             labels=group_labels)
        for (group, topic, partition), offset in sorted(committed.items()):
            labels = [safe_label(group), safe_label(topic), str(partition)]
            committed_family.add_metric(labels, offset)
            if (group, topic, partition) in lag:
                lag_family.add_metric(labels, lag[(group, topic, partition)])
        messages = CounterMetricFamily("sensory_kafka_topic_messages",
                                       "End offset of a partition: messages ever written.",
                                       labels=["topic", "partition"])
        for (topic, partition), offset in sorted(ends.items()):
            messages.add_metric([safe_label(topic), str(partition)], offset)
        yield from (lag_family, committed_family, messages)


def main(argv: Optional[list[str]] = None) -> None:
    """Serves the collector until killed."""
    from sensory import endpoints  # pylint: disable=import-outside-toplevel
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--bootstrap_servers", default=endpoints.kafka_bootstrap(),
                        help="Default: 127.0.0.1:$SENSORY_KAFKA_PORT.")
    parser.add_argument("--host", default=endpoints.HOST, help="Default: 127.0.0.1.")
    parser.add_argument("--port", type=int, default=9308, help="Default: 9308.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    registry = CollectorRegistry()
    registry.register(ConsumerLagCollector(args.bootstrap_servers))
    if serve(registry, args.port, host=args.host) is None:
        raise SystemExit(f"port {args.port} is taken")
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
