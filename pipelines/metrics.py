"""Beam metrics of a pipeline run as Prometheus metrics: live endpoint, final push, snapshot file.

Every ``sensory.*`` Beam metric becomes one series, summed over the steps that report it:

- counters: ``sensory_beam_counter_total{pipeline,stage,metric}``;
- distributions: ``sensory_beam_distribution_{count,sum}{pipeline,stage,metric}`` (a summary
  without quantiles) and ``sensory_beam_distribution_{min,max}`` (gauges). Beam's Python
  distributions carry count, sum, min and max only, so there are no percentiles to export;
- dead letters counted by reason (namespace ``sensory.dead_letters``, see
  ``sensory.transforms.observe``): ``sensory_dead_letters_total{pipeline,processor,error_type}``;
- the run itself: ``sensory_run_{start,end}_timestamp_seconds``, ``sensory_run_success``.

``stage`` is the namespace without ``sensory.``; both it and ``metric`` come from code, and pass
through ``safe_label`` anyway. The FnApiRunner (DirectRunner's batch engine) returns its
``PipelineResult`` only when the run is over, so for bounded DirectRunner runs ``/metrics``
shows the run's state while it runs and the Beam metrics once it ends; runners whose result
answers ``metrics()`` while running (the streaming DirectRunner, portable runners) are polled.
"""
import logging
import threading
import time
from collections import defaultdict
from typing import Optional

from apache_beam.metrics.metric import MetricsFilter
from apache_beam.runners.runner import PipelineState
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, SummaryMetricFamily

from sensory.metrics_export import push, safe_label, serve, write_snapshot

_LOGGER = logging.getLogger(__name__)

PREFIX = "sensory."
DEAD_LETTERS_NAMESPACE = "sensory.dead_letters"
PUSH_JOB = "sensory_pipeline"
_LABELS = ["pipeline", "stage", "metric"]


def _value(result):
    # Runners that do not commit metrics (e.g. some portable ones) leave committed as None.
    return result.committed if result.committed is not None else result.attempted


def aggregate(metric_results: dict) -> tuple[dict, dict]:
    """Sums a ``MetricResults.query()`` answer over steps, keeping ``sensory.*`` only.

    Returns:
        ``(counters, distributions)``: ``{(namespace, name): int}`` and
        ``{(namespace, name): [count, sum, min, max]}``.
    """
    counters: dict = defaultdict(int)
    for result in metric_results.get("counters", []):
        key = (result.key.metric.namespace, result.key.metric.name)
        if key[0].startswith(PREFIX) and _value(result) is not None:
            counters[key] += _value(result)
    distributions: dict = {}
    for result in metric_results.get("distributions", []):
        key = (result.key.metric.namespace, result.key.metric.name)
        value = _value(result)
        if not key[0].startswith(PREFIX) or value is None or not value.count:
            continue
        if key in distributions:
            old = distributions[key]
            distributions[key] = [old[0] + value.count, old[1] + value.sum,
                                  min(old[2], value.min), max(old[3], value.max)]
        else:
            distributions[key] = [value.count, value.sum, value.min, value.max]
    return dict(counters), distributions


class BeamMetricsCollector:
    """A prometheus-client collector over the latest Beam metrics of one run.

    Args:
        pipeline_kind: ``social`` or ``market`` (the ``pipeline`` label).
    """

    def __init__(self, pipeline_kind: str):
        self._kind = safe_label(pipeline_kind)
        self._lock = threading.Lock()
        self._counters: dict = {}
        self._distributions: dict = {}
        self._started = time.time()
        self._ended: Optional[float] = None
        self._success: Optional[bool] = None

    def update(self, result) -> None:
        """Takes the current metrics of a ``PipelineResult``."""
        counters, distributions = aggregate(result.metrics().query(MetricsFilter()))
        with self._lock:
            self._counters, self._distributions = counters, distributions

    def finish(self, success: bool) -> None:
        """Records the end of the run."""
        with self._lock:
            self._ended, self._success = time.time(), success

    def collect(self):
        """Yields the metric families (called by prometheus-client on every scrape)."""
        with self._lock:
            counters, distributions = dict(self._counters), dict(self._distributions)
            ended, success = self._ended, self._success
        kind = self._kind
        beam_counters = CounterMetricFamily("sensory_beam_counter",
                                            "Beam counters of sensory.* namespaces.",
                                            labels=_LABELS)
        dead = CounterMetricFamily("sensory_dead_letters", "Dead letters by processor and "
                                   "error type.", labels=["pipeline", "processor", "error_type"])
        for (namespace, name), value in sorted(counters.items()):
            if namespace == DEAD_LETTERS_NAMESPACE:
                processor, _, error_type = name.partition(".")
                dead.add_metric([kind, safe_label(processor), safe_label(error_type)], value)
            else:
                beam_counters.add_metric(
                    [kind, safe_label(namespace.removeprefix(PREFIX)), safe_label(name)], value)
        yield beam_counters
        yield dead
        summary = SummaryMetricFamily("sensory_beam_distribution",
                                      "Beam distributions of sensory.* namespaces (count, sum).",
                                      labels=_LABELS)
        low = GaugeMetricFamily("sensory_beam_distribution_min",
                                "Smallest value of a Beam distribution.", labels=_LABELS)
        high = GaugeMetricFamily("sensory_beam_distribution_max",
                                 "Largest value of a Beam distribution.", labels=_LABELS)
        for (namespace, name), (count, total, smallest, largest) in sorted(
                distributions.items()):
            labels = [kind, safe_label(namespace.removeprefix(PREFIX)), safe_label(name)]
            summary.add_metric(labels, count_value=count, sum_value=total)
            low.add_metric(labels, smallest)
            high.add_metric(labels, largest)
        yield from (summary, low, high)
        start = GaugeMetricFamily("sensory_run_start_timestamp_seconds",
                                  "When the run started.", labels=["pipeline"])
        start.add_metric([kind], self._started)
        yield start
        if ended is not None:
            end = GaugeMetricFamily("sensory_run_end_timestamp_seconds", "When the run ended.",
                                    labels=["pipeline"])
            end.add_metric([kind], ended)
            ok = GaugeMetricFamily("sensory_run_success", "1 if the run finished successfully.",
                                   labels=["pipeline"])
            ok.add_metric([kind], 1.0 if success else 0.0)
            yield from (end, ok)


class RunMetricsExporter:
    """Serves, polls, pushes and saves the metrics of one pipeline run.

    Args:
        pipeline_kind: ``social`` or ``market``.
        port: ``/metrics`` port while the run lasts; 0 for none.
        pushgateway: Pushgateway URL for the final snapshot; empty for none.
        snapshot_path: Text file for the final snapshot; None for none.
        poll_interval_s: How often a running result's metrics are read.
    """

    def __init__(self, pipeline_kind: str, *, port: int, pushgateway: str,
                 snapshot_path: Optional[str], poll_interval_s: float = 5.0):
        self._kind = pipeline_kind
        self._port = port
        self._pushgateway = pushgateway
        self._snapshot_path = snapshot_path
        self._poll_interval_s = poll_interval_s
        self.registry = CollectorRegistry()
        self.collector = BeamMetricsCollector(pipeline_kind)
        self.registry.register(self.collector)
        self._server = None
        self._stop = threading.Event()
        self._poller: Optional[threading.Thread] = None

    def __enter__(self):
        if self._port:
            self._server = serve(self.registry, self._port)
        return self

    def watch(self, result) -> None:
        """Polls ``result``'s metrics in the background while the run is not over."""
        if PipelineState.is_terminal(result.state):
            return
        self._poller = threading.Thread(target=self._poll, args=(result,), daemon=True,
                                        name="sensory-metrics-poll")
        self._poller.start()

    def _poll(self, result) -> None:
        while not self._stop.wait(self._poll_interval_s):
            try:
                self.collector.update(result)
            except Exception as err:  # pylint: disable=broad-except
                _LOGGER.debug("metrics not readable while running: %s", err)

    def finish(self, result, success: bool = True) -> None:
        """Takes the final metrics and pushes and saves them."""
        self._stop.set()
        if result is not None:
            try:
                self.collector.update(result)
            except Exception as err:  # pylint: disable=broad-except
                _LOGGER.warning("final metrics not readable: %s", err)
        self.collector.finish(success)
        push(self.registry, job=PUSH_JOB, grouping_key={"pipeline": self._kind},
             gateway=self._pushgateway)
        if self._snapshot_path:
            written = write_snapshot(self.registry, self._snapshot_path)
            if written:
                _LOGGER.info("metrics snapshot written to %s", written)

    def __exit__(self, *exc):
        self._stop.set()
        if self._poller is not None:
            self._poller.join(timeout=self._poll_interval_s + 1)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        return False
