"""Getting metrics to Prometheus from any Sensory process: serve, push, or keep a snapshot file.

Long-running processes (streaming pipelines, exporters) serve ``/metrics`` for Prometheus to
scrape. Short-lived ones (bounded pipeline runs, ``sensory weather fetch``, a scraper on a
CronJob) would be gone before the next scrape, so they push their final numbers to the
Pushgateway, which keeps them for Prometheus until the next run of the same job replaces them,
and may also write them to a text file for ``sensory report``. Every label value goes through
:func:`safe_label`, so a label can never carry free text or personal data.
"""
import logging
import os
import re
import socketserver
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping, Optional
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, make_wsgi_app, \
    push_to_gateway, write_to_textfile
from prometheus_client.core import CounterMetricFamily

from sensory import endpoints

_LOGGER = logging.getLogger(__name__)

PUSHGATEWAY_PORT_VARIABLE = "SENSORY_PUSHGATEWAY_PORT"
PUSHGATEWAY_DEFAULT_PORT = 9091
# Request outcomes of a source (scraper, marketplace API, weather API).
OUTCOME_OK = "ok"
OUTCOME_ERROR = "error"
OUTCOME_RATE_LIMITED = "rate_limited"
OUTCOMES = (OUTCOME_OK, OUTCOME_ERROR, OUTCOME_RATE_LIMITED)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")
_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]{0,40}")
_MAX_LABEL = 64


def pushgateway_url() -> str:
    """The local stack's Pushgateway: ``http://127.0.0.1:$SENSORY_PUSHGATEWAY_PORT`` (9091)."""
    return (f"http://{endpoints.HOST}:"
            f"{endpoints.port(PUSHGATEWAY_PORT_VARIABLE, PUSHGATEWAY_DEFAULT_PORT)}")


def safe_label(value: object, allowed: Optional[Iterable[str]] = None) -> str:
    """A label value that is an identifier, never free text.

    Args:
        value: What the caller wants as a label value (a stage, topic, city, error type ...).
        allowed: If given, the only values that pass; anything else becomes ``"other"``.

    Returns:
        ``value`` with every character outside ``[A-Za-z0-9_.:-]`` replaced by ``_`` and cut
        to 64 characters, or ``"other"`` when not allowed, or ``"none"`` when empty.
    """
    text = "" if value is None else str(value)
    if allowed is not None and text not in set(allowed):
        return "other"
    return _UNSAFE.sub("_", text)[:_MAX_LABEL] or "none"


class _MetricsServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # pylint: disable=redefined-builtin
        pass  # one line per scrape on stderr is noise


# How often the server thread looks for a shutdown request. socketserver's default (0.5 s) made
# every bounded run wait up to half a second at its end for the metrics endpoint to close.
_SHUTDOWN_POLL_S = 0.05


def serve(registry: CollectorRegistry, port: int, host: str = endpoints.HOST):
    """Serves ``registry`` on ``http://host:port/metrics`` from a daemon thread.

    Returns:
        The HTTP server (call ``shutdown()`` to stop it), or None if the port was taken: a
        process must not fail because its metrics endpoint could not open.
    """
    try:
        server = make_server(host, port, make_wsgi_app(registry), _MetricsServer,
                             handler_class=_QuietHandler)
    except OSError as err:
        _LOGGER.warning("metrics endpoint %s:%d not opened (%s); continuing without it",
                        host, port, err)
        return None
    threading.Thread(target=server.serve_forever, args=(_SHUTDOWN_POLL_S,), daemon=True,
                     name="sensory-metrics-http").start()
    _LOGGER.info("serving metrics on http://%s:%d/metrics", host, port)
    return server


def push(registry: CollectorRegistry, *, job: str, grouping_key: Mapping[str, str],
         gateway: Optional[str] = None, timeout_s: float = 5.0) -> bool:
    """Replaces this job's group on the Pushgateway with ``registry``'s current values.

    Args:
        registry: What to push.
        job: The ``job`` label (e.g. ``sensory_pipeline``).
        grouping_key: Further labels naming the group (e.g. ``{"pipeline": "social"}``); a
            later push with the same key replaces it, so old runs leave no stale series.
        gateway: Pushgateway URL; default :func:`pushgateway_url`. Empty string: no push.
        timeout_s: HTTP timeout.

    Returns:
        Whether the push succeeded (failure is logged, never raised: metrics are not worth a
        failed run).
    """
    gateway = pushgateway_url() if gateway is None else gateway
    if not gateway:
        return False
    try:
        push_to_gateway(gateway, job=job, registry=registry, timeout=timeout_s,
                        grouping_key={k: safe_label(v) for k, v in grouping_key.items()})
    except (OSError, ValueError) as err:  # unreachable, or not a URL
        _LOGGER.warning("metrics not pushed to %s: %s", gateway, err)
        return False
    _LOGGER.info("metrics pushed to %s (job %s, %s)", gateway, job, dict(grouping_key))
    return True


def write_snapshot(registry: CollectorRegistry, path: str) -> Optional[Path]:
    """Writes ``registry`` in the Prometheus text format to ``path`` (atomically).

    Returns:
        The path written, or None when writing failed (logged).
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_to_textfile(str(target), registry)
    except OSError as err:
        _LOGGER.warning("metrics snapshot not written to %s: %s", target, err)
        return None
    return target


class SourceMetrics:
    """The metrics every source reports (scrapers, marketplace APIs, the weather fetch).

    Families (label ``source`` is the source's short name, e.g. ``tiktok`` or ``openweather``):
    ``sensory_source_requests_total{source,outcome}`` (outcome ``ok``, ``error``,
    ``rate_limited`` for HTTP 429), ``sensory_source_items_total{source}`` and
    ``sensory_source_last_success_timestamp_seconds{source}``.

    Args:
        registry: Where the families live (a fresh one per process run is typical).
    """

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry
        self._requests = Counter("sensory_source_requests", "Requests to a source by outcome.",
                                 ["source", "outcome"], registry=registry)
        self._items = Counter("sensory_source_items", "Items a source delivered.", ["source"],
                              registry=registry)
        self._last_success = Gauge("sensory_source_last_success_timestamp_seconds",
                                   "When a request to the source last succeeded.", ["source"],
                                   registry=registry)

    def declare(self, source: str) -> None:
        """Creates ``source``'s series at 0, so a run that made no request still reports."""
        for outcome in OUTCOMES:
            self._requests.labels(safe_label(source), outcome)
        self._items.labels(safe_label(source))

    def request(self, source: str, outcome: str) -> None:
        """Counts one request; ``outcome`` is one of :data:`OUTCOMES`."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {OUTCOMES}, got {outcome!r}")
        self.declare(source)  # every outcome exists from the first request, 0 until it occurs
        self._requests.labels(safe_label(source), outcome).inc()
        if outcome == OUTCOME_OK:
            self._last_success.labels(safe_label(source)).set(time.time())

    def items(self, source: str, count: int = 1) -> None:
        """Counts items delivered by ``source``."""
        self._items.labels(safe_label(source)).inc(count)


class CounterSnapshotCollector:
    """Publishes ``{source: {counter: value}}`` snapshots as ``<prefix>_<counter>_total{source}``.

    This is the shape of ``sensory.scrapers.metrics.snapshot()`` (requests, throttled, retries,
    items, errors, pages, duplicates per source); the core cannot import the scrapers, so it
    takes a callable. Counter names must be identifiers; others are skipped.

    Args:
        snapshot: Returns the current counters (called on every collection).
        prefix: Metric name prefix.
    """

    def __init__(self, snapshot: Callable[[], Mapping[str, Mapping[str, float]]],
                 prefix: str = "sensory_scraper"):
        self._snapshot = snapshot
        self._prefix = prefix

    def collect(self):
        """Yields one counter family per counter name."""
        families: dict[str, CounterMetricFamily] = {}
        for source, counters in sorted(self._snapshot().items()):
            for name, value in sorted(counters.items()):
                if not _IDENTIFIER.fullmatch(name):
                    continue
                family = families.get(name)
                if family is None:
                    family = families[name] = CounterMetricFamily(
                        f"{self._prefix}_{name}", f"Scraper counter {name} per source.",
                        labels=["source"])
                family.add_metric([safe_label(source)], value)
        yield from families.values()


def push_counter_snapshot(snapshot: Mapping[str, Mapping[str, float]], *, job: str,
                          gateway: Optional[str] = None) -> bool:
    """Pushes a finished run's ``{source: {counter: value}}`` (see ``CounterSnapshotCollector``).

    One group per source (``job`` + ``source``), so each source's last run replaces only its own
    numbers.

    Returns:
        Whether every source's push succeeded.
    """
    pushed = True
    for source, counters in snapshot.items():
        registry = CollectorRegistry()
        registry.register(CounterSnapshotCollector(lambda s=source, c=counters: {s: c}))
        pushed = push(registry, job=job, grouping_key={"source": source},
                      gateway=gateway) and pushed
    return pushed


def env_port(variable: str, default: int) -> int:
    """A metrics port from ``$variable`` (0 disables), for processes without an option for it."""
    return endpoints.port(variable, default) if os.environ.get(variable) != "0" else 0
