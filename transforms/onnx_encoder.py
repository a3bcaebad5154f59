"""Sentence embeddings from an ONNX export with ONNX Runtime and the fast tokenizer alone.

sentence-transformers' ONNX backend runs the same graph, but importing it pulls in transformers,
optimum and their dependencies: ~5 s of a worker's start-up on this project's 2-core machines,
plus its share of the interpreter's exit (docs/performance-history.md, "Start-up"). This encoder
reads the folder sentence-transformers exported (``onnx/model.onnx``, ``tokenizer.json``,
``modules.json`` and the pooling config) and reproduces its ``encode``: the tokenizer's own
normalisation, truncation at the model's maximum length, padding to the longest text of each
sub-batch, mean pooling over the attention mask and, when asked, L2 normalisation. Only the
module layouts it can reproduce exactly are accepted; anything else raises
``UnsupportedModelError`` so the caller falls back to sentence-transformers.

With ``parallel_runs`` > 1 the sub-batches of one ``encode`` call run side by side, each on one
thread of one shared session, instead of every run spreading over all cores (ONNX Runtime's
intra-op threads). Intra-op threads meet at a barrier after every operator, so when one of them
loses its core to another process the others wait (spinning) for it; independent runs do not.
On a 2-core machine, as another process took 40-80 % of one core, the CPU per text grew by
16-41 % with intra-op threads and stayed flat with parallel runs (docs/performance-history.md, ninth
session).
"""
import json
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np

_LOGGER = logging.getLogger(__name__)

_TRANSFORMER_MODULE = "Transformer"
_POOLING_MODULE = "Pooling"
_NORMALIZE_MODULE = "Normalize"
# The tokenizer's own limit when its config states none (BERT's position table).
_FALLBACK_MAX_LENGTH = 512
# With parallel runs a call is cut into at least this many sub-batches per run, so the runs
# finish close together (the longest first), but none smaller than _MIN_PARALLEL_CHUNK texts,
# where the per-run overhead would start to show.
_CHUNKS_PER_RUN = 4
_MIN_PARALLEL_CHUNK = 8


class UnsupportedModelError(ValueError):
    """The exported folder holds modules this encoder does not reproduce."""


def _module_kinds(folder: Path) -> list[tuple[str, str]]:
    modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
    return [(module["type"].rsplit(".", 1)[-1], module.get("path", "")) for module in modules]


def _check_layout(folder: Path) -> None:
    kinds = _module_kinds(folder)
    names = [kind for kind, _ in kinds]
    if names not in ([_TRANSFORMER_MODULE, _POOLING_MODULE],
                     [_TRANSFORMER_MODULE, _POOLING_MODULE, _NORMALIZE_MODULE]):
        raise UnsupportedModelError(f"modules {names} in {folder}: only Transformer, Pooling "
                                    "[, Normalize] are supported")
    pooling = json.loads((folder / kinds[1][1] / "config.json").read_text(encoding="utf-8"))
    modes = [key for key, value in pooling.items() if key.startswith("pooling_mode")
             and value not in (False, None)]
    if modes not in (["pooling_mode"], ["pooling_mode_mean_tokens"]) or \
            pooling.get("pooling_mode", "mean") != "mean":
        raise UnsupportedModelError(f"pooling {pooling} in {folder}: only mean pooling is "
                                    "supported")


def _config_value(folder: Path, name: str, key: str):
    path = folder / name
    return json.loads(path.read_text(encoding="utf-8")).get(key) if path.exists() else None


def _max_length(folder: Path) -> int:
    """The truncation length sentence-transformers uses: the Transformer module's
    ``max_seq_length`` if set, else the tokenizer's ``model_max_length``, capped by the model's
    position table."""
    positions = _config_value(folder, "config.json", "max_position_embeddings")
    length = (_config_value(folder, "sentence_bert_config.json", "max_seq_length")
              or _config_value(folder, "tokenizer_config.json", "model_max_length")
              or positions or _FALLBACK_MAX_LENGTH)
    return int(min(length, positions)) if positions else int(length)


class OnnxEncoder:
    """Encodes texts with an exported sentence-transformers folder; see the module docstring.

    Args:
        folder: The export: ``onnx/model.onnx`` with the tokenizer and module configs beside it.
        session_options: An ``onnxruntime.SessionOptions``; None for ONNX Runtime's defaults.
            With ``parallel_runs`` > 1, give it ``intra_op_num_threads = 1``.
        parallel_runs: Sub-batches run at once, each on its own thread (see the module
            docstring); 1 runs them one after another on the calling thread.

    Raises:
        UnsupportedModelError: The folder's modules are not Transformer, mean Pooling
            [, Normalize].
        FileNotFoundError: A file of the export is missing.
        ValueError: ``parallel_runs`` < 1.
    """

    def __init__(self, folder: str, *, session_options=None, parallel_runs: int = 1):
        if parallel_runs < 1:
            raise ValueError(f"parallel_runs must be >= 1, got {parallel_runs}")
        # Imported here, so that importing this module costs nothing until a model loads.
        import onnxruntime  # pylint: disable=import-outside-toplevel
        from tokenizers import Tokenizer  # pylint: disable=import-outside-toplevel
        root = Path(folder)
        _check_layout(root)
        self._normalize = _module_kinds(root)[-1][0] == _NORMALIZE_MODULE
        self._lower = bool(_config_value(root, "sentence_bert_config.json", "do_lower_case"))
        self._tokenizer = Tokenizer.from_file(str(root / "tokenizer.json"))
        # The saved tokenizer carries the padding and truncation of its last use; ours are
        # sentence-transformers': truncate at the model's length, pad to the longest text.
        self._tokenizer.enable_truncation(max_length=_max_length(root))
        # Padding is ours (``_run``): the texts are tokenized once, ordered by token count and
        # each sub-batch padded to its own longest.
        self._tokenizer.no_padding()
        pad_token = _config_value(root, "tokenizer_config.json", "pad_token") or "[PAD]"
        pad_id = self._tokenizer.token_to_id(pad_token)
        self._pad_id = 0 if pad_id is None else pad_id
        self._session = onnxruntime.InferenceSession(
            str(root / "onnx" / "model.onnx"), sess_options=session_options,
            providers=["CPUExecutionProvider"])
        self._inputs = {item.name for item in self._session.get_inputs()}
        self._dimension = int(self._session.get_outputs()[0].shape[-1])
        self._parallel_runs = parallel_runs
        # ONNX Runtime's Session.run may be called from several threads at once, and releases
        # the interpreter lock while it runs.
        self._pool = ThreadPoolExecutor(parallel_runs, thread_name_prefix="onnx-encoder") \
            if parallel_runs > 1 else None

    def close(self) -> None:
        """Stops the threads of the parallel runs; ``encode`` may not be called afterwards."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> "OnnxEncoder":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    def get_sentence_embedding_dimension(self) -> int:
        """The vectors' length."""
        return self._dimension

    def encode(self, sentences: Sequence[str], batch_size: int = 32,
               normalize_embeddings: bool = False, **_ignored) -> np.ndarray:
        """Encodes ``sentences`` into a ``(len(sentences), dimension)`` float32 array.

        The texts are tokenized once, ordered longest first by their number of tokens and run
        in sub-batches of at most ``batch_size``, each padded to its own longest text.
        sentence-transformers orders by characters instead; on the sample posts that left
        23-24 % of the tokens a sub-batch of 16 runs as padding, against 0-4 % here
        (docs/performance-history.md, thirteenth session). The vectors are the same. With parallel
        runs the sub-batches are smaller where that gives every run several of them.

        Args:
            sentences: The texts.
            batch_size: Most texts per model run.
            normalize_embeddings: L2-normalise each vector (the model's own Normalize module
                applies in any case).
            **_ignored: sentence-transformers' display and conversion arguments
                (``show_progress_bar``, ``convert_to_numpy``), which change nothing here.

        Returns:
            The vectors, in the order of ``sentences``.
        """
        if isinstance(sentences, str):
            raise TypeError("encode takes a sequence of texts, not one str")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        texts = [text.lower() for text in sentences] if self._lower else list(sentences)
        out = np.empty((len(texts), self._dimension), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(texts) if texts else []
        order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
        size = batch_size
        if self._pool is not None:
            size = min(batch_size, max(_MIN_PARALLEL_CHUNK, math.ceil(
                len(texts) / (self._parallel_runs * _CHUNKS_PER_RUN))))
        chunks = [order[start:start + size] for start in range(0, len(order), size)]
        if self._pool is None or len(chunks) == 1:
            for chunk in chunks:
                out[chunk] = self._run([encodings[i] for i in chunk])
        else:
            # map hands the chunks out longest first as runs free up, and yields in order.
            results = self._pool.map(lambda chunk: self._run([encodings[i] for i in chunk]),
                                     chunks)
            for chunk, vectors in zip(chunks, results):
                out[chunk] = vectors
        if normalize_embeddings or self._normalize:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out /= np.maximum(norms, 1e-12)
        return out

    def _run(self, encodings: list) -> np.ndarray:
        """Pads one sub-batch of unpadded ``tokenizers`` encodings and runs the model on it."""
        width = max(len(encoding.ids) for encoding in encodings)
        ids = np.full((len(encodings), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            length = len(encoding.ids)
            ids[row, :length] = encoding.ids
            mask[row, :length] = encoding.attention_mask
            types[row, :length] = encoding.type_ids
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = types
        hidden = self._session.run(None, feed)[0]
        weights = mask[:, :, None].astype(hidden.dtype)
        return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
