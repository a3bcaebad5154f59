"""Weather and embeddings: the enrichment stage both pipelines run after the shield.

The embedding modules are imported only when a run embeds: they import
``apache_beam.ml.inference.base``, which imports torch and scipy (about 3 s of a 6 s start on
this machine, docs/performance.md), and a ``--no_embeddings`` run needs neither.
"""
import functools
from typing import TYPE_CHECKING, Optional

import apache_beam as beam
from apache_beam import PCollection
from apache_beam.options.pipeline_options import StandardOptions

from sensory import endpoints
from sensory.io.weather import ReadCurrentWeather, WeatherSnapshots, local_base_url, \
    resolve_api_key
from sensory.pipelines.options import SensoryOptions
from sensory.transforms.weather import LOOKUP, AttachWeather, resolve_join

if TYPE_CHECKING:
    from sensory.transforms.embedding_cache import EmbeddingCache
    from sensory.transforms.embeddings_model import SentenceTransformerModelHandler


# Smallest RunInference batch of a streaming run unless --embedding_min_batch_size says
# otherwise: batches then start small and grow with the load (Beam's adaptive sizing).
STREAMING_MIN_BATCH_SIZE = 16


def min_batch_size(options: SensoryOptions) -> int:
    """``--embedding_min_batch_size``, else 16 when streaming, else the max batch size.

    A bounded run wants full batches (the model pads less: 1.17x raw encode against 0.77-0.83x
    in the same e2e runs). A stream keeps the earlier adaptive sizing from 16: a batch grows
    with the load rather than a record waiting for 255 others within its bundle.
    """
    if options.embedding_min_batch_size is not None:
        return options.embedding_min_batch_size
    if options.view_as(StandardOptions).streaming:
        return min(STREAMING_MIN_BATCH_SIZE, options.embedding_max_batch_size)
    return options.embedding_max_batch_size


def model_handler(options: SensoryOptions) -> "SentenceTransformerModelHandler":
    """The embedding model handler the options describe."""
    # Imported here: it pulls in torch (see the module docstring).
    from sensory.transforms.embeddings_model import (  # pylint: disable=import-outside-toplevel
        SentenceTransformerModelHandler)
    return SentenceTransformerModelHandler(
        model=options.embedding_model, backend=options.embedding_backend,
        device=options.embedding_device, min_batch_size=min_batch_size(options),
        max_batch_size=options.embedding_max_batch_size, threads=options.embedding_threads,
        encode_batch_size=options.embedding_encode_batch_size)


def enrich(pipeline: beam.Pipeline, records: PCollection, options: SensoryOptions, *,
           label: str, streaming: bool, weather: Optional[PCollection] = None):
    """Adds weather (side input) and embeddings; returns ``(records, dead_letters)``.

    Args:
        pipeline: The pipeline (for the weather source).
        records: Shielded, context-enriched records.
        options: Pipeline options.
        label: Step-name prefix (one per pipeline kind).
        streaming: Whether weather refreshes periodically.
        weather: A weather snapshot PCollection to use instead of fetching (tests).
    """
    dead_letters = []
    if not options.no_weather:
        refresh_s = options.weather_refresh_s if streaming else None
        join = resolve_join(options.weather_join, options.view_as(StandardOptions).runner)
        if weather is None:
            base_url = options.weather_base_url or local_base_url()
            source = {"base_url": base_url, "api_key": resolve_api_key(base_url),
                      "redis_url": _redis_url(options)}
            if join == LOOKUP:
                attach = AttachWeather(snapshots=WeatherSnapshots(**source), refresh_s=refresh_s)
            else:
                attach = AttachWeather(weather=pipeline | f"{label}Weather" >> ReadCurrentWeather(
                    **source, refresh_s=refresh_s))
        else:
            attach = AttachWeather(weather=weather)
        records = records | f"{label}AttachWeather" >> attach
    if not options.no_embeddings:
        # Imported here: it pulls in torch (see the module docstring).
        from sensory.transforms.embeddings import EmbedRecords  # pylint: disable=import-outside-toplevel
        records, failed = records | f"{label}Embed" >> EmbedRecords(
            model_handler=model_handler(options), cache=embedding_cache(options))
        dead_letters.append(failed)
    return records, dead_letters


def _redis_client(url: str):
    import redis  # pylint: disable=import-outside-toplevel
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=1)


def embedding_cache(options: SensoryOptions) -> Optional["EmbeddingCache"]:
    """The embedding cache the options describe: Redis at ``--redis_url``, or None."""
    url = _redis_url(options)
    if options.no_embedding_cache or not url:
        return None
    # Imported here: it pulls in torch (see the module docstring).
    from sensory.transforms.embedding_cache import EmbeddingCache  # pylint: disable=import-outside-toplevel
    return EmbeddingCache(redis_factory=functools.partial(_redis_client, url),
                          key_file=options.pii_key_file, ttl_s=options.embedding_cache_ttl_s)


def _redis_url(options) -> Optional[str]:
    """``--redis_url``; unset, the local stack's Redis; empty, no cache."""
    if options.redis_url is None:
        return endpoints.redis_url()
    return options.redis_url or None
