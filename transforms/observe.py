"""Taps that only count: dead letters by reason, and end-to-end latency of finished records.

Both are side branches (their outputs are dropped), so they change nothing about what the
pipeline produces; ``sensory.pipelines.metrics`` exports what they count to Prometheus.
"""
import re
import time

import apache_beam as beam
from apache_beam import PCollection
from apache_beam.metrics import Metrics
from apache_beam.utils.timestamp import Timestamp

from sensory.deadletter import (CONTEXT_ENRICHER, EMBEDDING_SERVICE, PRIVACY_SHIELD,
                                SCHEMA_VALIDATOR, SNOWFLAKE_SINK, WEAVIATE_SINK)

DEAD_LETTERS_NAMESPACE = "sensory.dead_letters"
END_TO_END_NAMESPACE = "sensory.end_to_end"
PROCESSORS = (SCHEMA_VALIDATOR, PRIVACY_SHIELD, CONTEXT_ENRICHER, EMBEDDING_SERVICE,
              SNOWFLAKE_SINK, WEAVIATE_SINK)
# An exception class name is an identifier; anything else is not trusted into a metric name.
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# Element timestamps outside this age are not Kafka times (file mode, re-timestamped windows).
_MAX_AGE_MS = 7 * 24 * 3600 * 1000


def reason_metric_name(dead_letter: dict) -> str:
    """``<processor>.<error type>`` of a dead letter, each part from a closed or checked set."""
    processor = (dead_letter.get("metadata") or {}).get("processor")
    error_type = str((dead_letter.get("error") or {}).get("type") or "")
    processor = processor if processor in PROCESSORS else "other"
    error_type = error_type if _IDENTIFIER.fullmatch(error_type) else "other"
    return f"{processor}.{error_type}"


class _CountReasonsFn(beam.DoFn):
    def setup(self):
        self._counters = {}

    def process(self, dead_letter: dict):
        name = reason_metric_name(dead_letter)
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = Metrics.counter(DEAD_LETTERS_NAMESPACE, name)
        counter.inc()
        return ()


class CountDeadLetterReasons(beam.PTransform[PCollection[dict], PCollection[None]]):
    """Counts dead letters in namespace ``sensory.dead_letters``, one counter per reason."""

    def expand(self, dead_letters):
        return dead_letters | "CountByReason" >> beam.ParDo(_CountReasonsFn())


class _LatencyFn(beam.DoFn):
    def setup(self):
        self._latency = Metrics.distribution(END_TO_END_NAMESPACE, "latency_ms")
        self._untimed = Metrics.counter(END_TO_END_NAMESPACE, "untimed")

    def process(self, _record, timestamp=beam.DoFn.TimestampParam):
        # Integer microseconds: Timestamp.now() and the Duration a subtraction makes cost more
        # than the rest of this tap.
        age_ms = (time.time_ns() // 1000 - timestamp.micros) // 1000 if isinstance(
            timestamp, Timestamp) else -1
        if 0 <= age_ms <= _MAX_AGE_MS:
            self._latency.update(int(age_ms))
        else:
            self._untimed.inc()
        return ()


class ObserveEndToEndLatency(beam.PTransform[PCollection[dict], PCollection[None]]):
    """Distribution ``sensory.end_to_end/latency_ms``: source timestamp to this point.

    Records read from Kafka carry the message's timestamp as their element timestamp, so the
    latency is from the producer (or broker) to the moment the record passes this tap. Apply it
    before any batching step (``BatchElements`` in RunInference emits at bundle end with the
    end-of-window timestamp). Records without a usable timestamp (file mode, or after such a
    step) count as ``untimed``.
    """

    def expand(self, records):
        return records | "MeasureLatency" >> beam.ParDo(_LatencyFn())

