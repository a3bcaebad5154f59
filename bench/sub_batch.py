"""The model's sub-batch: texts per ONNX run when a RunInference batch is encoded, in one run.

The pipelines hand ``encode`` RunInference batches (``--embedding_max_batch_size``, 256) in
arrival order; ``encode`` sorts each by length and runs it in sub-batches of
``--embedding_encode_batch_size`` texts, each padded to its longest. This bench encodes the
sample generator's embedding texts that way, for each sub-batch size (``--sub_batches``) and
each number of parallel runs (``--runs``: 1 and one per core), and, as the reference, the same
texts in one ``encode`` call (sorted as a whole: the least padding any batching can reach).
Variants are interleaved over ``--rounds`` rounds; it prints CPU ms per text, texts per second
(medians) and each variant's ratio to the one named by ``--reference``, plus ``uptime``.

Usage: python bench/sub_batch.py [--texts 3000] [--block 256] [--sub_batches 8,16,32,64]
"""
import argparse
import os
import secrets
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import e2e  # noqa: E402  pylint: disable=wrong-import-position

from sensory.transforms.embeddings_model import (  # noqa: E402  pylint: disable=wrong-import-position
    load_encoder, worker_cores)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def measure(encoder, texts: list[str], block: int, sub_batch: int) -> tuple[float, float]:
    """Encodes ``texts`` in blocks of ``block`` (0: all at once); returns (CPU s, wall s)."""
    blocks = [texts[i:i + block] for i in range(0, len(texts), block)] if block else [texts]
    cpu, wall = time.process_time(), time.perf_counter()
    for chunk in blocks:
        encoder.encode(chunk, batch_size=min(sub_batch, len(chunk)), normalize_embeddings=True)
    return time.process_time() - cpu, time.perf_counter() - wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=3000, help="embedding texts encoded")
    parser.add_argument("--block", type=int, default=256, help="RunInference batch size")
    parser.add_argument("--sub_batches", default="8,16,32,64")
    parser.add_argument("--runs", default=f"1,{worker_cores()}",
                        help="parallel runs (OnnxEncoder threads) to try")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reference", default="blocks/64",
                        help="variant the ratios divide by, per run count: blocks/N or all/N")
    args = parser.parse_args()
    os.environ.setdefault("SENSORY_PII_KEY", secrets.token_hex(32))
    lines = e2e.make_lines(int(args.texts / 0.87) + 1, 0.0, "subbatch")
    texts = e2e.pipeline_texts(lines)[:args.texts]
    sizes = [int(s) for s in args.sub_batches.split(",")]
    print(f"{len(texts)} texts, blocks of {args.block}, sub-batches {sizes} | {uptime()}")
    for runs in sorted({int(r) for r in args.runs.split(",")}):
        encoder = load_encoder(None, "onnx", "cpu", threads=runs)
        encoder.encode(texts[:512], batch_size=64)  # warm-up: allocator, kernels
        variants = [(f"blocks/{s}", args.block, s) for s in sizes] + \
                   [(f"all/{s}", 0, s) for s in sizes]
        results: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in variants}
        for _ in range(args.rounds):
            for name, block, size in variants:
                results[name].append(measure(encoder, texts, block, size))
        reference = statistics.median(c for c, _ in results[args.reference])
        for name, _, _ in variants:
            cpu = statistics.median(c for c, _ in results[name])
            wall = statistics.median(w for _, w in results[name])
            print(f"runs {runs} {name:10s} CPU {cpu / len(texts) * 1e3:6.3f} ms/text, "
                  f"{len(texts) / wall:6.1f} texts/s, CPU ratio to {args.reference} "
                  f"{cpu / reference:5.3f}", flush=True)
        if hasattr(encoder, "close"):
            encoder.close()
    print(f"done | {uptime()}")


if __name__ == "__main__":
    main()
