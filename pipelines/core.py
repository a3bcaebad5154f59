"""The processing graph both pipelines share.

source → validate → shield PII → add context → weather → embeddings → sinks, with every
stage's dead letters collected (scrubbed) and sent to files or to their Kafka topics.
"""
import functools
import logging
from typing import NamedTuple, Optional

import apache_beam as beam
from apache_beam import PCollection
from apache_beam.options.pipeline_options import StandardOptions

from sensory.io.files import ReadJsonLines, WriteJsonLines
from sensory.io.kafka import ReadFromKafka, WriteToKafka, resolve_impl
from sensory.io.snowflake import BUNDLE_BATCHING, KEYED_BATCHING, WriteToSnowflake
from sensory.io.weather import local_base_url, resolve_api_key
from sensory.io.weaviate import WriteToWeaviate
from sensory.models import RECORD_MODELS
from sensory.pipelines.enrich import enrich
from sensory.pipelines.options import SINKS, SensoryOptions
from sensory.pipelines.routing import bootstrap_servers, dead_letter_topic, source_topics
from sensory.runtime import WorkerTuning
from sensory.settings import ConfigurationError, load_pii_key, pick_for_runner
from sensory.transforms.context import AddContext, load_category_table
from sensory.transforms.observe import CountDeadLetterReasons, ObserveEndToEndLatency
from sensory.transforms.pii import ScrubDeadLetters, ShieldPII
from sensory.transforms.stage import DEFAULT_CHAIN_BATCH, ChainStages
from sensory.transforms.validate import DEFAULT_MAX_MESSAGE_BYTES, ValidateRecords

_LOGGER = logging.getLogger(__name__)

RECORDS_FILE = "records"
DEAD_LETTERS_FILE = "dead_letters"


class PipelineOutputs(NamedTuple):
    """What ``build_pipeline`` returns, so tests can assert on it.

    Attributes:
        records: Processed records (validated, PII-free, with context).
        dead_letters: Every dead letter of every stage, already scrubbed of PII.
    """

    records: PCollection
    dead_letters: PCollection


class ProcessRecords(beam.PTransform[PCollection, PCollection[dict]]):
    """Validate → shield PII → add context; returns ``(records, scrubbed_dead_letters)``.

    Args:
        kind: ``"social"`` or ``"market"``.
        key_file: PII key file, or None for ``$SENSORY_PII_KEY``.
        categories: Category keyword table.
        max_message_bytes: Largest message accepted (``--max_message_bytes``).
        batch_size: Messages taken through each stage at once (``--stage_batch_size``).
        tuning: Applied to each worker before the first message (``--gc_young_threshold``,
            ``--switch_interval_ms``; ``sensory.runtime.tune_worker``); None leaves it alone.
    """

    def __init__(self, *, kind: str, key_file: Optional[str], categories: dict,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 batch_size: int = DEFAULT_CHAIN_BATCH,
                 tuning: Optional[WorkerTuning] = None):
        super().__init__()
        if kind not in RECORD_MODELS:
            raise ValueError(f"kind must be one of {sorted(RECORD_MODELS)}, got {kind!r}")
        self._kind = kind
        self._key_file = key_file
        self._categories = categories
        self._max_message_bytes = max_message_bytes
        self._batch_size = batch_size
        self._tuning = tuning

    def expand(self, messages):  # -> (records, dead_letters)
        # One step for the three: a step and an output between stages cost more per message
        # than validation itself on DirectRunner (docs/performance.md).
        records, failed = messages | "ValidateShieldContext" >> ChainStages(
            ValidateRecords(kind=self._kind, max_message_bytes=self._max_message_bytes),
            ShieldPII(key_file=self._key_file),
            AddContext(categories=self._categories), batch_size=self._batch_size,
            tuning=self._tuning)
        dead_letters = failed | "ScrubDeadLetters" >> ScrubDeadLetters(
            key_file=self._key_file, batch_size=self._batch_size)
        return records, dead_letters


def check_options(options: SensoryOptions) -> None:
    """Fails fast, before any worker starts, on settings the run cannot go without.

    Raises:
        ConfigurationError: No PII key, an unknown sink, a weather endpoint without key, a
            stage batch size, Snowflake shard or writer count below 1, bad worker tuning, or keyed
            Snowflake batching on DirectRunner.
    """
    load_pii_key(options.pii_key_file)
    if snowflake_batching(options) == KEYED_BATCHING and _runner_name(options) in _DIRECT_RUNNERS:
        # GroupIntoBatches' processing-time timer makes DirectRunner fall back from the
        # FnApiRunner to its legacy runner, on which the Kafka reader fails at once.
        raise ConfigurationError(
            "--snowflake_batching=keyed needs FlinkRunner or PortableRunner; on DirectRunner "
            "its timer moves the job to Beam's legacy direct runner, where the Kafka reader "
            "cannot run (use bundle, the default there)")
    if options.snowflake_writers < 1:
        raise ConfigurationError(
            f"--snowflake_writers must be at least 1, got {options.snowflake_writers}")
    if options.snowflake_shards < 1:
        raise ConfigurationError(
            f"--snowflake_shards must be at least 1, got {options.snowflake_shards}")
    for flag in ("weaviate_max_connections", "weaviate_ef_construction"):
        if getattr(options, flag) < 1:
            raise ConfigurationError(f"--{flag} must be at least 1, got {getattr(options, flag)}")
    if options.stage_batch_size < 1:
        raise ConfigurationError(
            f"--stage_batch_size must be at least 1, got {options.stage_batch_size}")
    if options.gc_young_threshold < 0:
        raise ConfigurationError(
            f"--gc_young_threshold must be 0 (Python's collector as it is) or more, "
            f"got {options.gc_young_threshold}")
    if not 0 <= options.switch_interval_ms <= 1000:
        raise ConfigurationError(
            f"--switch_interval_ms must be from 0 (Python's, 5 ms) to 1000, "
            f"got {options.switch_interval_ms}")
    unknown = set(_sinks(options)) - set(SINKS)
    if unknown:
        raise ConfigurationError(f"unknown sink(s) {sorted(unknown)}; choose from {SINKS}")
    if not options.no_weather:
        resolve_api_key(options.weather_base_url or local_base_url())


def worker_tuning(options: SensoryOptions) -> WorkerTuning:
    """The process tuning ``--gc_young_threshold`` and ``--switch_interval_ms`` ask for."""
    return WorkerTuning(options.gc_young_threshold, options.switch_interval_ms)


def _sinks(options: SensoryOptions) -> list[str]:
    return [name.strip() for name in (options.sinks or "").split(",") if name.strip()]


_DIRECT_RUNNERS = frozenset({"", "directrunner", "switchingdirectrunner",
                             "bundlebaseddirectrunner"})


def _runner_name(options: SensoryOptions) -> str:
    return (options.view_as(StandardOptions).runner or "").rsplit(".", 1)[-1].lower()


def snowflake_batching(options: SensoryOptions) -> str:
    """``--snowflake_batching``, with ``auto`` → keyed on a streaming Flink run, else bundle.

    DirectRunner is left on bundle batching: its bundles are already large, and the batching's
    processing-time timer would move the job to Beam's legacy direct runner.
    """
    standard = options.view_as(StandardOptions)
    if options.snowflake_batching != "auto":
        return options.snowflake_batching
    on_flink = pick_for_runner("auto", standard.runner, on_flink=KEYED_BATCHING,
                               elsewhere=BUNDLE_BATCHING, what="snowflake batching")
    return on_flink if standard.streaming else BUNDLE_BATCHING


def read_messages(pipeline: beam.Pipeline, options: SensoryOptions, *, kind: str,
                  label: str) -> PCollection:
    """Raw messages from ``--input_file``, else from the kind's Kafka topics."""
    if options.input_file:
        return pipeline | f"Read{label}Files" >> ReadJsonLines(file_pattern=options.input_file)
    return pipeline | f"Read{label}Kafka" >> ReadFromKafka(
        bootstrap_servers=bootstrap_servers(options),
        topics=source_topics(kind, options.topics),
        consumer_group=options.consumer_group or f"sensory-{kind}",
        impl=resolve_impl(options.kafka_impl, options.view_as(StandardOptions).runner),
        read_until_end=options.read_until_end, max_num_records=options.max_num_records,
        max_read_time_s=options.max_read_time, poll_timeout_s=options.kafka_poll_timeout,
        expansion_jar=options.kafka_expansion_jar,
        expansion_service=options.kafka_expansion_service)


def build_pipeline(pipeline: beam.Pipeline, options: SensoryOptions, *, kind: str,
                   messages: Optional[PCollection] = None,
                   weather: Optional[PCollection] = None) -> PipelineOutputs:
    """Adds the whole job for one record kind to ``pipeline``.

    Source: ``messages`` if given (tests), else ``--input_file``, else Kafka. Sinks:
    ``--output_dir`` files, else the ``--sinks`` (Snowflake, Weaviate) with dead letters to
    their Kafka topics.

    Args:
        pipeline: The pipeline to add to.
        options: Its options, viewed as ``SensoryOptions``.
        kind: ``"social"`` or ``"market"``.
        messages: Raw messages to use instead of the configured source; elements are
            ``SourceMessage``, bytes or str.
        weather: Weather snapshots to use instead of fetching them (tests).

    Returns:
        The enriched records and every (scrubbed) dead letter.
    """
    label = kind.capitalize()
    if messages is None:
        messages = read_messages(pipeline, options, kind=kind, label=label)
    records, dead_letters = messages | f"Process{label}" >> ProcessRecords(
        kind=kind, key_file=options.pii_key_file,
        categories=load_category_table(options.categories_file),
        max_message_bytes=options.max_message_bytes, batch_size=options.stage_batch_size,
        tuning=worker_tuning(options))
    streaming = options.view_as(StandardOptions).streaming
    # Before enrich: RunInference's batching re-timestamps what it emits at bundle end.
    _ = records | f"{label}EndToEndLatency" >> ObserveEndToEndLatency()
    records, enrich_dead = enrich(pipeline, records, options, label=label,
                                  streaming=streaming, weather=weather)
    all_dead = [dead_letters, *enrich_dead]

    if options.output_dir:
        _ = records | f"Write{label}Records" >> WriteJsonLines(
            output_dir=options.output_dir, name=RECORDS_FILE)
    else:
        sinks = _sinks(options)
        if "snowflake" in sinks:
            _, failed = records | f"{label}ToSnowflake" >> WriteToSnowflake(
                batch_size=options.snowflake_batch_size,
                max_buffering_s=options.snowflake_max_buffering_s,
                batching=snowflake_batching(options), shards=options.snowflake_shards,
                writers=options.snowflake_writers)
            all_dead.append(failed)
        if "weaviate" in sinks and not options.no_embeddings:
            _, failed = records | f"{label}ToWeaviate" >> WriteToWeaviate(
                batch_size=options.weaviate_batch_size,
                max_buffering_s=options.weaviate_max_buffering_s,
                max_connections=options.weaviate_max_connections,
                ef_construction=options.weaviate_ef_construction)
            all_dead.append(failed)
    dead = tuple(all_dead) | f"{label}AllDeadLetters" >> beam.Flatten()
    _ = dead | f"{label}CountDeadLetters" >> CountDeadLetterReasons()
    if options.output_dir:
        _ = dead | f"Write{label}DeadLetters" >> WriteJsonLines(
            output_dir=options.output_dir, name=DEAD_LETTERS_FILE)
    else:
        _ = dead | f"{label}DeadLettersToKafka" >> WriteToKafka(
            bootstrap_servers=bootstrap_servers(options),
            topic_of=functools.partial(dead_letter_topic, kind))
    return PipelineOutputs(records, dead)
