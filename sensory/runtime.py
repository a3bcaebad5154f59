"""Process-wide tuning a worker applies before records flow: the garbage collector and the
interpreter lock's switch interval.

Python's cyclic collector runs a young collection every 700 net allocations and a full one
whenever enough objects have survived into the oldest generation. A worker after start-up holds
~190,000 long-lived objects (Beam, pydantic's validators, libphonenumber's metadata) that never
become garbage, and each full collection walked all of them; the sinks' buffers (thousands of
records) survive young collections and bring full ones on. In a bounded run of 25,000 messages
the collector took ~21 µs per message, a sixth of the pipeline's CPU
(docs/performance-history.md, tenth session).

``tune_gc`` moves what the process holds at that moment into the permanent generation
(``gc.freeze``: never scanned, never collected) and raises the young threshold. Memory freed by
reference counting, which is nearly all of it, is freed at once as before; only reference cycles
wait a little longer.
"""
import gc
import logging
import sys
import threading
from typing import NamedTuple

_LOGGER = logging.getLogger(__name__)

# Young collections every 50,000 net allocations instead of 700: measured with 50,000 and
# 200,000 (the same CPU per message); the pipelines' option ``--gc_young_threshold``.
DEFAULT_GC_YOUNG_THRESHOLD = 50_000
# The interpreter lock's switch interval, 1 ms instead of Python's 5 ms: the sinks' writer
# threads wake from every network reply needing the lock back from the busy bundle thread, and
# waited up to a whole interval each time (docs/performance-history.md, tenth session).
DEFAULT_SWITCH_INTERVAL_MS = 1.0

_LOCK = threading.Lock()
_tuned = False


def tune_gc(young_threshold: int = DEFAULT_GC_YOUNG_THRESHOLD) -> bool:
    """Freezes the objects the process holds now and raises the young collection threshold.

    Once per process: later calls (every worker DoFn's ``setup``) change nothing.

    Args:
        young_threshold: Net allocations between young collections; 0 leaves the collector as
            Python set it.

    Returns:
        Whether this call tuned the collector.

    Raises:
        ValueError: ``young_threshold`` is negative or not an integer.
    """
    global _tuned  # pylint: disable=global-statement
    _check_threshold(young_threshold)
    if young_threshold == 0:
        return False
    with _LOCK:
        if _tuned:
            return False
        # What start-up left as garbage goes now rather than being frozen for good.
        gc.collect()
        gc.freeze()
        _, middle, oldest = gc.get_threshold()
        gc.set_threshold(young_threshold, middle, oldest)
        _tuned = True
    _LOGGER.info("garbage collector: %d objects frozen, young threshold %d",
                 gc.get_freeze_count(), young_threshold)
    return True


def _check_threshold(young_threshold) -> None:
    if isinstance(young_threshold, bool) or not isinstance(young_threshold, int) \
            or young_threshold < 0:
        raise ValueError(f"young_threshold must be an integer >= 0, got {young_threshold!r}")



class WorkerTuning(NamedTuple):
    """What ``tune_worker`` sets; the pipelines' ``--gc_young_threshold`` and
    ``--switch_interval_ms``.

    Attributes:
        gc_young_threshold: See ``tune_gc``; 0 leaves the collector alone.
        switch_interval_ms: The interpreter's thread switch interval in milliseconds; 0 leaves
            Python's (5 ms).
    """

    gc_young_threshold: int = DEFAULT_GC_YOUNG_THRESHOLD
    switch_interval_ms: float = DEFAULT_SWITCH_INTERVAL_MS

    def check(self) -> "WorkerTuning":
        """Returns self.

        Raises:
            ValueError: A negative or non-numeric setting.
        """
        _check_threshold(self.gc_young_threshold)
        interval = self.switch_interval_ms
        if isinstance(interval, bool) or not isinstance(interval, (int, float)) \
                or not 0 <= interval <= 1000:
            raise ValueError(f"switch_interval_ms must be a number from 0 to 1000, "
                             f"got {interval!r}")
        return self


def tune_worker(tuning: WorkerTuning) -> None:
    """Applies ``tuning`` to this process: the collector once, the switch interval each call.

    Raises:
        ValueError: See ``WorkerTuning.check``.
    """
    tuning.check()
    tune_gc(tuning.gc_young_threshold)
    if tuning.switch_interval_ms:
        sys.setswitchinterval(tuning.switch_interval_ms / 1000)
