"""A content-addressed embedding cache in Redis: each distinct text is embedded once.

Keys are ``sensory:emb:<HMAC-SHA256(pii_key, model id + normalised text)>``: the texts are
already PII-free (they are built after the shield), and keying them with the PII key means the
cache reveals nothing about the text to whoever reads Redis. Values are the vector as float32
bytes (what the model computes, so a cached vector equals a freshly computed one). Entries expire
after ``ttl_s``; give Redis a ``maxmemory`` with a ``volatile-lru`` policy to bound it in size.

A Redis outage only costs the cache: lookups count as misses and stores are skipped, both counted
under ``sensory.embedding_cache/errors``.
"""
import dataclasses
import hashlib
import hmac
import logging
import re
import unicodedata
from typing import Any, Callable, Iterable, Optional

import numpy as np
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from sensory.settings import load_pii_key

_LOGGER = logging.getLogger(__name__)

CACHE_NAMESPACE = "sensory.embedding_cache"
KEY_PREFIX = "sensory:emb:"
DEFAULT_TTL_S = 7 * 24 * 3600
_SPACES = re.compile(r"\s+")


@dataclasses.dataclass(frozen=True)
class EmbeddingCache:
    """How ``EmbedRecords`` reaches its cache.

    Attributes:
        redis_factory: Picklable callable returning a ``redis.Redis`` (called in ``setup()``).
        key_file: PII key file (the HMAC key of the cache keys); None reads ``$SENSORY_PII_KEY``.
        ttl_s: Seconds an entry lives.
    """

    redis_factory: Callable[[], Any]
    key_file: Optional[str] = None
    ttl_s: int = DEFAULT_TTL_S

    def __post_init__(self):
        if not callable(self.redis_factory):
            raise TypeError("redis_factory must be a callable returning a Redis client")
        if self.ttl_s < 1:
            raise ValueError(f"ttl_s must be >= 1, got {self.ttl_s}")


def normalise_text(text: str) -> str:
    """The form two texts must share to share a vector: NFC, whitespace collapsed, stripped.

    Case is kept: a cased model would embed "Apple" and "apple" differently.
    """
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def cache_key(secret: bytes, model_id: str, text: str) -> str:
    """The Redis key of ``text`` embedded by ``model_id``."""
    message = f"{model_id}\0{normalise_text(text)}".encode("utf-8", "surrogatepass")
    return KEY_PREFIX + hmac.new(secret, message, hashlib.sha256).hexdigest()


def encode_vector(vector) -> bytes:
    """A vector (list of floats) as little-endian float32 bytes."""
    return np.asarray(vector, dtype="<f4").tobytes()


def decode_vector(raw: bytes) -> list[float]:
    """The inverse of :func:`encode_vector`."""
    return np.frombuffer(raw, dtype="<f4").tolist()


class _CachedModel:
    """The wrapped model with its Redis client and key (RunInference shares it by weak ref)."""

    def __init__(self, model, redis_client, secret: bytes):
        self.model = model
        self.redis = redis_client
        self.secret = secret


class CachingModelHandler(ModelHandler[str, PredictionResult, Any]):
    """Wraps a text-embedding handler: each RunInference batch is looked up in Redis first.

    Per batch: one ``MGET``; the texts not found are encoded once per distinct text by the
    wrapped handler, stored with one pipelined ``SET … EX``, and every text of the batch gets
    its vector. Because lookup, encode and store happen in the same call, a text repeated in a
    later batch is already a hit. Working inside the handler, rather than as steps around
    RunInference, keeps the graph a single fused chain (a Flatten would split it, and on the
    FnApiRunner an unbounded read would then never reach the sinks).

    Args:
        inner: The handler that embeds (``SentenceTransformerModelHandler``).
        cache: Where the cache is.
    """

    def __init__(self, inner, cache: EmbeddingCache):
        super().__init__()
        self._inner = inner
        self._cache = cache
        self.model_name = inner.model_name

    def load_model(self):
        return _CachedModel(self._inner.load_model(), self._cache.redis_factory(),
                            load_pii_key(self._cache.key_file))

    def run_inference(self, batch, model, inference_args=None):
        model, redis_client, secret = model.model, model.redis, model.secret
        texts = list(batch)
        keys = [cache_key(secret, self.model_name, text) for text in texts]
        counters = {name: Metrics.counter(CACHE_NAMESPACE, name) for name in
                    ("hits", "batch_duplicates", "misses", "stored", "errors")}
        try:
            found = redis_client.mget(keys)
        except Exception as err:  # pylint: disable=broad-except
            _LOGGER.warning("embedding cache lookup failed (%s); embedding everything",
                            type(err).__name__)
            counters["errors"].inc()
            found = [None] * len(keys)
        vectors: dict[str, Any] = {}
        todo: dict[str, str] = {}
        hits = duplicates = 0
        for text, key, raw in zip(texts, keys, found):
            if raw is not None:
                hits += 1
                vectors[key] = decode_vector(raw)
            elif key in todo:
                duplicates += 1
            else:
                todo[key] = text
        if todo:
            results = self._inner.run_inference(list(todo.values()), model, inference_args)
            fresh = dict(zip(todo, (result.inference for result in results)))
            vectors.update(fresh)
            try:
                with redis_client.pipeline(transaction=False) as pipe:
                    for key, vector in fresh.items():
                        pipe.set(key, encode_vector(vector), ex=self._cache.ttl_s)
                    pipe.execute()
                counters["stored"].inc(len(fresh))
            except Exception as err:  # pylint: disable=broad-except
                _LOGGER.warning("embedding cache store failed (%s)", type(err).__name__)
                counters["errors"].inc()
        counters["hits"].inc(hits)
        counters["batch_duplicates"].inc(duplicates)
        counters["misses"].inc(len(todo))
        return [PredictionResult(text, vectors[key]) for text, key in zip(texts, keys)]

    def batch_elements_kwargs(self):
        return self._inner.batch_elements_kwargs()

    def get_metrics_namespace(self) -> str:
        return self._inner.get_metrics_namespace()

    def get_num_bytes(self, batch) -> int:
        return self._inner.get_num_bytes(batch)
