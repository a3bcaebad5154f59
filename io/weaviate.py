"""``WriteToWeaviate``: batch import of processed records with our own embedding vectors.

Objects get UUIDs derived from their natural key, so a replay overwrites instead of duplicating.
Per-object errors become dead letters from ``weaviate-sink``; failures of a whole request
(connection lost, server restarting) are retried with backoff before their records are
dead-lettered, so nothing is lost silently.
"""
import dataclasses
import logging
import os
from typing import Any, Optional

import apache_beam as beam
from apache_beam import PCollection

from sensory.deadletter import WEAVIATE_SINK
from sensory.io.sink import BufferedSinkFn, Failures, split_sink_outputs
from sensory.io.weaviate_schema import (COLLECTION_OF_KIND, COLLECTIONS, HNSW_EF_CONSTRUCTION,
                                        HNSW_MAX_CONNECTIONS, object_properties, object_uuid)

_LOGGER = logging.getLogger(__name__)

NAMESPACE = "sensory.weaviate_sink"
DEFAULT_BATCH_SIZE = 200
# Search is what users wait for: small, frequent imports (docs/sinks.md has the numbers).
DEFAULT_MAX_BUFFERING_S = 1.0


@dataclasses.dataclass(frozen=True)
class WeaviateSettings:
    """Where Weaviate is; the local stack by default.

    Attributes:
        host: HTTP host.
        http_port: HTTP port.
        grpc_port: gRPC port (weaviate-client v4 needs both).
        api_key: API key for a secured cluster, or None for anonymous access.
        secure: Whether to use TLS.
    """

    host: str = "127.0.0.1"
    http_port: int = 8080
    grpc_port: int = 50051
    api_key: Optional[str] = dataclasses.field(default=None, repr=False)
    secure: bool = False

    @classmethod
    def from_env(cls, environ: Optional[dict] = None) -> "WeaviateSettings":
        """``WEAVIATE_HOST``/``WEAVIATE_API_KEY``/``WEAVIATE_SECURE`` for a real cluster, else
        the stack's ports (``SENSORY_WEAVIATE_PORT``, ``SENSORY_WEAVIATE_GRPC_PORT``)."""
        env = os.environ if environ is None else environ
        return cls(host=env.get("WEAVIATE_HOST", "127.0.0.1"),
                   http_port=int(env.get("SENSORY_WEAVIATE_PORT", 8080)),
                   grpc_port=int(env.get("SENSORY_WEAVIATE_GRPC_PORT", 50051)),
                   api_key=env.get("WEAVIATE_API_KEY") or None,
                   secure=env.get("WEAVIATE_SECURE", "").lower() in ("1", "true", "yes"))


def connect(settings: WeaviateSettings):
    """Opens a weaviate-client v4 connection (close it, or use it as a context manager)."""
    import weaviate  # pylint: disable=import-outside-toplevel
    from weaviate.classes.init import Auth  # pylint: disable=import-outside-toplevel
    return weaviate.connect_to_custom(
        http_host=settings.host, http_port=settings.http_port, http_secure=settings.secure,
        grpc_host=settings.host, grpc_port=settings.grpc_port, grpc_secure=settings.secure,
        auth_credentials=Auth.api_key(settings.api_key) if settings.api_key else None,
        skip_init_checks=False)


def init_collections(client) -> list[str]:
    """Creates the collections that do not exist yet; returns the names created."""
    from weaviate.classes.config import (  # pylint: disable=import-outside-toplevel
        Configure, DataType, Property, VectorDistances)
    created = []
    for name, properties in COLLECTIONS.items():
        if client.collections.exists(name):
            continue
        client.collections.create(
            name,
            properties=[Property(name=p.name, data_type=DataType(p.data_type),
                                 skip_vectorization=True) for p in properties],
            vector_config=Configure.Vectors.self_provided(
                vector_index_config=Configure.VectorIndex.hnsw(
                    distance_metric=VectorDistances.COSINE,
                    max_connections=HNSW_MAX_CONNECTIONS,
                    ef_construction=HNSW_EF_CONSTRUCTION)))
        created.append(name)
    return created


class _WriteFn(BufferedSinkFn):
    def __init__(self, settings: WeaviateSettings, **kwargs):
        super().__init__(namespace=NAMESPACE, processor=WEAVIATE_SINK, **kwargs)
        self._settings = settings

    def written_key(self, record: dict) -> str:
        return str(object_uuid(record))

    def write_batch(self, batch: list[dict]) -> Failures:
        from weaviate.classes.data import DataObject  # pylint: disable=import-outside-toplevel
        failures: Failures = {}
        by_collection: dict[str, list[tuple[int, Any]]] = {}
        for index, record in enumerate(batch):
            vector = record.get("embedding")
            if not vector:
                failures[index] = ("MissingEmbedding", "record has no embedding to import")
                continue
            by_collection.setdefault(COLLECTION_OF_KIND[record["_record_type"]], []).append(
                (index, DataObject(properties=object_properties(record),
                                   uuid=object_uuid(record), vector=vector)))
        for name, items in by_collection.items():
            def insert(name=name, items=items):
                if self._client is None:
                    self._client = connect(self._settings)
                    init_collections(self._client)
                return self._client.collections.get(name).data.insert_many(
                    [obj for _, obj in items])
            try:
                result = self.retrying(f"importing {len(items)} objects into {name}", insert)
            except Exception as err:  # pylint: disable=broad-except
                message = f"import failed after {self._max_retries + 1} attempts: {err}"
                failures.update({index: (type(err).__name__, message) for index, _ in items})
                continue
            for position, error in result.errors.items():
                failures[items[position][0]] = ("ObjectRejected", error.message)
        return failures



class WriteToWeaviate(beam.PTransform[PCollection[dict], PCollection[str]]):
    """Imports processed records with their ``embedding`` into SocialPost / MarketOrder.

    Returns ``(written_uuids, dead_letters)``; records without an embedding, objects Weaviate
    rejects, and batches that keep failing after the retries become dead letters.

    Args:
        settings: Where Weaviate is; ``WeaviateSettings.from_env()`` when None.
        batch_size: Objects per import request.
        max_buffering_s: Longest a record waits in the buffer before an import.
        max_retries: Retries of a failed request before dead-lettering its records.
        backoff_s: First retry delay; doubles each retry.
    """

    def __init__(self, *, settings: Optional[WeaviateSettings] = None,
                 batch_size: int = DEFAULT_BATCH_SIZE,
                 max_buffering_s: float = DEFAULT_MAX_BUFFERING_S,
                 max_retries: int = 3, backoff_s: float = 1.0):
        super().__init__()
        if batch_size < 1 or max_buffering_s <= 0 or max_retries < 0 or backoff_s < 0:
            raise ValueError("batch_size must be >= 1, max_buffering_s > 0, max_retries and "
                             "backoff_s >= 0")
        self._settings = settings or WeaviateSettings.from_env()
        self._batch_size = batch_size
        self._max_buffering_s = max_buffering_s
        self._max_retries = max_retries
        self._backoff_s = backoff_s

    def expand(self, records):  # -> (written_uuids, dead_letters)
        return split_sink_outputs(records, "Import", _WriteFn(
            self._settings, batch_size=self._batch_size, max_buffering_s=self._max_buffering_s,
            max_retries=self._max_retries, backoff_s=self._backoff_s))


def object_counts(settings: WeaviateSettings) -> dict[str, int]:
    """Objects per collection (0 for a collection that does not exist)."""
    with connect(settings) as client:
        return {name: (len(client.collections.get(name))
                       if client.collections.exists(name) else 0) for name in COLLECTIONS}
