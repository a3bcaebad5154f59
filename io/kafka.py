"""Kafka in and out: ``ReadFromKafka`` (python or java implementation) and ``WriteToKafka``.

Both implementations produce ``SourceMessage`` elements. ``python`` (the default) is the
splittable DoFn of ``kafka_read``: it runs on every runner we use, bounded or streaming.
``java`` is Beam's cross-language KafkaIO read (``kafka_java``), expanded by the Java expansion
service ``sensory stack up --flink`` starts (``--kafka_expansion_service``); it is what streams on
Flink with checkpointing (the Python SDF's deferred remainders are never resumed there).
``auto`` picks java on FlinkRunner/PortableRunner and python elsewhere.
"""
import logging
import os
from typing import Optional, Sequence

import apache_beam as beam
from apache_beam import PCollection

from sensory.io.kafka_java import ReadFromKafka262, planned_record_count
from sensory.io.kafka_read import PartitionRead, _PlanPartitionsFn, _ReadPartitionFn
from sensory.io.kafka_write import WriteToKafka
from sensory.messages import SourceMessage
from sensory.settings import ConfigurationError, pick_for_runner

__all__ = ["ReadFromKafka", "WriteToKafka", "PartitionRead"]

_LOGGER = logging.getLogger(__name__)

PYTHON_IMPL = "python"
JAVA_IMPL = "java"
IMPLS = ("auto", PYTHON_IMPL, JAVA_IMPL)


def resolve_impl(impl: str, runner: Optional[str]) -> str:
    """``auto`` → ``java`` on Flink (FlinkRunner, PortableRunner), else ``python``.

    Args:
        impl: ``auto``, ``python`` or ``java``.
        runner: The pipeline's ``--runner`` (class name or None).

    Returns:
        ``python`` or ``java``.
    """
    return pick_for_runner(impl, runner, on_flink=JAVA_IMPL, elsewhere=PYTHON_IMPL, what="impl")


def _from_java_record(record) -> SourceMessage:
    return SourceMessage(value=record.value or b"", topic=record.topic,
                         partition=record.partition, offset=record.offset,
                         timestamp_ms=record.timestamp, key=record.key,
                         headers=tuple((h.key, h.value) for h in (record.headers or ())))


class ReadFromKafka(beam.PTransform[beam.pvalue.PBegin, PCollection[SourceMessage]]):
    """Reads topics into ``SourceMessage`` elements (value, topic, partition, offset, ...).

    Args:
        bootstrap_servers: Kafka bootstrap servers.
        topics: Topics to read.
        consumer_group: Group whose committed offsets the read starts from and advances.
        impl: ``python``, ``java`` or ``auto`` (= python).
        read_until_end: Bounded: stop at each partition's end offset seen at start.
        max_num_records: Bounded: stop once a worker read this many records.
        max_read_time_s: Bounded: stop reading after this many seconds.
        poll_timeout_s: How long a round over all idle partitions waits for new messages
            (each of N partitions waits ``poll_timeout_s / N``).
        idle_lag_s: On an idle partition the watermark trails the clock by this much.
        expansion_jar: An expansion-service jar Beam starts itself (java impl only).
        expansion_service: ``host:port`` of a running Java expansion service (java impl only;
            wins over ``expansion_jar``).
    """

    def __init__(self, *, bootstrap_servers: str, topics: Sequence[str], consumer_group: str,
                 impl: str = "auto", read_until_end: bool = False,
                 max_num_records: Optional[int] = None,
                 max_read_time_s: Optional[float] = None, poll_timeout_s: float = 1.0,
                 idle_lag_s: float = 5.0, expansion_jar: Optional[str] = None,
                 expansion_service: Optional[str] = None):
        super().__init__()
        if not bootstrap_servers or not topics or not consumer_group:
            raise ValueError("bootstrap_servers, topics and consumer_group are required")
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
        if max_num_records is not None and max_num_records < 1:
            raise ValueError("max_num_records must be >= 1")
        if poll_timeout_s <= 0:
            raise ValueError(f"poll_timeout_s must be > 0, got {poll_timeout_s}")
        if max_read_time_s is not None and max_read_time_s <= 0:
            raise ValueError("max_read_time_s must be > 0")
        self._bootstrap_servers = bootstrap_servers
        self._topics = tuple(topics)
        self._group = consumer_group
        self._impl = PYTHON_IMPL if impl == "auto" else impl
        self._read_until_end = read_until_end
        self._max_num_records = max_num_records
        self._max_read_time_s = max_read_time_s
        self._poll_timeout_s = poll_timeout_s
        self._idle_lag_s = idle_lag_s
        self._expansion_jar = expansion_jar
        self._expansion_service = expansion_service
        if self._impl == JAVA_IMPL:
            self._check_java()

    @property
    def bounded(self) -> bool:
        """Whether the read ends by itself."""
        return (self._read_until_end or self._max_num_records is not None
                or self._max_read_time_s is not None)

    def _check_java(self) -> None:
        if self._expansion_service:
            return
        if not self._expansion_jar or not os.path.exists(self._expansion_jar):
            raise ConfigurationError(
                "the java Kafka reader needs a Java expansion service: pass "
                "--kafka_expansion_service=HOST:PORT (`sensory stack up --flink` starts one on "
                "$SENSORY_EXPANSION_PORT) or --kafka_expansion_jar=PATH "
                f"(got {self._expansion_jar!r})")

    def expand(self, pbegin):
        if self._impl == JAVA_IMPL:
            return self._expand_java(pbegin)
        return (pbegin
                | "Topics" >> beam.Create([self._topics])
                | "PlanPartitions" >> beam.ParDo(_PlanPartitionsFn(
                    self._bootstrap_servers, self._group, bounded=self._read_until_end))
                | "Spread" >> beam.Reshuffle()
                | "ReadPartitions" >> beam.ParDo(_ReadPartitionFn(
                    self._bootstrap_servers, self._group, self._poll_timeout_s,
                    self._idle_lag_s, self._max_read_time_s, self._max_num_records)))

    def _expand_java(self, pbegin):
        from apache_beam.transforms.external import JavaJarExpansionService  # pylint: disable=import-outside-toplevel
        max_num_records = self._max_num_records
        if self._read_until_end:
            # KafkaIO cannot stop at end offsets: count what lies between the group's position
            # and the end offsets now, and read exactly that many records.
            planned = planned_record_count(self._bootstrap_servers, self._group, self._topics)
            _LOGGER.info("java kafka read until end: %d records", planned)
            if planned == 0:
                return pbegin | "NothingToRead" >> beam.Create([])
            max_num_records = min(planned, max_num_records or planned)
        expansion = self._expansion_service or JavaJarExpansionService(
            self._expansion_jar, append_args=["--experiments=use_deprecated_read"])
        read = ReadFromKafka262(
            consumer_config={"bootstrap.servers": self._bootstrap_servers,
                             "group.id": self._group, "auto.offset.reset": "earliest",
                             "enable.auto.commit": "false",
                             "isolation.level": "read_committed"},
            topics=self._topics, expansion_service=expansion,
            max_num_records=max_num_records,
            max_read_time_s=int(self._max_read_time_s) if self._max_read_time_s else None)
        return (pbegin | "JavaKafkaIO" >> read
                | "ToSourceMessage" >> beam.Map(_from_java_record).with_output_types(
                    SourceMessage))
