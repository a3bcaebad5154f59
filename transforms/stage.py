"""Shared plumbing for per-record stages: metrics, the record-or-dead-letter DoFn, and chaining
stages into one step that takes batches through each stage (``ChainStages``).
"""
import logging
import time
from typing import Any, Iterable, Optional, Sequence

import apache_beam as beam
from apache_beam import PCollection, pvalue
from apache_beam.metrics import Metrics
from apache_beam.utils.windowed_value import WindowedValue

from sensory.deadletter import DEAD_LETTER_TAG, SOURCE_KEY, make_dead_letter
from sensory.runtime import WorkerTuning, tune_worker

_LOGGER = logging.getLogger(__name__)

OK_TAG = "ok"
# Elements a chain of stages takes through each stage at once (docs/performance.md).
DEFAULT_CHAIN_BATCH = 256


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

    def apply(self, record: dict[str, Any]) -> Any:
        """The stage on one record: the new record, or a dead letter tagged ``DEAD_LETTER_TAG``."""
        self._metrics.received.inc()
        started = time.perf_counter()
        try:
            result = self.transform_record(record)
        except Exception as err:  # pylint: disable=broad-except
            # Logged without the record: before the shield it may still hold PII.
            _LOGGER.warning("%s failed on a record from %s: %s", self._processor,
                            record.get(SOURCE_KEY), type(err).__name__)
            self._metrics.dead_lettered.inc()
            return pvalue.TaggedOutput(DEAD_LETTER_TAG, make_dead_letter(
                record, error_type=type(err).__name__, message=str(err),
                processor=self._processor, source=record.get(SOURCE_KEY)))
        self._metrics.latency_us.update(int((time.perf_counter() - started) * 1e6))
        self._metrics.ok.inc()
        return result

    def process(self, record: dict[str, Any]) -> Iterable[Any]:
        yield self.apply(record)


class ChainFn(beam.DoFn):
    """Runs stage DoFns one after another, a batch of elements at a time.

    A stage is a DoFn with ``apply(element)`` returning the next element or a dead letter
    tagged ``DEAD_LETTER_TAG`` (``RecordStageFn`` and the validation and scrubbing DoFns).

    Each stage goes over the whole batch before the next starts: its code and data stay in
    the CPU's caches, where element by element every stage evicted the others'. Outputs keep
    each element's timestamp and window; a bundle's last batch is emitted by ``finish_bundle``.

    Args:
        stages: The stage DoFns, in the order they run.
        batch_size: Elements taken through each stage at once.
        tuning: If not None, ``setup`` applies it to the worker process
            (``sensory.runtime.tune_worker``).
    """

    def __init__(self, stages: Sequence[beam.DoFn], batch_size: int,
                 tuning: Optional[WorkerTuning] = None):
        super().__init__()
        self._stages = list(stages)
        self._batch_size = batch_size
        self._tuning = tuning
        self._pending: list = []

    def setup(self):
        if self._tuning is not None:
            tune_worker(self._tuning)
        for stage in self._stages:
            stage.setup()

    def start_bundle(self):
        self._pending = []

    def process(self, element: Any, timestamp=beam.DoFn.TimestampParam,
                window=beam.DoFn.WindowParam) -> Iterable[Any]:
        self._pending.append((element, timestamp, window))
        if len(self._pending) >= self._batch_size:
            yield from self._run_pending()

    def finish_bundle(self) -> Iterable[Any]:
        yield from self._run_pending()

    def _run_pending(self) -> Iterable[Any]:
        pending, self._pending = self._pending, []
        values = [element for element, _, _ in pending]
        for stage in self._stages:
            apply = stage.apply
            # A dead letter passes the later stages untouched.
            values = [value if isinstance(value, pvalue.TaggedOutput) else apply(value)
                      for value in values]
        for value, (_, timestamp, window) in zip(values, pending):
            if isinstance(value, pvalue.TaggedOutput):
                yield pvalue.TaggedOutput(value.tag,
                                          WindowedValue(value.value, timestamp, (window,)))
            else:
                yield WindowedValue(value, timestamp, (window,))

    def teardown(self):
        for stage in self._stages:
            stage.teardown()


class ChainStages(beam.PTransform[PCollection, PCollection[dict]]):
    """Per-record stages run as one Beam step; returns ``(records, dead_letters)``.

    The same records, dead letters and metrics (each stage keeps its namespace) as applying
    the stages one by one, without the per-element cost of a step and an output between them.

    Args:
        *stages: Transforms whose ``stage_fn()`` gives their per-record DoFn (``ValidateRecords``,
            ``ShieldPII``, ``AddContext``), in the order they run.
        batch_size: Elements taken through each stage at once.
        tuning: If not None, applied to each worker process before the first element
            (``sensory.runtime.tune_worker``).
    """

    def __init__(self, *stages: beam.PTransform, batch_size: int = DEFAULT_CHAIN_BATCH,
                 tuning: Optional[WorkerTuning] = None):
        super().__init__()
        if not stages:
            raise ValueError("ChainStages needs at least one stage")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self._batch_size = batch_size
        for stage in stages:
            if not callable(getattr(stage, "stage_fn", None)):
                raise TypeError(f"{type(stage).__name__} has no stage_fn(): it cannot be chained")
        self._stages = stages
        self._tuning = tuning.check() if tuning is not None else None

    def expand(self, pcoll):  # -> (records, dead_letters)
        return split_outputs(pcoll, "Stages", ChainFn([stage.stage_fn() for stage in self._stages],
                                                      self._batch_size, self._tuning))


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
