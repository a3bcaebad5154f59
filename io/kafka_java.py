"""The ``java`` Kafka reader: Beam's cross-language KafkaIO read, spoken in Beam 2.62's dialect.

The Java side is Sensory's runtime jar (``flink/runtime``, Beam Java 2.62.0: the newest Beam whose
Flink runner Maven Central serves) running as an expansion service (``sensory stack up --flink``
starts it on ``$SENSORY_EXPANSION_PORT``). Python 2.77's own ``apache_beam.io.kafka.ReadFromKafka``
sends a configuration row with three fields 2.62's ``KafkaIO.Read.External.Configuration`` has no
setter for (``dynamic_read_poll_interval_seconds``, ``consumer_factory_fn_class``,
``consumer_factory_fn_params``), and expansion fails. ``ReadFromKafka262`` sends exactly the 2.62
schema under the same URN; the expanded transform and its output rows are the same.

Compatibility risk: the payload is a schema'd row matched by field name on the Java side. A
future Java version that *requires* a new field would fail at expansion (loudly, at submit
time, never silently at run time); ``tests/test_kafka_java.py`` pins the field set.
"""
import typing

import numpy as np
from apache_beam.transforms.external import ExternalTransform, NamedTupleBasedPayloadBuilder

URN_WITH_METADATA = "beam:transform:org.apache.beam:kafka_read_with_metadata:v1"
URN_WITHOUT_METADATA = "beam:transform:org.apache.beam:kafka_read_without_metadata:v1"
BYTE_ARRAY_DESERIALIZER = "org.apache.kafka.common.serialization.ByteArrayDeserializer"
TIMESTAMP_POLICIES = ("ProcessingTime", "CreateTime", "LogAppendTime")

# Field for field the configuration of org.apache.beam.sdk.io.kafka.KafkaIO.Read.External in
# Beam Java 2.62.0 (what Python 2.62's ReadFromKafkaSchema sent).
ReadFromKafka262Schema = typing.NamedTuple(
    "ReadFromKafka262Schema",
    [("consumer_config", typing.Mapping[str, str]), ("topics", typing.List[str]),
     ("key_deserializer", str), ("value_deserializer", str),
     ("start_read_time", typing.Optional[int]), ("max_num_records", typing.Optional[int]),
     ("max_read_time", typing.Optional[int]), ("commit_offset_in_finalize", bool),
     ("timestamp_policy", str), ("consumer_polling_timeout", typing.Optional[int]),
     ("redistribute", typing.Optional[bool]),
     ("redistribute_num_keys", typing.Optional[np.int32]),
     ("allow_duplicates", typing.Optional[bool])])


class ReadFromKafka262(ExternalTransform):
    """KafkaIO's read with metadata (rows of topic, partition, offset, timestamp, key, value,
    headers), expanded by a Beam Java 2.62 expansion service.

    Args:
        consumer_config: Kafka consumer properties (bootstrap.servers, group.id, ...).
        topics: Topics to read.
        expansion_service: ``host:port`` of the expansion service.
        max_num_records: Bounded: stop after this many records.
        max_read_time_s: Bounded: stop after this many seconds.
        commit_offset_in_finalize: Commit offsets to the group when the runner finalizes a
            checkpoint (Flink: when a checkpoint completes).
        timestamp_policy: One of ``TIMESTAMP_POLICIES``.
        with_metadata: Rows with Kafka metadata (True) or values only.
    """

    def __init__(self, *, consumer_config: typing.Mapping[str, str],
                 topics: typing.Sequence[str], expansion_service: str,
                 max_num_records: typing.Optional[int] = None,
                 max_read_time_s: typing.Optional[int] = None,
                 commit_offset_in_finalize: bool = True,
                 timestamp_policy: str = "CreateTime", with_metadata: bool = True):
        if timestamp_policy not in TIMESTAMP_POLICIES:
            raise ValueError(f"timestamp_policy must be one of {TIMESTAMP_POLICIES}")
        if not topics:
            raise ValueError("topics must not be empty")
        super().__init__(
            URN_WITH_METADATA if with_metadata else URN_WITHOUT_METADATA,
            NamedTupleBasedPayloadBuilder(ReadFromKafka262Schema(
                consumer_config=dict(consumer_config), topics=list(topics),
                key_deserializer=BYTE_ARRAY_DESERIALIZER,
                value_deserializer=BYTE_ARRAY_DESERIALIZER, start_read_time=None,
                max_num_records=max_num_records, max_read_time=max_read_time_s,
                commit_offset_in_finalize=commit_offset_in_finalize,
                timestamp_policy=timestamp_policy, consumer_polling_timeout=2,
                redistribute=False, redistribute_num_keys=np.int32(0),
                allow_duplicates=False)),
            expansion_service)


def planned_record_count(bootstrap_servers: str, group: str, topics: typing.Sequence[str]) -> int:
    """Records between the group's committed offsets (else the earliest) and the end offsets.

    Exact for topics written without transactions (Sensory's producers are idempotent, not
    transactional): every offset in the range then holds one record.

    Raises:
        ValueError: A topic does not exist.
    """
    from confluent_kafka import OFFSET_INVALID, Consumer, TopicPartition  # pylint: disable=import-outside-toplevel
    consumer = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": group,
                         "enable.auto.commit": False, "log_level": 3})
    try:
        metadata = consumer.list_topics(timeout=30)
        partitions = []
        for topic in topics:
            if topic not in metadata.topics or metadata.topics[topic].error is not None:
                raise ValueError(f"Kafka topic {topic!r} does not exist on {bootstrap_servers}")
            partitions += [TopicPartition(topic, p) for p in metadata.topics[topic].partitions]
        total = 0
        for tp in consumer.committed(partitions, timeout=30):
            low, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition),
                                                       timeout=30)
            start = tp.offset if tp.offset not in (OFFSET_INVALID, None) and tp.offset >= 0 \
                else low
            total += max(0, high - max(start, low))
        return total
    finally:
        consumer.close()
