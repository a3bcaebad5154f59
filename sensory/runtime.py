"""Process-wide tuning a worker applies once, before records flow: the garbage collector.

Python's cyclic collector runs a young collection every 700 net allocations and a full one
whenever enough objects have survived into the oldest generation. A worker after start-up holds
~190,000 long-lived objects (Beam, pydantic's validators, libphonenumber's metadata) that never
become garbage, and each full collection walked all of them; the sinks' buffers (thousands of
records) survive young collections and bring full ones on. In a bounded run of 25,000 messages
the collector took ~21 µs per message, a sixth of the pipeline's CPU (docs/performance.md,
tenth session).

``tune_gc`` moves what the process holds at that moment into the permanent generation
(``gc.freeze``: never scanned, never collected) and raises the young threshold. Memory freed by
reference counting, which is nearly all of it, is freed at once as before; only reference cycles
wait a little longer.
"""
import gc
import logging
import threading

_LOGGER = logging.getLogger(__name__)

# Young collections every 50,000 net allocations instead of 700: measured with 50,000 and
# 200,000 (the same CPU per message); the pipelines' option ``--gc_young_threshold``.
DEFAULT_GC_YOUNG_THRESHOLD = 50_000

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
    if isinstance(young_threshold, bool) or not isinstance(young_threshold, int) \
            or young_threshold < 0:
        raise ValueError(f"young_threshold must be an integer >= 0, got {young_threshold!r}")
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
