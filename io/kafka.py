"""Kafka in and out: ``ReadFromKafka`` (python or java implementation) and ``WriteToKafka``.

Both implementations produce ``SourceMessage`` elements. ``python`` (the default) is the
splittable DoFn of ``kafka_read``: it runs on every runner we use, bounded or streaming.
``java`` is Beam's cross-language KafkaIO read through a locally cached expansion-service jar
(``--kafka_expansion_jar``); it needs a Java runtime and only reads bounded on DirectRunner.
"""
import logging
import os
from typing import Optional, Sequence

import apache_beam as beam
from apache_beam import PCollection

from sensory.io.kafka_read import PartitionRead, _PlanPartitionsFn, _ReadPartitionFn
from sensory.io.kafka_write import WriteToKafka
from sensory.messages import SourceMessage
from sensory.settings import ConfigurationError

__all__ = ["ReadFromKafka", "WriteToKafka", "PartitionRead"]

_LOGGER = logging.getLogger(__name__)

PYTHON_IMPL = "python"
JAVA_IMPL = "java"
IMPLS = ("auto", PYTHON_IMPL, JAVA_IMPL)


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
        poll_timeout_s: How long one poll waits for messages.
        idle_lag_s: On an idle partition the watermark trails the clock by this much.
        expansion_jar: Beam's ``beam-sdks-java-io-expansion-service`` jar (java impl only).
    """

    def __init__(self, *, bootstrap_servers: str, topics: Sequence[str], consumer_group: str,
                 impl: str = "auto", read_until_end: bool = False,
                 max_num_records: Optional[int] = None,
                 max_read_time_s: Optional[float] = None, poll_timeout_s: float = 1.0,
                 idle_lag_s: float = 5.0, expansion_jar: Optional[str] = None):
        super().__init__()
        if not bootstrap_servers or not topics or not consumer_group:
            raise ValueError("bootstrap_servers, topics and consumer_group are required")
        if impl not in IMPLS:
            raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
        if max_num_records is not None and max_num_records < 1:
            raise ValueError("max_num_records must be >= 1")
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
        if self._impl == JAVA_IMPL:
            self._check_java()

    @property
    def bounded(self) -> bool:
        """Whether the read ends by itself."""
        return (self._read_until_end or self._max_num_records is not None
                or self._max_read_time_s is not None)

    def _check_java(self) -> None:
        if not self._expansion_jar or not os.path.exists(self._expansion_jar):
            raise ConfigurationError(
                "the java Kafka reader needs Beam's expansion-service jar "
                "(org.apache.beam:beam-sdks-java-io-expansion-service, same version as "
                f"apache-beam): pass --kafka_expansion_jar=PATH (got {self._expansion_jar!r})")
        if self._max_num_records is None and self._max_read_time_s is None:
            raise ConfigurationError("the java Kafka reader is bounded only with "
                                     "--max_num_records or --max_read_time on DirectRunner")

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
        from apache_beam.io import kafka as beam_kafka  # pylint: disable=import-outside-toplevel
        from apache_beam.transforms.external import JavaJarExpansionService  # pylint: disable=import-outside-toplevel
        read = beam_kafka.ReadFromKafka(
            consumer_config={"bootstrap.servers": self._bootstrap_servers,
                             "group.id": self._group, "auto.offset.reset": "earliest"},
            topics=list(self._topics), with_metadata=True, commit_offset_in_finalize=True,
            max_num_records=self._max_num_records,
            max_read_time=int(self._max_read_time_s) if self._max_read_time_s else None,
            expansion_service=JavaJarExpansionService(self._expansion_jar))
        return pbegin | "JavaKafkaIO" >> read | "ToSourceMessage" >> beam.Map(_from_java_record)
