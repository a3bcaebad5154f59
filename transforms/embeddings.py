"""``EmbedRecords``: batched sentence-transformers embeddings for records via RunInference."""
from typing import Any, Iterable, Optional

import apache_beam as beam
from apache_beam import PCollection
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import KeyedModelHandler, PredictionResult, RunInference

from sensory.deadletter import EMBEDDING_SERVICE, SOURCE_KEY, make_dead_letter
from sensory.models import MARKET, RECORD_TYPE_KEY
from sensory.transforms.embedding_cache import CachingModelHandler, EmbeddingCache

EMBEDDINGS_NAMESPACE = "sensory.embeddings"
EMBEDDING_KEY = "embedding"
EMBEDDING_MODEL_KEY = "_embedding_model"


def embedding_text(record: dict[str, Any]) -> str:
    """The text a record is embedded by, as the plan composes it.

    Social: content + hashtags + product category; market: product name + category.
    """
    category = ((record.get("context") or {}).get("category") or {}).get("name")
    if record.get(RECORD_TYPE_KEY) == MARKET:
        parts = [record.get("product_name") or ""]
    else:
        parts = [record.get("content") or ""]
        parts += [tag.lstrip("#") for tag in record.get("hashtags") or []]
    if category:
        parts.append(category)
    return " ".join(part for part in parts if part)


def _attach(keyed: tuple[dict, PredictionResult], model_name: str) -> dict[str, Any]:
    record, result = keyed
    return {**record, EMBEDDING_KEY: result.inference, EMBEDDING_MODEL_KEY: model_name}


def _failed_batch_to_dead_letters(failed) -> Iterable[dict]:
    # RunInference's dead-letter output: (batch of (record, text), (exc type, message, trace)).
    batch, error = failed
    if isinstance(error, tuple):
        error_type, message = getattr(error[0], "__name__", str(error[0])), str(error[1])
    else:
        error_type, message = type(error).__name__, str(error)
    counter = Metrics.counter(EMBEDDINGS_NAMESPACE, "dead_lettered")
    for record, _text in batch:
        counter.inc()
        yield make_dead_letter(record, error_type=error_type,
                               message=f"embedding batch failed: {message}",
                               processor=EMBEDDING_SERVICE, source=record.get(SOURCE_KEY))


class EmbedRecords(beam.PTransform[PCollection[dict], PCollection[dict]]):
    """Adds ``embedding`` (a list of floats) and ``_embedding_model`` to every record.

    Batching follows the model handler's min/max batch sizes. With a ``cache``, each text is
    looked up first (``embedding_cache``) and only texts not seen before reach the model, once
    per distinct text; every record still gets its vector. Records of a batch that fails are
    dead letters from ``embedding-service``. Returns ``(records, dead_letters)``.

    Args:
        model_handler: A ``SentenceTransformerModelHandler`` (or any handler of str → vector
            with a ``model_name``).
        cache: Where the embedding cache is, or None to embed every record.
    """

    def __init__(self, *, model_handler, cache: Optional[EmbeddingCache] = None):
        super().__init__()
        if not hasattr(model_handler, "model_name"):
            raise TypeError("model_handler needs a model_name attribute")
        if cache is not None and not isinstance(cache, EmbeddingCache):
            raise TypeError("cache must be an EmbeddingCache or None")
        self._handler = model_handler
        self._cache = cache

    def expand(self, records):  # -> (records, dead_letters)
        handler = self._handler if self._cache is None else CachingModelHandler(
            self._handler, self._cache)
        keyed = records | "KeyByText" >> beam.Map(lambda r: (r, embedding_text(r)))
        main, failures = keyed | "Encode" >> RunInference(
            KeyedModelHandler(handler)).with_exception_handling()
        embedded = main | "Attach" >> beam.Map(_attach, self._handler.model_name)
        dead = failures.failed_inferences | "FailedBatches" >> beam.FlatMap(
            _failed_batch_to_dead_letters)
        return embedded, dead
