"""The Python ``ReadFromKafka``: a splittable DoFn over topic-partitions on confluent-kafka.

Each partition is one element whose restriction is an offset range: from the consumer group's
committed offset (or the earliest offset) to either the end offset seen when the read starts
(bounded) or infinity (streaming). The watermark follows record timestamps and, on an idle
partition, wall-clock time minus ``idle_lag_s``, so downstream windows still close. Offsets are
committed to the group only from a bundle finalizer, i.e. after the runner durably committed
the bundle's output: a crash re-reads instead of losing messages.
"""
import logging
import sys
import time
from typing import Any, Iterable, NamedTuple, Optional

import apache_beam as beam
from apache_beam.io.restriction_trackers import OffsetRange, OffsetRestrictionTracker
from apache_beam.io.watermark_estimators import ManualWatermarkEstimator
from apache_beam.metrics import Metrics
from apache_beam.transforms.core import RestrictionProvider, WatermarkEstimatorProvider
from apache_beam.utils.timestamp import Duration, Timestamp

from sensory.messages import SourceMessage

_LOGGER = logging.getLogger(__name__)

NAMESPACE = "sensory.kafka_read"
UNBOUNDED_END = sys.maxsize
_BATCH = 500  # messages per consume() call


class PartitionRead(NamedTuple):
    """What one SDF element reads: a partition and its starting offset range."""

    topic: str
    partition: int
    start: int
    end: int  # exclusive; UNBOUNDED_END for streaming


def consumer_config(bootstrap_servers: str, group: str, **overrides: Any) -> dict[str, Any]:
    """Consumer settings: no auto-commit (we commit on finalization), read committed data."""
    return {"bootstrap.servers": bootstrap_servers, "group.id": group,
            "enable.auto.commit": False, "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest", "isolation.level": "read_committed",
            "enable.partition.eof": False, "log_level": 3, **overrides}


# Group-coordinator errors a fresh or rebalancing cluster returns for a while; worth waiting out.
_RETRIABLE = ("NOT_COORDINATOR", "COORDINATOR_LOAD_IN_PROGRESS", "COORDINATOR_NOT_AVAILABLE",
              "_TIMED_OUT", "_TRANSPORT")


def _retrying(call, attempts: int = 8, first_delay_s: float = 0.5):
    """Calls ``call``, retrying Kafka errors that go away by themselves, with backoff."""
    for attempt in range(attempts):
        try:
            return call()
        except Exception as err:  # pylint: disable=broad-except
            if attempt == attempts - 1 or not any(code in str(err) for code in _RETRIABLE):
                raise
            _LOGGER.info("Kafka not ready (%s); retrying", type(err).__name__)
            time.sleep(first_delay_s * 2 ** attempt)
    raise AssertionError("unreachable")


class _PlanPartitionsFn(beam.DoFn):
    """Lists the topics' partitions and where each read starts and (if bounded) ends."""

    def __init__(self, bootstrap_servers: str, group: str, bounded: bool):
        super().__init__()
        self._bootstrap_servers = bootstrap_servers
        self._group = group
        self._bounded = bounded
        self._consumer = None

    def setup(self):
        from confluent_kafka import Consumer  # pylint: disable=import-outside-toplevel
        self._consumer = Consumer(consumer_config(self._bootstrap_servers, self._group))

    def process(self, topics: tuple) -> Iterable[PartitionRead]:
        from confluent_kafka import OFFSET_INVALID, TopicPartition  # pylint: disable=import-outside-toplevel
        metadata = self._consumer.list_topics(timeout=30)
        partitions = []
        for topic in topics:
            if topic not in metadata.topics or metadata.topics[topic].error is not None:
                raise ValueError(f"Kafka topic {topic!r} does not exist on "
                                 f"{self._bootstrap_servers}")
            partitions += [TopicPartition(topic, p) for p in metadata.topics[topic].partitions]
        committed = _retrying(lambda: self._consumer.committed(partitions, timeout=30))
        for tp in committed:
            low, high = self._consumer.get_watermark_offsets(
                TopicPartition(tp.topic, tp.partition), timeout=30)
            start = tp.offset if tp.offset not in (OFFSET_INVALID, None) and tp.offset >= 0 \
                else low
            start = max(start, low)  # committed data may have expired since
            end = high if self._bounded else UNBOUNDED_END
            _LOGGER.info("kafka read plan %s[%d]: offsets %d..%s", tp.topic, tp.partition,
                         start, "end" if end == UNBOUNDED_END else end)
            yield PartitionRead(tp.topic, tp.partition, start, max(start, end))

    def teardown(self):
        if self._consumer is not None:
            self._consumer.close()


class _OffsetRangeProvider(RestrictionProvider):
    def initial_restriction(self, element: PartitionRead) -> OffsetRange:
        return OffsetRange(element.start, element.end)

    def create_tracker(self, restriction: OffsetRange) -> OffsetRestrictionTracker:
        return OffsetRestrictionTracker(restriction)

    def restriction_size(self, element: PartitionRead, restriction: OffsetRange) -> int:
        return restriction.size()

    def truncate(self, element, restriction):
        # On drain, a streaming read simply stops; a bounded read finishes its range.
        return None if restriction.stop == UNBOUNDED_END else restriction


class _WatermarkProvider(WatermarkEstimatorProvider):
    def initial_estimator_state(self, element, restriction):
        return None

    def create_watermark_estimator(self, state):
        return ManualWatermarkEstimator(state)


class _ReadPartitionFn(beam.DoFn):
    """Reads one partition's offset range; yields timestamped ``SourceMessage``s."""

    def __init__(self, bootstrap_servers: str, group: str, poll_timeout_s: float,
                 idle_lag_s: float, max_read_time_s: Optional[float],
                 max_num_records: Optional[int]):
        super().__init__()
        self._bootstrap_servers = bootstrap_servers
        self._group = group
        self._poll_timeout_s = poll_timeout_s
        self._idle_lag_s = idle_lag_s
        self._max_read_time_s = max_read_time_s
        self._max_num_records = max_num_records
        self._consumers = {}
        self._committer = None
        self._deadline = None
        self._read_total = 0

    def setup(self):
        from confluent_kafka import Consumer  # pylint: disable=import-outside-toplevel
        self._consumers = {}
        self._committer = Consumer(consumer_config(self._bootstrap_servers, self._group))
        self._received = Metrics.counter(NAMESPACE, "received")
        self._latency = Metrics.distribution(NAMESPACE, "consume_latency_ms")
        if self._max_read_time_s is not None:
            self._deadline = time.monotonic() + self._max_read_time_s

    def _limits_reached(self) -> bool:
        if self._deadline is not None and time.monotonic() >= self._deadline:
            return True
        return self._max_num_records is not None and self._read_total >= self._max_num_records

    def _consumer_at(self, topic: str, partition: int, position: int):
        """This partition's consumer, positioned at ``position``.

        One consumer per partition, kept across bundles: a streaming read comes back to the same
        partition every bundle, and re-assigning one shared consumer each time threw away what
        librdkafka had fetched ahead and paid a fetch round trip per partition per bundle.
        """
        from confluent_kafka import Consumer, TopicPartition  # pylint: disable=import-outside-toplevel
        entry = self._consumers.get((topic, partition))
        if entry is None:
            entry = _PartitionConsumer(
                Consumer(consumer_config(self._bootstrap_servers, self._group)), None)
            self._consumers[(topic, partition)] = entry
        if entry.next_offset != position:  # new, or the runner split or re-read the range
            entry.consumer.assign([TopicPartition(topic, partition, position)])
            # Positioned now: an idle partition must not be re-assigned (and its fetch restarted)
            # every round, or a short wait might never see its first message.
            entry.next_offset = position
        return entry

    def _commit(self, topic: str, partition: int, next_offset: int) -> None:
        from confluent_kafka import TopicPartition  # pylint: disable=import-outside-toplevel
        _retrying(lambda: self._committer.commit(
            offsets=[TopicPartition(topic, partition, next_offset)], asynchronous=False))

    # The finalizer comes before the restriction and watermark parameters: Beam passes those two
    # by keyword and the finalizer by position.
    def process(self, element: PartitionRead, finalizer=beam.DoFn.BundleFinalizerParam,
                tracker=beam.DoFn.RestrictionParam(_OffsetRangeProvider()),
                watermark=beam.DoFn.WatermarkEstimatorParam(_WatermarkProvider())
                ) -> Iterable[Any]:
        from confluent_kafka import KafkaError, TopicPartition  # pylint: disable=import-outside-toplevel
        restriction = tracker.current_restriction()
        position = restriction.start
        if position >= restriction.stop:
            return
        entry = self._consumer_at(element.topic, element.partition, position)
        consumer = entry.consumer
        last_claimed = None
        try:
            while True:
                if self._limits_reached():
                    tracker.try_claim(restriction.stop)  # nothing more: close the range
                    break
                started = time.monotonic()
                want = _BATCH if restriction.stop == UNBOUNDED_END \
                    else max(1, min(_BATCH, restriction.stop - position))
                # consume() waits until it has ``want`` messages or the timeout passed: take what
                # the client already fetched, and wait (for one message) only when it has none.
                # Waiting for a full batch cost a whole poll timeout per partition at the end
                # of a bounded read and on every poll of a slow stream.
                messages = consumer.consume(num_messages=want, timeout=0)
                if not messages:
                    # The runner visits the partitions one after another, so an idle round of
                    # all of them waits about one poll timeout in total, not one per partition.
                    messages = consumer.consume(
                        num_messages=1,
                        timeout=self._poll_timeout_s / max(1, len(self._consumers)))
                    if messages and want > 1:  # the rest of the fetch that brought it
                        messages += consumer.consume(num_messages=want - 1, timeout=0)
                delivered = [m.offset() for m in messages if m.error() is None]
                if delivered:
                    entry.next_offset = delivered[-1] + 1
                self._latency.update(int((time.monotonic() - started) * 1000))
                messages = [m for m in messages if m.error() is None
                            or m.error().code() != KafkaError._PARTITION_EOF]
                if not messages:
                    if restriction.stop != UNBOUNDED_END:
                        # Transaction markers occupy offsets no message is delivered for, so ask
                        # the consumer where it stands rather than trusting the last offset seen.
                        (current,) = consumer.position(
                            [TopicPartition(element.topic, element.partition)])
                        if max(position, current.offset) >= restriction.stop:
                            tracker.try_claim(restriction.stop)
                            break
                    # Idle: let the watermark move with the clock, then hand back control so the
                    # runner can checkpoint and finalize (and so commit) what was read.
                    idle_mark = Timestamp.now() - Duration(seconds=self._idle_lag_s)
                    if watermark.current_watermark() is None or \
                            idle_mark > watermark.current_watermark():
                        watermark.set_watermark(idle_mark)
                    tracker.defer_remainder(Duration(seconds=1))
                    break
                newest = None
                limited = self._deadline is not None or self._max_num_records is not None
                claimed = 0
                try:
                    for message in messages:
                        if message.error() is not None:
                            raise RuntimeError(f"Kafka error on {element.topic}"
                                               f"[{element.partition}]: {message.error()}")
                        offset = message.offset()
                        if not tracker.try_claim(offset):
                            raise _RangeDone()
                        position, last_claimed = offset + 1, offset
                        claimed += 1
                        ts_type, ts_ms = message.timestamp()
                        event_time = Timestamp(micros=ts_ms * 1000) if ts_ms and ts_ms > 0 \
                            else Timestamp.now()
                        if newest is None or event_time > newest:
                            newest = event_time
                        yield beam.window.TimestampedValue(SourceMessage(
                            value=message.value() or b"", topic=element.topic,
                            partition=element.partition, offset=offset,
                            timestamp_ms=ts_ms if ts_type else None, key=message.key(),
                            headers=tuple(message.headers() or ())), event_time)
                        if limited:
                            self._read_total += 1
                            if self._limits_reached():
                                break
                finally:
                    # Counted once per batch: per message the counter cost more than the
                    # claim (docs/performance-history.md, tenth session).
                    if claimed:
                        self._received.inc(claimed)
                # One watermark update per batch: per message it costs more than the read.
                if newest is not None and (watermark.current_watermark() is None
                                           or newest > watermark.current_watermark()):
                    watermark.set_watermark(newest)
                if restriction.stop != UNBOUNDED_END and position >= restriction.stop:
                    tracker.try_claim(restriction.stop)
                    break
                if restriction.stop == UNBOUNDED_END and last_claimed is not None:
                    # Checkpoint regularly so offsets get committed while data keeps flowing.
                    tracker.defer_remainder()
                    break
        except _RangeDone:
            pass
        if last_claimed is not None:
            topic, partition, next_offset = element.topic, element.partition, last_claimed + 1
            finalizer.register(lambda: self._commit(topic, partition, next_offset))

    def teardown(self):
        for consumer in [entry.consumer for entry in self._consumers.values()] + \
                [self._committer]:
            if consumer is not None:
                consumer.close()
        self._consumers = {}


class _PartitionConsumer:
    """A partition's consumer and the offset its next delivered message will have."""

    def __init__(self, consumer, next_offset: Optional[int]):
        self.consumer = consumer
        self.next_offset = next_offset


class _RangeDone(Exception):
    """The restriction was split or finished: stop claiming."""
