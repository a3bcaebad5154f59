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

import apache_beam as beam
import numpy as np
from apache_beam import pvalue
from apache_beam.metrics import Metrics
from apache_beam.utils.windowed_value import WindowedValue

from sensory.settings import load_pii_key

_LOGGER = logging.getLogger(__name__)

CACHE_NAMESPACE = "sensory.embedding_cache"
KEY_PREFIX = "sensory:emb:"
DEFAULT_TTL_S = 7 * 24 * 3600
MISS_TAG = "miss"
_SPACES = re.compile(r"\s+")


@dataclasses.dataclass(frozen=True)
class EmbeddingCache:
    """How ``EmbedRecords`` reaches its cache.

    Attributes:
        redis_factory: Picklable callable returning a ``redis.Redis`` (called in ``setup()``).
        key_file: PII key file (the HMAC key of the cache keys); None reads ``$SENSORY_PII_KEY``.
        ttl_s: Seconds an entry lives.
        batch_size: Texts per ``MGET`` lookup and per pipelined store.
    """

    redis_factory: Callable[[], Any]
    key_file: Optional[str] = None
    ttl_s: int = DEFAULT_TTL_S
    batch_size: int = 1000

    def __post_init__(self):
        if not callable(self.redis_factory):
            raise TypeError("redis_factory must be a callable returning a Redis client")
        if self.ttl_s < 1 or self.batch_size < 1:
            raise ValueError(f"ttl_s and batch_size must be >= 1, got {self.ttl_s}, "
                             f"{self.batch_size}")


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


class _CacheFn(beam.DoFn):
    """Shared set-up of the lookup and store steps: the Redis client, the key, the counters."""

    def __init__(self, redis_factory: Callable[[], Any], model_id: str,
                 key_file: Optional[str]):
        super().__init__()
        self._redis_factory = redis_factory
        self._model_id = model_id
        self._key_file = key_file
        self._redis = None
        self._secret = None

    def setup(self):
        self._redis = self._redis_factory()
        self._secret = load_pii_key(self._key_file)
        self._hits = Metrics.counter(CACHE_NAMESPACE, "hits")
        self._misses = Metrics.counter(CACHE_NAMESPACE, "misses")
        self._in_batch = Metrics.counter(CACHE_NAMESPACE, "batch_duplicates")
        self._stored = Metrics.counter(CACHE_NAMESPACE, "stored")
        self._errors = Metrics.counter(CACHE_NAMESPACE, "errors")

    def key(self, text: str) -> str:
        return cache_key(self._secret, self._model_id, text)

    def teardown(self):
        if self._redis is not None:
            try:
                self._redis.close()
            except Exception:  # pylint: disable=broad-except
                pass


class LookUpFn(_CacheFn):
    """``(record, text)`` in; hits out as ``(record, vector)``, misses tagged ``MISS_TAG``.

    Elements are buffered and looked up with one ``MGET`` per ``batch_size`` (and at the end of
    the bundle). A miss is one element per distinct text and window of the buffer,
    ``(key, text, [records])``, so a text repeated inside a buffer is embedded once as well.
    """

    def __init__(self, redis_factory: Callable[[], Any], model_id: str,
                 key_file: Optional[str], batch_size: int):
        super().__init__(redis_factory, model_id, key_file)
        self._batch_size = batch_size
        self._buffer: list = []

    def start_bundle(self):
        self._buffer = []

    def process(self, element: tuple[dict, str], timestamp=beam.DoFn.TimestampParam,
                window=beam.DoFn.WindowParam) -> Iterable[Any]:
        self._buffer.append((element, timestamp, window))
        if len(self._buffer) >= self._batch_size:
            yield from self._flush()

    def finish_bundle(self):
        yield from self._flush()

    def _flush(self) -> Iterable[Any]:
        buffer, self._buffer = self._buffer, []
        if not buffer:
            return
        keys = [self.key(text) for (_record, text), _ts, _window in buffer]
        try:
            found = self._redis.mget(keys)
        except Exception as err:  # pylint: disable=broad-except
            _LOGGER.warning("embedding cache lookup failed (%s); embedding everything",
                            type(err).__name__)
            self._errors.inc()
            found = [None] * len(keys)
        misses: dict[tuple, tuple] = {}
        hits = duplicates = 0
        for ((record, text), timestamp, window), key, raw in zip(buffer, keys, found):
            if raw is not None:
                hits += 1
                yield WindowedValue((record, decode_vector(raw)), timestamp, [window])
            elif (key, window) in misses:
                duplicates += 1
                misses[(key, window)][1].append(record)
            else:
                misses[(key, window)] = (text, [record], timestamp)
        for (key, window), (text, records, timestamp) in misses.items():
            yield pvalue.TaggedOutput(MISS_TAG, WindowedValue(
                (key, text, records), timestamp, [window]))
        self._hits.inc(hits)
        self._in_batch.inc(duplicates)
        self._misses.inc(len(misses))


class StoreFn(_CacheFn):
    """``((key, text, records), vector)`` in; ``(record, vector)`` out for each record.

    Vectors are written to Redis in pipelined batches of ``batch_size`` and at bundle end; the
    records go on at once.
    """

    def __init__(self, redis_factory: Callable[[], Any], model_id: str,
                 key_file: Optional[str], batch_size: int, ttl_s: int):
        super().__init__(redis_factory, model_id, key_file)
        self._batch_size = batch_size
        self._ttl_s = ttl_s
        self._pending: list = []

    def start_bundle(self):
        self._pending = []

    def process(self, element: tuple[tuple, list[float]]) -> Iterable[Any]:
        (key, _text, records), vector = element
        self._pending.append((key, vector))
        if len(self._pending) >= self._batch_size:
            self._store()
        for record in records:
            yield record, vector

    def finish_bundle(self):
        self._store()

    def _store(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                for key, vector in pending:
                    pipe.set(key, encode_vector(vector), ex=self._ttl_s)
                pipe.execute()
            self._stored.inc(len(pending))
        except Exception as err:  # pylint: disable=broad-except
            # The records already went on with their vectors; only later repeats pay for this.
            _LOGGER.warning("embedding cache store failed (%s)", type(err).__name__)
            self._errors.inc()
