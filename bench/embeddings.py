"""Embedding throughput: raw ``model.encode`` per backend, RunInference vs raw, ONNX vs torch.

All on the same 2,000 texts in one run. The RunInference stage is timed two ways: its own
``inference_batch_latency_micro_secs`` metric (time inside the model calls) and the pipeline's
wall time minus an identical pipeline without the stage and minus the model load (what the
stage costs end to end, batching included).

Usage: python bench/embeddings.py [--texts 2000] [--batch 64] [--stage_batch 256]
"""
import argparse
import time

import apache_beam as beam
import numpy as np
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import RunInference

from sensory.samples import sample_lines
from sensory.transforms.embeddings_model import (SentenceTransformerModelHandler,
                                                 load_encoder)


def texts(count: int) -> list[str]:
    import json
    out = []
    for line in sample_lines("social", count * 2, seed=5):
        try:
            record = json.loads(line)
            out.append(f"{record['content']} {' '.join(record.get('hashtags', []))}")
        except (ValueError, KeyError, TypeError):
            continue
    return (out * 2)[:count]


def raw_rate(model, batch: list[str], batch_size: int) -> tuple[float, np.ndarray]:
    model.encode(batch[:batch_size], batch_size=batch_size)  # warm-up
    started = time.perf_counter()
    vectors = model.encode(batch, batch_size=batch_size, normalize_embeddings=True)
    return len(batch) / (time.perf_counter() - started), vectors


def pipeline_seconds(batch: list[str], handler) -> tuple[float, float]:
    started = time.perf_counter()
    pipeline = beam.Pipeline()
    items = pipeline | beam.Create(batch)
    if handler is not None:
        items = items | RunInference(handler)
    _ = items | beam.combiners.Count.Globally()
    result = pipeline.run()
    result.wait_until_finish()
    wall = time.perf_counter() - started
    inside = 0.0
    for dist in result.metrics().query(MetricsFilter())["distributions"]:
        if dist.key.metric.name.endswith("inference_batch_latency_micro_secs"):
            inside += dist.committed.sum / 1e6
    return wall, inside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=64, help="model sub-batch (encode)")
    parser.add_argument("--stage_batch", type=int, default=256,
                        help="RunInference batch (the pipelines' default maximum)")
    args = parser.parse_args()
    batch = texts(args.texts)
    rates, vectors = {}, {}
    for backend in ("torch", "onnx"):
        model = load_encoder(None, backend, "cpu")
        rates[backend], vectors[backend] = raw_rate(model, batch, args.batch)
        print(f"raw model.encode [{backend}]: {rates[backend]:8.1f} rec/s")
    # The same model on the same texts in RunInference-sized chunks, in arrival order: encode()
    # on the whole list sorts all texts by length first (less padding), batches cannot.
    model = load_encoder(None, "torch", "cpu")
    started = time.perf_counter()
    for i in range(0, len(batch), args.batch):
        model.encode(batch[i:i + args.batch], batch_size=args.batch)
    chunk_rate = len(batch) / (time.perf_counter() - started)
    print(f"raw model.encode [torch] in {args.batch}-text calls, arrival order: "
          f"{chunk_rate:8.1f} rec/s")
    handler = SentenceTransformerModelHandler(min_batch_size=args.stage_batch,
                                              max_batch_size=args.stage_batch,
                                              encode_batch_size=args.batch)
    started = time.perf_counter()
    handler.load_model()  # what the stage pays once per worker: load plus warm-up batch
    load_s = time.perf_counter() - started
    empty_s, _ = pipeline_seconds(batch, None)
    wall_s, inside_s = pipeline_seconds(batch, handler)
    stage_rate = len(batch) / max(wall_s - empty_s - load_s, 1e-9)
    print(f"RunInference [torch] in-stage (model calls): {len(batch) / inside_s:8.1f} rec/s, "
          f"ratio to raw {len(batch) / inside_s / rates['torch']:.3f}, "
          f"to raw chunks {len(batch) / inside_s / chunk_rate:.3f}")
    print(f"RunInference [torch] end to end (pipeline {wall_s:.2f} s - empty {empty_s:.2f} s "
          f"- load {load_s:.2f} s): {stage_rate:8.1f} rec/s, "
          f"ratio to raw {stage_rate / rates['torch']:.3f}")
    cosine = np.sum(vectors["torch"] * vectors["onnx"], axis=1)
    print(f"ONNX vs torch speed ratio: {rates['onnx'] / rates['torch']:.3f}")
    print(f"min cosine(torch, onnx) over {len(batch)} texts: {cosine.min():.6f}")


if __name__ == "__main__":
    main()
