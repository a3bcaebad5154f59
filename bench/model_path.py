"""The model path: ``encode`` rate per backend, thread count and batch size, in one run.

Variants, each over the same texts (the social pipeline's embedding texts of the sample
generator, made unique), interleaved over ``--rounds`` rounds so machine noise hits them all:

* ``torch`` with 1 and with all cores' intra-op threads (``torch.set_num_threads``);
* ``onnx`` (sentence-transformers' ONNX export run by ``OnnxEncoder``, as the pipelines do);
* ``onnx-st``: the same export run by sentence-transformers itself;
* ``onnx`` with session options set (intra-op threads = cores, sequential execution,
  all graph optimisations);
* ``onnx-qint8``: the export dynamically quantised to 8 bits (AVX2 kernels), which changes the
  vectors slightly: the cosine similarity to the torch vectors of the same texts is printed.

For each variant and batch size (``--batch_sizes``: the streaming case is small batches, the
bulk case large ones) it prints records/s (median of the rounds) and the ratio to torch with
default threads, plus ``uptime``.

Usage: python bench/model_path.py [--texts 512] [--batch_sizes 16,64] [--rounds 3]
"""
import argparse
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
import e2e  # noqa: E402  pylint: disable=wrong-import-position

from sensory.stack_secrets import local_dir  # noqa: E402  pylint: disable=wrong-import-position
from sensory.transforms.embeddings_model import (  # noqa: E402  pylint: disable=wrong-import-position
    default_model_path, load_encoder)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def _onnx_variants(cache_root: Path):
    """(name, model) for the ONNX variants; the int8 export is made once and kept."""
    # pylint: disable=import-outside-toplevel
    import onnxruntime
    from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model
    plain = load_encoder(None, "onnx", "cpu", str(cache_root))
    # The same export through sentence-transformers, which the quantiser also needs.
    through_st = load_encoder(None, "onnx", "cpu", str(cache_root), via_sentence_transformers=True)
    folder = cache_root / f"{Path(default_model_path()).name}-onnx"
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = os.cpu_count() or 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    tuned = SentenceTransformer(str(folder), backend="onnx", device="cpu", local_files_only=True,
                                model_kwargs={"session_options": options,
                                              "provider": "CPUExecutionProvider"})
    # The AVX2 configuration quantises to unsigned int8 ("quint8" in the file name).
    if not list((folder / "onnx").glob("model_q*8_avx2.onnx")):
        export_dynamic_quantized_onnx_model(through_st, "avx2", str(folder))
    (quantized_file,) = (folder / "onnx").glob("model_q*8_avx2.onnx")
    quantized = SentenceTransformer(str(folder), backend="onnx", device="cpu",
                                    local_files_only=True,
                                    model_kwargs={"file_name": f"onnx/{quantized_file.name}"})
    return [("onnx", plain), ("onnx-st", through_st), ("onnx-tuned", tuned),
            ("onnx-qint8", quantized)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--batch_sizes", default="16,64")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("SENSORY_PII_KEY", secrets.token_hex(32))
    import torch  # pylint: disable=import-outside-toplevel
    texts = e2e.pipeline_texts(e2e.make_lines(args.texts * 2, 0.0, "modelpath"))[:args.texts]
    print(f"{len(texts)} texts, mean {statistics.mean(map(len, texts)):.0f} chars; "
          f"{os.cpu_count()} cores; torch default threads {torch.get_num_threads()}")
    torch_model = load_encoder(None, "torch", "cpu")
    reference = torch_model.encode(texts, batch_size=64, normalize_embeddings=True)
    cores = os.cpu_count() or 1
    variants = [(f"torch-{threads}t", torch_model, threads)
                for threads in sorted({1, cores})]
    variants += [(name, model, cores) for name, model in
                 _onnx_variants(local_dir() / "models")]
    agreement = {}
    for name, model, _threads in variants:
        vectors = model.encode(texts, batch_size=64, normalize_embeddings=True)
        agreement[name] = float(np.min(np.sum(vectors * reference, axis=1)))
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    rates: dict[tuple[str, int], list[float]] = {}
    print(f"load before: {uptime()}")
    for round_ in range(args.rounds):
        for batch in batch_sizes:
            for name, model, threads in variants:
                torch.set_num_threads(threads)
                model.encode(texts[:batch], batch_size=batch)  # warm-up at this shape
                started = time.perf_counter()
                model.encode(texts, batch_size=batch, normalize_embeddings=True)
                rates.setdefault((name, batch), []).append(
                    len(texts) / (time.perf_counter() - started))
        print(f"round {round_ + 1} done | {uptime()}", flush=True)
    torch.set_num_threads(cores)
    base_name = f"torch-{cores}t"
    for batch in batch_sizes:
        base = statistics.median(rates[(base_name, batch)])
        for name, _model, _threads in variants:
            rate = statistics.median(rates[(name, batch)])
            runs = " / ".join(f"{r:.0f}" for r in rates[(name, batch)])
            print(f"batch {batch:4d} {name:11s} {rate:7.1f} rec/s (rounds {runs}), "
                  f"ratio to {base_name} {rate / base:.2f}, min cosine to torch "
                  f"{agreement[name]:.4f}")


if __name__ == "__main__":
    main()
