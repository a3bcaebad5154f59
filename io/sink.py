"""Plumbing shared by the sinks: buffer in ``process``, write in ``_flush``, flush at bundle end.

A subclass implements ``write_batch`` (returning the records that failed, with why) and
``written_key``; this class keeps the metrics, retries whole-request failures with exponential
backoff, and turns what still fails into dead letters, so a sink never drops a record silently.

A buffer is handed to the sink's writer thread when it holds ``batch_size`` records, when its
oldest record has waited ``max_buffering_s`` (the writer thread checks, so a quiet stream does
not leave records waiting for the next one to arrive), and at the end of the bundle. The bundle
thread goes on with the next records while a batch is written (the pipeline's CPU work and the
service's own work on the batch overlap); at most one more full batch waits behind the one being
written, after which ``process`` waits (back-pressure). What a write produced (written keys, dead
letters, metrics) is emitted by the next ``process`` or by ``finish_bundle``: Beam outputs and
metrics belong to the bundle's thread. ``finish_bundle`` waits for every write it handed off, so
a bundle never ends (and its input is never committed) with a write in flight.

With ``writers`` > 1, that many writer threads, each with its own client, take batches from the
queue in hand-off order and write them side by side. A sink keeps what must happen in that
order (a MERGE, so that the later version of a record wins) inside ``in_order()``: a batch
enters it only after every batch handed off before it has finished writing.
"""
import collections
import contextlib
import logging
import threading
import time
from typing import Any, Callable, Iterable, Iterator, Optional, TypeVar

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

# Full batches that may wait behind the one being written before ``process`` waits.
_MAX_QUEUED_BATCHES = 1
# How often the writer thread looks at the buffer's age at most (seconds).
_MAX_TICK_S = 0.1


class BufferedSinkFn(beam.DoFn):
    """Base DoFn of a batching sink; emits written keys and tagged dead letters.

    Args:
        namespace: Metrics namespace.
        processor: Dead-letter processor name.
        batch_size: Records per write.
        max_buffering_s: Longest a buffered record waits for its batch to fill.
        max_retries: Retries of a failed request.
        backoff_s: First retry delay, doubled each retry.
        writers: Writer threads (each with its own client) writing batches side by side.
    """

    def __init__(self, *, namespace: str, processor: str, batch_size: int,
                 max_buffering_s: float, max_retries: int, backoff_s: float, writers: int = 1):
        super().__init__()
        if not isinstance(writers, int) or writers < 1:
            raise ValueError(f"writers must be a positive integer, got {writers!r}")
        self._namespace = namespace
        self._processor = processor
        self._batch_size = batch_size
        self._max_buffering_s = max_buffering_s
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self._writer_count = writers
        self._buffer: list[dict] = []
        self._buffer_started = 0.0
        # Each writer thread's client and batch (a threading.local, made in setup); clients are
        # opened by client() on that thread, closed by reset_client (that thread's) or teardown.
        self._local = None
        self._clients: list = []
        self._client_lock = threading.Lock()
        # Shared with the writer threads, guarded by _cond:
        self._cond = None
        self._queue: collections.deque = collections.deque()  # (batch, timer, seq) to write
        self._writing = 0  # batches being written
        self._next_seq = 0  # hand-off order of the next batch
        self._turn = 0  # the batch whose in_order() section may run
        self._done: list = []  # (batch, failures, latency_ms, timer) written, not yet emitted
        self._retry_count = 0
        self._in_bundle = False
        self._stopping = False
        self._writers: list[threading.Thread] = []

    def setup(self):
        self._received = Metrics.counter(self._namespace, "received")
        self._ok = Metrics.counter(self._namespace, "ok")
        self._dead = Metrics.counter(self._namespace, "dead_lettered")
        self._retries = Metrics.counter(self._namespace, "retries")
        self._timed = Metrics.counter(self._namespace, "timer_flushes")
        self._latency = Metrics.distribution(self._namespace, "flush_latency_ms")
        self._cond = threading.Condition(threading.RLock())
        self._client_lock = threading.Lock()
        self._local = threading.local()
        self._clients = []
        self._queue = collections.deque()
        self._done = []
        self._writing = self._next_seq = self._turn = 0
        self._stopping = False
        self._writers = [threading.Thread(target=self._write_loop, args=(index == 0,),
                                          daemon=True, name=f"{self._processor}-writer-{index}")
                         for index in range(self._writer_count)]
        for writer in self._writers:
            writer.start()

    def write_batch(self, batch: list[dict]) -> Failures:
        """Writes a batch; returns per-record failures. Raising fails the whole batch.

        Called on a writer thread, one batch at a time per thread; ``client()`` is that
        thread's own. With more than one writer, what must follow hand-off order goes inside
        ``in_order()``.
        """
        raise NotImplementedError

    @contextlib.contextmanager
    def in_order(self) -> Iterator[None]:
        """Waits until every batch handed off before this one has been written.

        For the part of ``write_batch`` whose effects must land in hand-off order. Entering it
        again (a retry inside the same ``write_batch``) does not wait, and neither does a
        ``write_batch`` called outside the writer threads (there is no order to keep).
        """
        seq = getattr(self._local, "seq", None)
        if seq is not None:
            with self._cond:
                while self._turn < seq:
                    self._cond.wait(1.0)
        yield

    def written_key(self, record: dict) -> str:
        """What the main output says was written for ``record``."""
        raise NotImplementedError

    def open_client(self) -> Any:
        """Returns a new connection to the service; may raise.

        The default, None, suits a sink that keeps no client.
        """
        return None

    def prepare_client(self, client: Any) -> None:
        """Readies a new connection (creates tables or collections); may raise."""

    def client(self) -> Any:
        """This writer thread's open client, opened and prepared first if needed."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self.open_client()
            if client is not None:
                try:
                    self.prepare_client(client)
                except Exception:
                    client.close()
                    raise
                with self._client_lock:
                    self._clients.append(client)
            self._local.client = client
        return client

    def reset_client(self) -> None:
        """Closes and drops this thread's client after a failed request, so the retry
        reconnects."""
        client, self._local.client = getattr(self._local, "client", None), None
        if client is not None:
            with self._client_lock:
                if client in self._clients:
                    self._clients.remove(client)
            _close_quietly(client)

    def teardown(self):
        if self._writers:
            with self._cond:
                self._stopping = True
                self._cond.notify_all()
            for writer in self._writers:
                writer.join(timeout=60)
        with self._client_lock:
            clients, self._clients = self._clients, []
        for client in clients:
            _close_quietly(client)

    def start_bundle(self):
        with self._cond:
            # Normally nothing is left here (finish_bundle waited). After a bundle that failed
            # part-way, its writes finish first and their outcome is dropped: the runner retries
            # that bundle, which writes (idempotently) and reports its records again.
            while self._queue or self._writing:
                self._wait_for_writer()
            self._buffer, self._done = [], []
            self._in_bundle = True

    def process(self, record: dict) -> Iterable[Any]:
        self._received.inc()
        with self._cond:
            if not self._buffer:
                self._buffer_started = time.monotonic()
            self._buffer.append(record)
            if len(self._buffer) >= self._batch_size or self._waited_long_enough():
                self._hand_off(timer=False)
            if not self._done and not self._retry_count:
                return  # nothing written since the last record: the common case
            done, retries = self._take_done()
        yield from self._emit(done, retries, wrap=False)

    def finish_bundle(self):
        with self._cond:
            self._hand_off(timer=False)
            while self._queue or self._writing:
                self._wait_for_writer()
            self._in_bundle = False
            done, retries = self._take_done()
        yield from self._emit(done, retries, wrap=True)

    def _waited_long_enough(self) -> bool:
        return time.monotonic() - self._buffer_started >= self._max_buffering_s

    def _hand_off(self, *, timer: bool) -> None:
        """Queues the buffer for the writer (caller holds the lock); waits while the queue is full."""
        if not self._buffer:
            return
        while len(self._queue) >= _MAX_QUEUED_BATCHES:
            self._wait_for_writer()
        batch, self._buffer = self._buffer, []
        self._queue.append((batch, timer, self._next_seq))
        self._next_seq += 1
        self._cond.notify_all()

    def _wait_for_writer(self) -> None:
        # A writer thread that died would leave finish_bundle waiting for ever.
        if not all(writer.is_alive() for writer in self._writers):
            raise RuntimeError(f"{self._processor}: a writer thread has stopped")
        self._cond.wait(1.0)

    def _take_done(self) -> tuple[list, int]:
        done, self._done = self._done, []
        retries, self._retry_count = self._retry_count, 0
        return done, retries

    def _write_loop(self, connect_early: bool) -> None:
        """Writer thread: writes queued batches, and a buffer that waited ``max_buffering_s``.

        Args:
            connect_early: Open the client before the first batch (the first writer only: the
                others connect when a second batch is written while the first is, which a
                short run may never do).
        """
        tick = min(_MAX_TICK_S, self._max_buffering_s / 4)
        # Connect while the pipeline starts up rather than when the first batch waits (a bounded
        # run's only load would pay it at its very end). A failure here is not a failed write:
        # the first write connects again, with retries.
        if connect_early:
            try:
                self.client()
            except Exception as err:  # pylint: disable=broad-except
                _LOGGER.info("%s: early connect failed (%s); the first write retries",
                             self._processor, type(err).__name__)
                self.reset_client()
        with self._cond:
            while not self._stopping:
                if self._queue:
                    batch, timer, seq = self._queue.popleft()
                    self._writing += 1
                    self._local.seq = seq
                    self._cond.notify_all()  # a full queue has room again
                    self._cond.release()
                    try:
                        outcome = self._flush(batch, timer)
                    finally:
                        self._cond.acquire()
                    # The next batch's in_order() may run once this one is written, whatever
                    # happened to it; earlier batches all had their turn before this one's.
                    while self._turn < seq:
                        self._cond.wait(1.0)
                    self._turn = seq + 1
                    self._done.append(outcome)
                    self._writing -= 1
                    self._cond.notify_all()
                elif self._in_bundle and self._buffer and self._waited_long_enough():
                    self._hand_off(timer=True)
                else:
                    self._cond.wait(tick)

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
                with self._cond:
                    self._retry_count += 1  # counted by the bundle thread in _emit
                time.sleep(self._backoff_s * 2 ** attempt)
        raise AssertionError("unreachable")

    def _flush(self, batch: list[dict], timer: bool) -> tuple:
        """Writes one batch (writer thread, lock not held); returns its outcome for ``_emit``."""
        started = time.monotonic()
        try:
            failures = self.write_batch(batch)
        except Exception as err:  # pylint: disable=broad-except
            message = f"write failed after {self._max_retries + 1} attempts: {err}"
            failures = {index: (type(err).__name__, message) for index in range(len(batch))}
        return batch, failures, int((time.monotonic() - started) * 1000), timer

    def _emit(self, done: list, retries: int, *, wrap: bool) -> Iterable[Any]:
        """Metrics and outputs of finished writes, on the bundle's thread."""
        if retries:
            self._retries.inc(retries)
        for batch, failures, latency_ms, timer in done:
            self._latency.update(latency_ms)
            if timer:
                self._timed.inc()
            written = len(batch) - sum(1 for index in failures if 0 <= index < len(batch))
            if written:
                self._ok.inc(written)
            for index, record in enumerate(batch):
                error: Optional[tuple[str, str]] = failures.get(index)
                if error is None:
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


def _close_quietly(client: Any) -> None:
    try:
        client.close()
    except Exception:  # pylint: disable=broad-except
        pass  # it is being thrown away: it failed, or the sink is shutting down


def split_sink_outputs(records: beam.PCollection, label: str, fn: BufferedSinkFn):
    """Applies a sink DoFn and returns ``(written_keys, dead_letters)``."""
    outputs = records | label >> beam.ParDo(fn).with_outputs(WRITTEN_TAG, DEAD_LETTER_TAG)
    return outputs[WRITTEN_TAG], outputs[DEAD_LETTER_TAG]
