"""Shared plumbing for per-record stages: metrics and the record-or-dead-letter DoFn."""
import logging
import time
from typing import Any, Iterable

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from sensory.deadletter import DEAD_LETTER_TAG, SOURCE_KEY, make_dead_letter

_LOGGER = logging.getLogger(__name__)

OK_TAG = "ok"


class StageMetrics:
    """The counters every stage reports, under one namespace per component.

    Attributes:
        received: Elements that entered the stage.
        ok: Elements that left it as records.
        dead_lettered: Elements that left it as dead letters.
        latency_us: Distribution of per-element processing time in microseconds.
    """

    def __init__(self, namespace: str):
        self.received = Metrics.counter(namespace, "received")
        self.ok = Metrics.counter(namespace, "ok")
        self.dead_lettered = Metrics.counter(namespace, "dead_lettered")
        self.latency_us = Metrics.distribution(namespace, "latency_us")


class RecordStageFn(beam.DoFn):
    """A DoFn mapping one record dict to one record dict; any exception becomes a dead letter.

    Subclasses implement :meth:`transform_record`. The dead letter keeps the record as it came
    in (already validated and, after the shield, hashed) and names ``processor``; its message is
    the exception's, which subclasses must keep free of raw values.
    """

    def __init__(self, *, namespace: str, processor: str):
        super().__init__()
        self._namespace = namespace
        self._processor = processor
        self._metrics = None

    def setup(self):
        self._metrics = StageMetrics(self._namespace)

    def transform_record(self, record: dict[str, Any]) -> dict[str, Any]:
        """Returns the transformed record; raises on failure."""
        raise NotImplementedError

    def process(self, record: dict[str, Any]) -> Iterable[Any]:
        self._metrics.received.inc()
        started = time.perf_counter()
        try:
            result = self.transform_record(record)
        except Exception as err:  # pylint: disable=broad-except
            # Logged without the record: before the shield it may still hold PII.
            _LOGGER.warning("%s failed on a record from %s: %s", self._processor,
                            record.get(SOURCE_KEY), type(err).__name__)
            self._metrics.dead_lettered.inc()
            yield pvalue.TaggedOutput(DEAD_LETTER_TAG, make_dead_letter(
                record, error_type=type(err).__name__, message=str(err),
                processor=self._processor, source=record.get(SOURCE_KEY)))
            return
        self._metrics.latency_us.update(int((time.perf_counter() - started) * 1e6))
        self._metrics.ok.inc()
        yield result


def split_outputs(pcoll: beam.PCollection, label: str, fn: beam.DoFn):
    """Applies ``fn`` with a dead-letter output and returns ``(records, dead_letters)``.

    Args:
        pcoll: Input collection.
        label: Step name.
        fn: A DoFn yielding records on the main output and dead letters tagged
            ``DEAD_LETTER_TAG``.

    Returns:
        The two output PCollections.
    """
    outputs = pcoll | label >> beam.ParDo(fn).with_outputs(DEAD_LETTER_TAG, main=OK_TAG)
    return outputs[OK_TAG], outputs[DEAD_LETTER_TAG]
