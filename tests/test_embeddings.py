"""EmbedRecords with the packaged all-MiniLM-L6-v2 (offline), and its dead letters."""
import json

import apache_beam as beam
import numpy as np
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from sensory.pipelines.enrich import min_batch_size, model_handler
from sensory.pipelines.options import SensoryOptions
from sensory.transforms.embeddings import EmbedRecords, embedding_text
from sensory.transforms.embeddings_model import (DEFAULT_BACKEND, SentenceTransformerModelHandler,
                                                 load_encoder)

POSTS = {
    "smartphone": ["Samsung Galaxy A15 with 8GB RAM, best price", "iPhone 13 used, like new",
                   "Redmi Note 13 camera test and battery review"],
    "fashion": ["Jamdani saree collection for Eid", "Cotton panjabi in every size",
                "Embroidered kurti and salwar set"],
    "home": ["Non-stick cookware set for the kitchen", "Rice cooker 1.8 litre offer",
             "Blackout curtains for the bedroom"],
}


def _records():
    return [{"_record_type": "social", "post_id": f"{cat}-{i}", "content": text,
             "hashtags": [], "context": {"category": {"name": cat}}}
            for cat, texts in POSTS.items() for i, text in enumerate(texts)]


def test_embedding_text_composition():
    social = {"_record_type": "social", "content": "New phone", "hashtags": ["#deal"],
              "context": {"category": {"name": "smartphone"}}}
    market = {"_record_type": "market", "product_name": "Redmi 13",
              "context": {"category": {"name": "smartphone"}}}
    assert embedding_text(social) == "New phone deal smartphone"
    assert embedding_text(market) == "Redmi 13 smartphone"


def test_same_category_posts_lie_closer(tmp_path):
    out = tmp_path / "vectors"
    with TestPipeline() as p:
        embedded, dead = p | beam.Create(_records()) | EmbedRecords(
            model_handler=SentenceTransformerModelHandler(min_batch_size=2, max_batch_size=4))
        assert_that(dead, equal_to([]), label="no_dead_letters")
        _ = (embedded | beam.Map(lambda r: json.dumps([r["post_id"], r["embedding"],
                                                       r["_embedding_model"]]))
             | beam.io.WriteToText(str(out)))
    rows = [json.loads(line) for path in tmp_path.glob("vectors*") for line in open(path)]
    assert len(rows) == 9 and {row[2] for row in rows} == {f"all-MiniLM-L6-v2/{DEFAULT_BACKEND}"}
    vectors = {row[0]: np.array(row[1]) for row in rows}
    assert all(len(v) == 384 and abs(np.linalg.norm(v) - 1) < 1e-3 for v in vectors.values())
    within, across = [], []
    ids = sorted(vectors)
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            (within if a.split("-")[0] == b.split("-")[0] else across).append(
                float(vectors[a] @ vectors[b]))
    assert np.mean(within) > np.mean(across) + 0.15, (np.mean(within), np.mean(across))


class _BrokenModel:
    def encode(self, texts, **kwargs):
        raise RuntimeError("model crashed")


class _BrokenHandler(SentenceTransformerModelHandler):
    """Fails every batch, to exercise the dead-letter path without a real failure mode."""

    def load_model(self):
        return _BrokenModel()


def test_failed_batches_become_embedding_service_dead_letters():
    with TestPipeline() as p:
        embedded, dead = p | beam.Create(_records()[:3]) | EmbedRecords(
            model_handler=_BrokenHandler(min_batch_size=1, max_batch_size=2))
        assert_that(embedded, equal_to([]), label="nothing_embedded")
        assert_that(dead | beam.Map(lambda d: (d["original_data"]["post_id"],
                                               d["metadata"]["processor"])),
                    equal_to([(f"smartphone-{i}", "embedding-service") for i in range(3)]),
                    label="dead_letters")


def test_handler_checks_its_settings():
    with pytest.raises(ValueError):
        SentenceTransformerModelHandler(backend="tensorflow")
    with pytest.raises(ValueError):
        SentenceTransformerModelHandler(min_batch_size=10, max_batch_size=2)
    with pytest.raises(ValueError, match="encode_batch_size"):
        SentenceTransformerModelHandler(encode_batch_size=0)


class _RecordingModel:
    """Stands in for the encoder only to see the sub-batch size the handler asks for."""

    def __init__(self):
        self.batch_sizes = []

    def encode(self, texts, batch_size, **_kwargs):
        self.batch_sizes.append(batch_size)
        return np.zeros((len(texts), 3), dtype=np.float32)


@pytest.mark.parametrize("argv, texts, expected", [
    ([], 100, 16),  # the default sub-batch
    ([], 5, 5),  # never more than the batch holds
    (["--embedding_encode_batch_size=64"], 100, 64),
    (["--embedding_backend=torch"], 100, 64),  # only ONNX on CPU was measured at 16
    (["--embedding_device=cuda"], 100, 64),
])
def test_the_sub_batch_comes_from_the_options(argv, texts, expected):
    handler = model_handler(PipelineOptions(argv).view_as(SensoryOptions))
    model = _RecordingModel()
    assert len(handler.run_inference(["text"] * texts, model)) == texts
    assert model.batch_sizes == [expected]


def test_the_sub_batch_size_does_not_change_the_vectors():
    # Each sub-batch is padded to its own longest text, and padding is masked out.
    texts = ["New phone deal smartphone", "শাড়ি ঈদ অফার", "x", "Redmi 13 " * 40] * 5
    encoder = load_encoder(None, "onnx", "cpu", threads=1)
    small = encoder.encode(texts, batch_size=2, normalize_embeddings=True)
    large = encoder.encode(texts, batch_size=64, normalize_embeddings=True)
    assert np.sum(small * large, axis=1).min() > 0.9999


def test_batches_are_fixed_size_unless_a_minimum_is_given():
    # Without a minimum, Beam's adaptive sizing is left out: every batch but a bundle's last is
    # full (fuller batches pad less; docs/enrichment.md).
    assert SentenceTransformerModelHandler(max_batch_size=64).batch_elements_kwargs() == \
        {"min_batch_size": 64, "max_batch_size": 64}
    assert SentenceTransformerModelHandler(min_batch_size=8).batch_elements_kwargs() == \
        {"min_batch_size": 8, "max_batch_size": 256}


def test_onnx_and_torch_backends_give_the_same_vectors(tmp_path):
    # ONNX is the default because it is faster on CPU; it must not change what gets stored.
    texts = ["New phone deal smartphone", "শাড়ি ঈদ অফার", "x", "Redmi 13 " * 40]
    torch_vectors = load_encoder(None, "torch", "cpu").encode(
        texts, normalize_embeddings=True)
    onnx_vectors = load_encoder(None, "onnx", "cpu", threads=1).encode(
        texts, normalize_embeddings=True)
    cosines = np.sum(torch_vectors * onnx_vectors, axis=1)
    assert cosines.min() > 0.9999, cosines


@pytest.mark.parametrize("argv, expected", [
    ([], 256),  # bounded: full batches
    (["--streaming"], 16),  # streaming: small first batches, for latency
    (["--streaming", "--embedding_max_batch_size=8"], 8),
    (["--embedding_min_batch_size=32"], 32),
    (["--streaming", "--embedding_min_batch_size=64"], 64),
])
def test_min_batch_size_follows_the_run_kind(argv, expected):
    assert min_batch_size(PipelineOptions(argv).view_as(SensoryOptions)) == expected
