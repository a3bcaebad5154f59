"""The embedding cache against the stack's Redis: each distinct text embedded once."""
import functools
import json
import uuid

import apache_beam as beam
import numpy as np
import pytest
import redis
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.testing.util import assert_that, equal_to

from sensory.transforms.embedding_cache import (CACHE_NAMESPACE, KEY_PREFIX, EmbeddingCache,
                                                cache_key)
from sensory.transforms.embeddings import EmbedRecords, embedding_text
from sensory.transforms.embeddings_model import DEFAULT_BACKEND, SentenceTransformerModelHandler

pytestmark = pytest.mark.integration

TEXTS = ["Jamdani saree for Eid", "Rice cooker 1.8 litre offer", "iPhone 13 used, like new"]


def _records(salt: str):
    # 9 records, 3 distinct texts (each made unique to this test run by the salt).
    return [{"_record_type": "social", "post_id": f"p{i}", "hashtags": [],
             "content": f"{TEXTS[i % 3]} {salt}"} for i in range(9)]


def _client(url):
    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=1)


def _run(records, cache, out):
    handler = SentenceTransformerModelHandler(min_batch_size=1, max_batch_size=8)
    pipeline = beam.Pipeline()
    embedded, dead = pipeline | beam.Create(records) | EmbedRecords(
        model_handler=handler, cache=cache)
    assert_that(dead, equal_to([]), label="no_dead_letters")
    _ = (embedded | beam.Map(lambda r: json.dumps([r["post_id"], r["embedding"]]))
         | beam.io.WriteToText(str(out)))
    result = pipeline.run()
    result.wait_until_finish()
    counters = {}
    for counter in result.metrics().query(
            MetricsFilter().with_namespace(CACHE_NAMESPACE))["counters"]:  # look-up and store steps
        name = counter.key.metric.name
        counters[name] = counters.get(name, 0) + counter.committed
    rows = [json.loads(line) for path in out.parent.glob(f"{out.name}*") for line in open(path)]
    return dict(rows), counters


def test_each_distinct_text_is_embedded_once_and_every_record_gets_its_vector(
        redis_url, pii_key, tmp_path):
    salt = uuid.uuid4().hex
    cache = EmbeddingCache(redis_factory=functools.partial(_client, redis_url), ttl_s=60)
    uncached, _ = _run(_records(salt), None, tmp_path / "plain")
    first, first_counters = _run(_records(salt), cache, tmp_path / "first")
    second, second_counters = _run(_records(salt), cache, tmp_path / "second")
    assert set(first) == set(second) == set(uncached) == {f"p{i}" for i in range(9)}
    for post_id, vector in uncached.items():
        assert np.allclose(first[post_id], vector, atol=1e-6)
        assert second[post_id] == first[post_id]
    assert first_counters.get("misses") == 3 and first_counters.get("stored") == 3
    assert first_counters.get("batch_duplicates", 0) + first_counters.get("hits", 0) == 6
    assert second_counters.get("hits") == 9 and not second_counters.get("misses")
    keys = [cache_key(pii_key, f"all-MiniLM-L6-v2/{DEFAULT_BACKEND}", embedding_text(record))
            for record in _records(salt)[:3]]
    assert all(key.startswith(KEY_PREFIX) and 0 < _client(redis_url).ttl(key) <= 60
               for key in keys)


def test_redis_down_only_costs_the_cache(pii_key, tmp_path):
    cache = EmbeddingCache(redis_factory=functools.partial(_client, "redis://127.0.0.1:1/0"))
    vectors, counters = _run(_records("down"), cache, tmp_path / "down")
    assert len(vectors) == 9 and all(len(v) == 384 for v in vectors.values())
    assert counters.get("errors", 0) >= 2 and counters.get("misses") >= 3
