"""Scraper counters in one small in-process registry (no dependency).

Counters are keyed by ``(source, name)``; label values are source names and counter names only,
never anything taken from a scraped item, so no PII can reach a metric label. A monitoring
exporter can read :func:`snapshot` (or :data:`REGISTRY`) and publish it, e.g. as Prometheus
counters ``sensory_scraper_<name>_total{source="shopify"}``.
"""
import threading
from collections import defaultdict

REQUESTS = "requests"
THROTTLED = "throttled"  # HTTP 429 or the source's own rate-limit error code
RETRIES = "retries"
ITEMS = "items"  # records produced and acknowledged by Kafka
ERRORS = "errors"
PAGES = "pages"
DUPLICATES = "duplicates"
COUNTER_NAMES = (REQUESTS, THROTTLED, RETRIES, ITEMS, ERRORS, PAGES, DUPLICATES)


class Registry:
    """Thread-safe monotonically increasing counters per source."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], int] = defaultdict(int)

    def inc(self, source: str, name: str, amount: int = 1) -> None:
        """Adds ``amount`` to counter ``name`` of ``source``.

        Args:
            source: Source name (``shopify``, ``daraz``, ``facebook``, ``tiktok``).
            name: One of :data:`COUNTER_NAMES`.
            amount: Non-negative increment.

        Raises:
            ValueError: Unknown counter name or negative amount.
        """
        if name not in COUNTER_NAMES:
            raise ValueError(f"unknown scraper counter {name!r}; known: {COUNTER_NAMES}")
        if amount < 0:
            raise ValueError("counters only go up")
        with self._lock:
            self._counts[(source, name)] += amount

    def get(self, source: str, name: str) -> int:
        """The current value of one counter (0 when never incremented)."""
        with self._lock:
            return self._counts.get((source, name), 0)

    def snapshot(self) -> dict[str, dict[str, int]]:
        """All counters as ``{source: {name: value}}``."""
        with self._lock:
            out: dict[str, dict[str, int]] = {}
            for (source, name), value in self._counts.items():
                out.setdefault(source, {})[name] = value
            return out


REGISTRY = Registry()


def inc(source: str, name: str, amount: int = 1) -> None:
    """Increments a counter of the process-wide :data:`REGISTRY`."""
    REGISTRY.inc(source, name, amount)


def snapshot() -> dict[str, dict[str, int]]:
    """The process-wide counters, ``{source: {name: value}}``."""
    return REGISTRY.snapshot()
