"""Running a pipeline from the command line: option checks, the run, and a summary."""
import glob
import json
import logging
import os
import sys
import traceback
from collections import Counter
from typing import Optional, Sequence

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from sensory import redact
from sensory.metrics_export import env_port, pushgateway_url
from sensory.pipelines import preflight
from sensory.pipelines.core import DEAD_LETTERS_FILE, RECORDS_FILE, build_pipeline, check_options, \
    worker_tuning
from sensory.pipelines.metrics import RunMetricsExporter
from sensory.pipelines.options import SensoryOptions
from sensory.runtime import tune_worker
from sensory.settings import ConfigurationError

_LOGGER = logging.getLogger(__name__)


def summarize_output(output_dir: str) -> dict:
    """Counts records and dead letters (by processor, error type and field) in an output dir.

    Args:
        output_dir: The ``--output_dir`` of a finished run.

    Returns:
        ``{"records": n, "dead_letters": n, "dead_letters_by_reason": {reason: n}}``.
    """
    def lines(name):
        for path in sorted(glob.glob(os.path.join(output_dir, f"{name}-*.jsonl"))):
            with open(path, encoding="utf-8") as handle:
                yield from (json.loads(line) for line in handle if line.strip())

    records = sum(1 for _ in lines(RECORDS_FILE))
    reasons = Counter()
    for dead in lines(DEAD_LETTERS_FILE):
        error, metadata = dead.get("error", {}), dead.get("metadata", {})
        field = error.get("message", "").split(":", 1)[0] if error.get(
            "type") == "ValidationError" else ""
        reason = f"{metadata.get('processor')} {error.get('type')}"
        reasons[f"{reason} ({field})" if field else reason] += 1
    return {"records": records, "dead_letters": sum(reasons.values()),
            "dead_letters_by_reason": dict(reasons.most_common())}


def format_summary(kind: str, summary: dict) -> str:
    """Renders ``summarize_output``'s result for people."""
    out = [f"{kind}: {summary['records']} records, {summary['dead_letters']} dead letters"]
    out += [f"  {count:6d}  {reason}" for reason, count in
            summary["dead_letters_by_reason"].items()]
    return "\n".join(out)


def stage_counters(result) -> dict[str, int]:
    """Returns the ``sensory.*`` counters of a finished run as ``{"namespace/name": value}``."""
    counters = result.metrics().query(MetricsFilter())["counters"]
    return {f"{c.key.metric.namespace}/{c.key.metric.name}": c.committed
            for c in counters if c.key.metric.namespace.startswith("sensory.")}


def run(kind: str, argv: Optional[Sequence[str]] = None,
        options_class: type[SensoryOptions] = SensoryOptions) -> int:
    """Parses options, checks them, runs the pipeline to completion and prints a summary.

    Args:
        kind: ``"social"`` or ``"market"``.
        argv: Command-line arguments (pipeline options); ``sys.argv[1:]`` when None.
        options_class: The pipeline's options class.

    Returns:
        The process exit code: 0 on success, 2 on a configuration error (one line on stderr
        naming the setting; the traceback too with ``--verbose`` or ``sensory -v``).
    """
    redact.install_log_filter()
    options = PipelineOptions(sys.argv[1:] if argv is None else list(argv))
    sensory_options = options.view_as(options_class)
    try:
        check_options(sensory_options)
        if not sensory_options.skip_preflight:
            preflight.check(sensory_options, kind=kind)
    except ConfigurationError as err:
        print(f"sensory {kind}: {' '.join(str(err).split())}", file=sys.stderr)
        if sensory_options.verbose or logging.getLogger().isEnabledFor(logging.INFO):
            traceback.print_exception(err)
        return 2
    pipeline = beam.Pipeline(options=options)
    build_pipeline(pipeline, sensory_options, kind=kind)
    # DirectRunner's worker is this process: tune it once its start-up objects all exist.
    tune_worker(worker_tuning(sensory_options))
    with metrics_exporter(kind, sensory_options) as exporter:
        result = None
        try:
            result = pipeline.run()
            exporter.watch(result)
            result.wait_until_finish()
        except BaseException:
            exporter.finish(result, success=False)
            raise
        exporter.finish(result)
    counters = stage_counters(result)
    for name, value in sorted(counters.items()):
        _LOGGER.info("metric %s = %s", name, value)
    if sensory_options.output_dir:
        print(format_summary(kind, summarize_output(sensory_options.output_dir)))
    else:
        print(format_counters(kind, counters))
    return 0


def metrics_exporter(kind: str, options: SensoryOptions) -> RunMetricsExporter:
    """The run's Prometheus exporter as the ``--metrics_*`` options (or their defaults) say."""
    port = options.metrics_port
    if port is None:
        port = env_port("SENSORY_PIPELINE_METRICS_PORT", 9464)
    gateway = pushgateway_url() if options.metrics_pushgateway is None \
        else options.metrics_pushgateway
    return RunMetricsExporter(kind, port=port, pushgateway=gateway,
                              snapshot_path=options.metrics_snapshot)


def format_counters(kind: str, counters: dict[str, int]) -> str:
    """One line per stage: received, ok and dead-lettered, from the run's metrics."""
    stages = sorted({name.rsplit("/", 1)[0] for name in counters})
    lines = [f"{kind}:"]
    for stage in stages:
        parts = [f"{metric}={counters[f'{stage}/{metric}']}"
                 for metric in ("received", "ok", "dead_lettered", "hits", "batch_duplicates",
                                "misses")
                 if f"{stage}/{metric}" in counters]
        if parts:
            lines.append(f"  {stage.removeprefix('sensory.'):22s} {' '.join(parts)}")
    return "\n".join(lines)
