"""Child of ``bench/startup.py --breakdown``: one bounded social run timed phase by phase.

Usage: python bench/startup_phases.py TOPIC MODE   (MODE: plain or embeddings)

Prints one JSON line: the seconds of each phase (from the first statement of this script, so
the imports are cold) and the run's own latency metrics that fall inside the run: Kafka
consume calls, sink flushes (connect, schema check and load) and RunInference's model load.
"""
import time

_STARTED = time.perf_counter()

# pylint: disable=wrong-import-position,import-outside-toplevel
import json  # noqa: E402
import sys  # noqa: E402
import uuid  # noqa: E402

# Distributions of the run that are part of its fixed cost (all in milliseconds).
IN_RUN = ("sensory.kafka_read/consume_latency_ms", "sensory.snowflake_sink/flush_latency_ms",
          "sensory.weaviate_sink/flush_latency_ms", "load_model_latency_milli_secs")
MODES = {"plain": ["--no_embeddings", "--sinks=snowflake"],
         "embeddings": ["--sinks=snowflake,weaviate"]}


def main(topic: str, mode: str) -> None:
    """Runs the pipeline in this process like ``launcher.run``, timing each phase."""
    phases = {}
    mark = _STARTED

    def phase(name):
        nonlocal mark
        now = time.perf_counter()
        phases[name] = round(now - mark, 3)
        mark = now

    import apache_beam as beam
    phase("import apache_beam")
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions

    from sensory.pipelines import core, launcher, preflight
    from sensory.pipelines.social import SocialOptions
    phase("import sensory.pipelines")
    options = PipelineOptions([f"--topics={topic}", "--read_until_end",
                               f"--consumer_group=startup-{uuid.uuid4().hex[:8]}", *MODES[mode]])
    social = options.view_as(SocialOptions)
    core.check_options(social)
    preflight.check(social, kind="social")
    phase("option checks + preflight")
    pipeline = beam.Pipeline(options=options)
    core.build_pipeline(pipeline, social, kind="social")
    phase("build pipeline")
    with launcher.metrics_exporter("social", social) as exporter:
        result = pipeline.run()
        exporter.watch(result)
        result.wait_until_finish()
        phase("run (pipeline.run to finish)")
        exporter.finish(result)
    phase("metrics export")
    phases["total (to here)"] = round(time.perf_counter() - _STARTED, 3)
    inside = {}
    for dist in result.metrics().query(MetricsFilter())["distributions"]:
        name = f"{dist.key.metric.namespace}/{dist.key.metric.name}"
        if dist.committed is not None and dist.committed.count and name.endswith(IN_RUN):
            inside[name] = inside.get(name, 0) + dist.committed.sum
    print(json.dumps({"phases_s": phases, "in_run_ms": inside}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
