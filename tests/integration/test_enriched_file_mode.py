"""A file-mode run with weather from the emulator server and real embeddings."""
import glob
import json

import numpy as np
import pytest

from sensory.pipelines import social
from sensory.samples import sample_lines
from sensory.stack.weather_emulator import WeatherEmulator

pytestmark = pytest.mark.integration


def test_file_mode_records_carry_weather_and_embeddings(stack, redis_url, tmp_path, pii_key):
    emulator = WeatherEmulator().start_in_thread()
    try:
        source = tmp_path / "posts.jsonl"
        source.write_text("\n".join(sample_lines("social", 120, seed=21)) + "\n")
        out = tmp_path / "out"
        assert social.run([f"--input_file={source}", f"--output_dir={out}",
                           f"--weather_base_url={emulator.base_url}",
                           f"--redis_url={redis_url}"]) == 0
    finally:
        emulator.shutdown()
        emulator.server_close()
    records = [json.loads(line) for path in glob.glob(str(out / "records-*.jsonl"))
               for line in open(path, encoding="utf-8")]
    assert len(records) > 90
    with_city = [r for r in records if r.get("location")]
    assert with_city and all(r["context"]["weather_status"] == "ok" for r in with_city)
    assert all(r["context"]["weather"]["city"] == r["location"] for r in with_city)
    assert all(len(r["embedding"]) == 384 for r in records)
    by_category = {}
    for record in records:
        by_category.setdefault(record["context"]["category"]["name"], []).append(
            np.array(record["embedding"]))
    centroids = {name: np.mean(vectors, axis=0) for name, vectors in by_category.items()}
    # Each post is closer to its own category's centroid than to any other category's.
    hits = sum(max(centroids, key=lambda name: float(v @ centroids[name])) == category
               for category, vectors in by_category.items() for v in vectors)
    assert hits / len(records) > 0.8, hits / len(records)
