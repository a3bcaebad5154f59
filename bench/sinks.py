"""Batched vs one-by-one writes: Snowflake (emulator) rows/s and Weaviate objects/s.

Snowflake: ``load_rows`` (CSV → PUT → COPY INTO → MERGE) for a batch, against parameterised
single-row INSERTs; and small loads (``--load_rows`` rows, ``--loads`` of each, interleaved) through
one ``StagingSession`` per connection, as the sink does (TRUNCATE, PUT, COPY, MERGE), against a
new session per load (CREATE STAGE, CREATE TABLE, PUT, COPY, MERGE): wall and emulator CPU per load. Weaviate: ``insert_many`` against ``insert`` per object. Each pair is
measured in one run on the local stack (``sensory stack up`` first); prints rates and ratios.

Usage: python bench/sinks.py [--rows 5000] [--single 300] [--loads 30] [--load_rows 50]
"""
import argparse
import os
import shutil
import tempfile
import time
import uuid

import numpy as np

from sensory.io.snowflake import StagingSession, load_rows
from sensory.io.snowflake_conn import SnowflakeSettings, connect
from sensory.io.snowflake_schema import SOCIAL_POSTS, TABLES
from sensory.io.weaviate import WeaviateSettings, connect as weaviate_connect


def _rows(prefix: str, count: int) -> list[dict]:
    return [{"POST_ID": f"{prefix}-{i}", "PLATFORM": "tiktok", "AUTHOR_HASH": "a" * 64,
             "CONTENT": f"bench post {i}", "ENGAGEMENT_COUNT": i, "HASHTAGS": ["#bench"],
             "CONTEXT": {"category": {"name": "general"}}, "ANONYMIZED": True,
             "EVENT_TIME": "2025-12-20T10:30:00+00:00", "INGESTED_AT": "2025-12-20T10:30:00+00:00"}
            for i in range(count)]


def _bench_table(cursor) -> str:
    """Creates a table of its own, shaped like SOCIAL_POSTS, so a benchmark leaves no trace."""
    bench_table = f"BENCH_SOCIAL_POSTS_{uuid.uuid4().hex[:6].upper()}"
    cursor.execute(TABLES[SOCIAL_POSTS].ddl().replace(SOCIAL_POSTS, bench_table, 1))
    return bench_table


def snowflake(rows: int, single: int) -> None:
    conn = connect(SnowflakeSettings.from_env())
    cursor = conn.cursor()
    bench_table = _bench_table(cursor)
    workdir = tempfile.mkdtemp()
    started = time.perf_counter()
    load_rows(conn, SOCIAL_POSTS, _rows("bb", rows), workdir, target=bench_table)
    batched = rows / (time.perf_counter() - started)
    started = time.perf_counter()
    for row in _rows("bs", single):
        cursor.execute(f"INSERT INTO {bench_table} (POST_ID, PLATFORM, AUTHOR_HASH, CONTENT, "
                       "ENGAGEMENT_COUNT) VALUES (%s, %s, %s, %s, %s)",
                       (row["POST_ID"], row["PLATFORM"], row["AUTHOR_HASH"], row["CONTENT"],
                        row["ENGAGEMENT_COUNT"]))
    one_by_one = single / (time.perf_counter() - started)
    cursor.execute(f"DROP TABLE {bench_table}")
    conn.close()
    shutil.rmtree(workdir, ignore_errors=True)
    print(f"snowflake emulator: batched {batched:9.1f} rows/s ({rows} rows), "
          f"row-by-row {one_by_one:7.1f} rows/s ({single} rows), ratio {batched / one_by_one:.1f}")


def _emulator_cpu() -> float:
    """CPU seconds the Snowflake emulator process has used (from its pid file)."""
    from pathlib import Path  # pylint: disable=import-outside-toplevel
    from sensory.stack.config import local_dir  # pylint: disable=import-outside-toplevel
    pid = int((local_dir() / "snowflake" / "snowflake.pid").read_text().strip())
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def snowflake_loads(loads: int, rows: int) -> None:
    conn = connect(SnowflakeSettings.from_env())
    cursor = conn.cursor()
    bench_table = _bench_table(cursor)
    workdir = tempfile.mkdtemp()
    shared = StagingSession(conn)
    walls = {"shared": [], "fresh": []}
    cpus = {"shared": 0.0, "fresh": 0.0}
    for index in range(loads):
        for kind in ("shared", "fresh"):
            batch = _rows(f"bl-{kind}-{index}", rows)
            cpu, started = _emulator_cpu(), time.perf_counter()
            load_rows(conn, SOCIAL_POSTS, batch, workdir, target=bench_table,
                      session=shared if kind == "shared" else None)
            walls[kind].append(time.perf_counter() - started)
            cpus[kind] += _emulator_cpu() - cpu
    cursor.execute(f"DROP TABLE {bench_table}")
    conn.close()
    shutil.rmtree(workdir, ignore_errors=True)
    median = {kind: sorted(values)[len(values) // 2] for kind, values in walls.items()}
    print(f"snowflake emulator, {loads} loads of {rows} rows each: one session per connection "
          f"{median['shared'] * 1e3:6.1f} ms/load (emulator CPU {cpus['shared'] / loads * 1e3:5.1f}"
          f" ms), a new session per load {median['fresh'] * 1e3:6.1f} ms/load (emulator CPU "
          f"{cpus['fresh'] / loads * 1e3:5.1f} ms), ratio {median['fresh'] / median['shared']:.2f}")


def weaviate(rows: int, single: int) -> None:
    from weaviate.classes.data import DataObject
    rng = np.random.default_rng(1)

    def objects(count):
        vectors = rng.normal(size=(count, 384))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return [DataObject(properties={"post_id": f"wb-{uuid.uuid4().hex}", "content": "bench"},
                           uuid=uuid.uuid4(), vector=v.tolist()) for v in vectors]

    from weaviate.classes.config import Configure, VectorDistances
    with weaviate_connect(WeaviateSettings.from_env()) as client:
        # A collection of its own (same vector index settings), deleted afterwards.
        name = f"BenchPosts{uuid.uuid4().hex[:6]}"
        collection = client.collections.create(name, vector_config=Configure.Vectors.self_provided(
            vector_index_config=Configure.VectorIndex.hnsw(
                distance_metric=VectorDistances.COSINE, max_connections=64, ef_construction=128)))
        batch = objects(rows)
        started = time.perf_counter()
        for i in range(0, rows, 200):
            result = collection.data.insert_many(batch[i:i + 200])
            assert not result.errors, result.errors
        batched = rows / (time.perf_counter() - started)
        singles = objects(single)
        started = time.perf_counter()
        for obj in singles:
            collection.data.insert(properties=obj.properties, uuid=obj.uuid, vector=obj.vector)
        one_by_one = single / (time.perf_counter() - started)
        client.collections.delete(name)
    print(f"weaviate: batched {batched:9.1f} obj/s ({rows} objects), "
          f"one-by-one {one_by_one:7.1f} obj/s ({single} objects), "
          f"ratio {batched / one_by_one:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--single", type=int, default=300)
    parser.add_argument("--loads", type=int, default=30)
    parser.add_argument("--load_rows", type=int, default=50)
    args = parser.parse_args()
    snowflake(args.rows, args.single)
    snowflake_loads(args.loads, args.load_rows)
    weaviate(args.rows, args.single)


if __name__ == "__main__":
    main()
