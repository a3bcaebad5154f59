"""What a Weaviate import costs the machine, per collection configuration, and what it buys.

On the local stack (``sensory stack up`` first), for each configuration below: a fresh
collection, the sample posts' real embeddings (``--objects``, halves A and B) and the scenario's
first step with A (``fresh``: none; ``churn``: A imported, then deleted, as a clean-up or a
retention job would; ``replay``: A imported twice with the same UUIDs and vectors, as a restart
from committed offsets would), then B imported in the sink's batches (``insert_many`` of
``--batch_size``). Printed: the Weaviate server's CPU seconds per object of B (``/proc`` of its
pid file), the import's rate, and recall@10 of ``--queries`` searches (``near_vector``, the
server's default ``ef``) against the exact cosine top 10 of the live objects, computed here.
Configurations run in interleaved rounds; ratios are to the first configuration of a round.

The pipeline shares this machine with Weaviate, so every CPU-second an import takes is one the
model does not get (docs/performance-history.md, eleventh session).

Usage: python -m bench.weaviate_index [--objects 6000] [--rounds 2] [--queries 200]
       [--scenario fresh|churn|replay] [--configs m64-efc128,m16-efc64]
"""
import argparse
import os
import statistics
import time
import uuid
from pathlib import Path

import numpy as np

from bench.e2e import make_lines
from sensory.io.weaviate import WeaviateSettings, connect
from sensory.io.weaviate_schema import COLLECTIONS, SOCIAL_POST, object_properties
from sensory.models import RECORD_MODELS, RECORD_TYPE_KEY

# Which text properties get which inverted index: "all" (Weaviate's default: every text
# property filterable and searchable), "kw" (keyword search only on content, hashtags,
# location, product_category), "lean" (keyword search on content and hashtags only, and
# content not filterable word by word; every other property filterable).
INDEXES = {  # name -> (properties with keyword search, None: all; properties not filterable)
    "all": (None, set()),
    "kw": ({"content", "hashtags", "location", "product_category"}, set()),
    "lean": ({"content", "hashtags"}, {"content"}),
}
# name -> (max_connections, ef_construction, index choice)
CONFIGS = {
    "m64-efc128": (64, 128, "all"),
    "m32-efc128": (32, 128, "all"),
    "m16-efc128": (16, 128, "all"),
    "m16-efc64": (16, 64, "all"),
    "m64-efc64": (64, 64, "all"),
    "m32-efc64": (32, 64, "all"),
    "m32-efc128-kw": (32, 128, "kw"),
    "m64-efc64-lean": (64, 64, "lean"),
}


def weaviate_cpu() -> float:
    """CPU seconds the Weaviate server has used so far."""
    from sensory.stack.config import local_dir  # pylint: disable=import-outside-toplevel
    pid = int((local_dir() / "weaviate" / "weaviate.pid").read_text().strip())
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sample_objects(count: int) -> tuple[list[dict], list[str]]:
    """Processed-looking records (shielded, with context) and their embedding texts."""
    # pylint: disable=import-outside-toplevel,protected-access
    from sensory.transforms.context import _ContextFn, load_category_table
    from sensory.transforms.embeddings import embedding_text
    from sensory.transforms.pii import _ShieldFn
    from sensory.transforms.validate import _Rejected, parse_record
    shield, context = _ShieldFn(None), _ContextFn(load_category_table())
    shield.setup()
    context.setup()
    records, texts = [], []
    for line in make_lines(int(count * 1.3), 0.0, "widx"):
        try:
            record = parse_record(line, RECORD_MODELS["social"])
        except _Rejected:
            continue
        record[RECORD_TYPE_KEY] = "social"
        record = context.transform_record(shield.transform_record(record))
        records.append(record)
        texts.append(embedding_text(record))
        if len(records) == count:
            break
    return records, texts


def create(client, name: str, config: tuple[int, int, str]) -> None:
    """A collection with SocialPost's properties and the given index settings."""
    from weaviate.classes.config import (  # pylint: disable=import-outside-toplevel
        Configure, DataType, Property, VectorDistances)
    max_connections, ef_construction, indexes = config
    searchable, not_filterable = INDEXES[indexes]
    properties = [Property(
        name=prop.name, data_type=DataType(prop.data_type), skip_vectorization=True,
        index_searchable=(None if searchable is None or prop.name in searchable
                          or not prop.data_type.startswith("text") else False),
        index_filterable=False if prop.name in not_filterable else None)
        for prop in COLLECTIONS[SOCIAL_POST]]
    client.collections.create(
        name, properties=properties,
        vector_config=Configure.Vectors.self_provided(
            vector_index_config=Configure.VectorIndex.hnsw(
                distance_metric=VectorDistances.COSINE, max_connections=max_connections,
                ef_construction=ef_construction)))


def _import(collection, objects, batch_size) -> tuple[float, float]:
    """Imports ``objects``; returns (Weaviate CPU s per object, wall s)."""
    cpu, started = weaviate_cpu(), time.perf_counter()
    for start in range(0, len(objects), batch_size):
        result = collection.data.insert_many(objects[start:start + batch_size])
        if result.errors:
            raise RuntimeError(f"{len(result.errors)} objects rejected")
    return (weaviate_cpu() - cpu) / len(objects), time.perf_counter() - started


def measure(client, name: str, config, scenario: str, records, vectors, queries, truth,
            batch_size):
    """Imports half of the objects (B) into a fresh ``name`` after the scenario's first
    step with the other half (A); returns (CPU s per object of B, wall s, recall@10)."""
    from weaviate.classes.data import DataObject  # pylint: disable=import-outside-toplevel
    from weaviate.classes.query import Filter  # pylint: disable=import-outside-toplevel
    if client.collections.exists(name):
        client.collections.delete(name)
    create(client, name, config)
    collection = client.collections.get(name)
    objects = [DataObject(properties=object_properties(r), uuid=uuid.uuid4(), vector=v.tolist())
               for r, v in zip(records, vectors)]
    half = len(objects) // 2
    first, second = objects[:half], objects[half:]
    if scenario in ("churn", "replay"):
        _import(collection, first, batch_size)
    if scenario == "churn":
        # What a bench's clean-up (or a retention job) leaves: A's objects deleted.
        ids = [o.uuid for o in first]
        for start in range(0, len(ids), 5000):
            collection.data.delete_many(where=Filter.by_id().contains_any(ids[start:start + 5000]))
    if scenario == "replay":
        # A restart from committed offsets: the same objects again, same UUIDs and vectors.
        replay_cpu, _ = _import(collection, first, batch_size)
        print(f"  {name}: replay of A {replay_cpu * 1e6:.0f} us/object", flush=True)
    cpu, wall = _import(collection, second, batch_size)
    ids = [str(o.uuid) for o in objects]
    hits = 0
    for query, expected in zip(queries, truth):
        found = collection.query.near_vector(query.tolist(), limit=10)
        got = {str(o.uuid) for o in found.objects}
        hits += len(got & {ids[i] for i in expected})
    client.collections.delete(name)
    return cpu, wall, hits / (10 * len(queries))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=6000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--batch_size", type=int, default=200, help="the sink's default")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--scenario", choices=("fresh", "churn", "replay"), default="fresh",
                        help="before B is imported: nothing (fresh), A imported then deleted "
                             "(churn), A imported twice (replay)")
    args = parser.parse_args()
    from sensory.transforms.embeddings_model import load_encoder  # pylint: disable=import-outside-toplevel
    records, texts = sample_objects(args.objects)
    vectors = np.asarray(load_encoder(None, "onnx", "cpu").encode(texts, batch_size=64),
                         dtype=np.float32)
    rng = np.random.default_rng(5)
    # Queries: other posts' vectors, as a search for similar posts would send.
    # Queries: other posts' vectors, as a search for similar posts would send; truth is the
    # exact top 10 among the objects live at query time (B, or A and B after a replay).
    queries = vectors[rng.choice(len(vectors), args.queries, replace=False)]
    offset = 0 if args.scenario == "replay" else len(vectors) // 2
    truth = [offset + np.argsort(-(vectors[offset:] @ q))[:10] for q in queries]
    names = args.configs.split(",")
    figures = {name: [] for name in names}
    with connect(WeaviateSettings.from_env()) as client:
        for round_no in range(args.rounds):
            for name in names:
                cpu, wall, recall = measure(client, f"BenchIndex{round_no}", CONFIGS[name],
                                            args.scenario, records, vectors, queries, truth,
                                            args.batch_size)
                figures[name].append((cpu, wall, recall))
                print(f"round {round_no} {name:14s} weaviate CPU {cpu * 1e6:7.0f} us/object, "
                      f"import {len(records) // 2 / wall:7.0f} objects/s, recall@10 {recall:.3f}",
                      flush=True)
    first = names[0]
    for name in names:
        ratios = [cpu / figures[first][i][0] for i, (cpu, _, _) in enumerate(figures[name])]
        print(f"{name:14s} median CPU {statistics.median(c for c, _, _ in figures[name]) * 1e6:7.0f}"
              f" us/object, CPU ratio to {first} per round "
              f"{' / '.join(f'{r:.2f}' for r in ratios)}, recall@10 "
              f"{statistics.median(r for _, _, r in figures[name]):.3f}")


if __name__ == "__main__":
    main()
