"""Plumbing shared by the sinks: buffer in ``process``, write in ``_flush``, flush at bundle end.

A subclass implements ``write_batch`` (returning the records that failed, with why) and
``written_key``; this class keeps the metrics, retries whole-request failures with exponential
backoff, and turns what still fails into dead letters, so a sink never drops a record silently.

A buffer is written when it holds ``batch_size`` records, when its oldest record has waited
``max_buffering_s`` (a timer thread checks, so a quiet stream does not leave records waiting for
the next one to arrive), and at the end of the bundle. What a timer write produced (written keys,
dead letters, metrics) is emitted by the next ``process`` or by ``finish_bundle``: Beam outputs
and metrics belong to the bundle's thread. The bundle never ends with a write in flight.
"""
import logging
import threading
import time
from typing import Any, Callable, Iterable, Optional, TypeVar

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindow
from apache_beam.utils.timestamp import MAX_TIMESTAMP
from apache_beam.utils.windowed_value import WindowedValue

from sensory.deadletter import DEAD_LETTER_TAG, SOURCE_KEY, make_dead_letter

_LOGGER = logging.getLogger(__name__)

WRITTEN_TAG = "written"
T = TypeVar("T")

# index of a record in the batch -> (error type, message)
Failures = dict[int, tuple[str, str]]


class BufferedSinkFn(beam.DoFn):
    """Base DoFn of a batching sink; emits written keys and tagged dead letters.

    Args:
        namespace: Metrics namespace.
        processor: Dead-letter processor name.
        batch_size: Records per write.
        max_buffering_s: Longest a buffered record waits for its batch to fill.
        max_retries: Retries of a failed request.
        backoff_s: First retry delay, doubled each retry.
    """

    def __init__(self, *, namespace: str, processor: str, batch_size: int,
                 max_buffering_s: float, max_retries: int, backoff_s: float):
        super().__init__()
        self._namespace = namespace
        self._processor = processor
        self._batch_size = batch_size
        self._max_buffering_s = max_buffering_s
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self._buffer: list[dict] = []
        self._buffer_started = 0.0
        self._client = None  # opened lazily by the subclass, closed by reset_client/teardown
        self._lock = None
        self._done: list = []  # (batch, failures, latency_ms) written by the timer
        self._retry_count = 0
        self._in_bundle = False
        self._stop = None
        self._timer = None

    def setup(self):
        self._received = Metrics.counter(self._namespace, "received")
        self._ok = Metrics.counter(self._namespace, "ok")
        self._dead = Metrics.counter(self._namespace, "dead_lettered")
        self._retries = Metrics.counter(self._namespace, "retries")
        self._timed = Metrics.counter(self._namespace, "timer_flushes")
        self._latency = Metrics.distribution(self._namespace, "flush_latency_ms")
        self._lock = threading.RLock()
        self._done = []
        self._stop = threading.Event()
        self._timer = threading.Thread(target=self._watch, name=f"{self._processor}-flush",
                                       daemon=True)
        self._timer.start()

    def write_batch(self, batch: list[dict]) -> Failures:
        """Writes a batch; returns per-record failures. Raising fails the whole batch."""
        raise NotImplementedError

    def written_key(self, record: dict) -> str:
        """What the main output says was written for ``record``."""
        raise NotImplementedError

    def reset_client(self) -> None:
        """Closes and drops ``self._client`` after a failed request, so the retry reconnects."""
        if self._client is not None:
            try:
                self._client.close()
            except Exception:  # pylint: disable=broad-except
                pass  # it is being thrown away because it failed
            self._client = None

    def teardown(self):
        if self._stop is not None:
            self._stop.set()
            self._timer.join(timeout=60)
        self.reset_client()

    def start_bundle(self):
        with self._lock:
            self._buffer = []
            self._in_bundle = True

    def process(self, record: dict) -> Iterable[Any]:
        self._received.inc()
        with self._lock:
            if not self._buffer:
                self._buffer_started = time.monotonic()
            self._buffer.append(record)
            if len(self._buffer) >= self._batch_size or self._waited_long_enough():
                self._flush()
            done, self._done = self._done, []
        yield from self._emit(done, wrap=False)

    def finish_bundle(self):
        with self._lock:
            self._flush()
            self._in_bundle = False
            done, self._done = self._done, []
        yield from self._emit(done, wrap=True)

    def _waited_long_enough(self) -> bool:
        return time.monotonic() - self._buffer_started >= self._max_buffering_s

    def _watch(self) -> None:
        """Timer thread: writes a buffer whose oldest record waited ``max_buffering_s``."""
        tick = min(0.1, self._max_buffering_s / 4)
        while not self._stop.wait(tick):
            with self._lock:
                if self._in_bundle and self._buffer and self._waited_long_enough():
                    self._flush(timer=True)

    def retrying(self, what: str, call: Callable[[], T]) -> T:
        """Runs ``call``, retrying with backoff; re-raises the last error."""
        for attempt in range(self._max_retries + 1):
            try:
                return call()
            except Exception as err:  # pylint: disable=broad-except
                _LOGGER.warning("%s: %s failed (attempt %d/%d): %s", self._processor, what,
                                attempt + 1, self._max_retries + 1, type(err).__name__)
                self.reset_client()
                if attempt == self._max_retries:
                    raise
                self._retry_count += 1  # counted by the bundle thread in _emit
                time.sleep(self._backoff_s * 2 ** attempt)
        raise AssertionError("unreachable")

    def _flush(self, timer: bool = False) -> None:
        """Writes the buffer (caller holds the lock); the outcome waits in ``_done``."""
        batch, self._buffer = self._buffer, []
        if not batch:
            return
        started = time.monotonic()
        try:
            failures = self.write_batch(batch)
        except Exception as err:  # pylint: disable=broad-except
            message = f"write failed after {self._max_retries + 1} attempts: {err}"
            failures = {index: (type(err).__name__, message) for index in range(len(batch))}
        self._done.append((batch, failures, int((time.monotonic() - started) * 1000), timer))

    def _emit(self, done: list, *, wrap: bool) -> Iterable[Any]:
        """Metrics and outputs of finished writes, on the bundle's thread."""
        if self._retry_count:
            self._retries.inc(self._retry_count)
            self._retry_count = 0
        for batch, failures, latency_ms, timer in done:
            self._latency.update(latency_ms)
            if timer:
                self._timed.inc()
            for index, record in enumerate(batch):
                error: Optional[tuple[str, str]] = failures.get(index)
                if error is None:
                    self._ok.inc()
                    out = pvalue.TaggedOutput(WRITTEN_TAG, self.written_key(record))
                else:
                    self._dead.inc()
                    out = pvalue.TaggedOutput(DEAD_LETTER_TAG, make_dead_letter(
                        record, error_type=error[0], message=error[1],
                        processor=self._processor, source=record.get(SOURCE_KEY)))
                if wrap:  # finish_bundle has no element to inherit a window from
                    out = pvalue.TaggedOutput(out.tag, WindowedValue(
                        out.value, MAX_TIMESTAMP - 1, [GlobalWindow()]))
                yield out


def split_sink_outputs(records: beam.PCollection, label: str, fn: BufferedSinkFn):
    """Applies a sink DoFn and returns ``(written_keys, dead_letters)``."""
    outputs = records | label >> beam.ParDo(fn).with_outputs(WRITTEN_TAG, DEAD_LETTER_TAG)
    return outputs[WRITTEN_TAG], outputs[DEAD_LETTER_TAG]
