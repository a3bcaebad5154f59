"""ONNX on CPU: intra-op threads against parallel single-threaded runs, quiet and under load.

Encodes the sample generator's texts (as the pipeline embeds them) in RunInference-sized calls of
256, with the same export and one session each way:

* ``intra-op``: one run at a time, spread over ``--threads`` intra-op threads (ONNX Runtime's
  default layout, what ``OnnxEncoder`` did before the ninth session);
* ``parallel``: ``--threads`` sub-batches at once, each on one thread (``parallel_runs``).

Each round runs both, interleaved, at each competing load: a separate process that keeps one
core busy for the given share of every 10 ms (the stack's services and the pipeline's other
threads do this to the model in an end-to-end run). Prints texts per second, CPU milliseconds
per text, and the ratio parallel / intra-op per round.

Usage: ``SENSORY_PII_KEY=... python bench/encoder_threads.py [--texts 1500] [--rounds 2]``
"""
import argparse
import multiprocessing
import statistics
import time

from bench.e2e import make_lines, pipeline_texts
from sensory.transforms.embeddings_model import (_onnx_cache_dir, _onnx_session_options,
                                                 load_encoder, model_cache_dir,
                                                 resolve_model_path, worker_cores)
from sensory.transforms.onnx_encoder import OnnxEncoder

CALL_SIZE = 256  # RunInference's batch in a bounded run
ENCODE_BATCH = 64  # the handler's sub-batch


def _burn(share: float, stop) -> None:
    period = 0.010
    while not stop.is_set():
        started = time.perf_counter()
        while time.perf_counter() - started < period * share:
            pass
        time.sleep(period * (1 - share))


def _encode_all(encoder, texts: list[str]) -> tuple[float, float]:
    """Texts per second and CPU ms per text for ``texts`` in calls of CALL_SIZE."""
    started, cpu_started = time.perf_counter(), time.process_time()
    for start in range(0, len(texts), CALL_SIZE):
        encoder.encode(texts[start:start + CALL_SIZE], batch_size=ENCODE_BATCH,
                       normalize_embeddings=True)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return len(texts) / wall, 1000 * cpu / len(texts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=worker_cores())
    parser.add_argument("--loads", default="0,0.4,0.8",
                        help="competing load, as a share of one core (comma-separated)")
    args = parser.parse_args()

    load_encoder(None, "onnx", "cpu").close()  # exports on first use
    folder = str(_onnx_cache_dir(resolve_model_path(None), model_cache_dir()))
    texts = pipeline_texts(make_lines(args.texts * 2, 0.0, "threads"))[:args.texts]
    encoders = {
        "intra-op": OnnxEncoder(folder, session_options=_onnx_session_options(args.threads)),
        "parallel": OnnxEncoder(folder, session_options=_onnx_session_options(1),
                                parallel_runs=args.threads),
    }
    for encoder in encoders.values():
        encoder.encode(texts[:CALL_SIZE], batch_size=ENCODE_BATCH)  # warm-up
    print(f"{len(texts)} texts, {args.threads} threads each way, calls of {CALL_SIZE}")
    for load in (float(value) for value in args.loads.split(",")):
        stop = multiprocessing.Event()
        burner = multiprocessing.Process(target=_burn, args=(load, stop), daemon=True)
        if load:
            burner.start()
        ratios = []
        for round_ in range(args.rounds):
            rates = {}
            for name, encoder in encoders.items():
                rate, cpu = _encode_all(encoder, texts)
                rates[name] = rate
                print(f"load {load:.1f} round {round_ + 1} {name:9s} {rate:7.1f} texts/s, "
                      f"CPU {cpu:5.2f} ms/text", flush=True)
            ratios.append(rates["parallel"] / rates["intra-op"])
        stop.set()
        if load:
            burner.join()
        print(f"load {load:.1f}: parallel / intra-op = "
              f"{' / '.join(f'{r:.2f}' for r in ratios)} (median {statistics.median(ratios):.2f})")
    for encoder in encoders.values():
        encoder.close()


if __name__ == "__main__":
    main()
