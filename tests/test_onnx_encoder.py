"""OnnxEncoder: sentence-transformers' vectors from the same export, without importing it."""
import json
import shutil
import subprocess
import sys
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sensory.transforms.embeddings_model import (EMBEDDING_DIM, _onnx_cache_dir,
                                                 _onnx_session_options, load_encoder,
                                                 model_cache_dir, resolve_model_path)
from sensory.transforms.onnx_encoder import OnnxEncoder, UnsupportedModelError

# Texts as posts arrive: Bangla and Latin script, digits, emoji, stray whitespace and control
# characters, empty strings, and texts far past the model's 256-token limit.
_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",))
_BANGLA = st.sampled_from("আমিবাংলাশাড়িঈদঅফার১২৩৪ ")
_TEXT = st.one_of(st.text(_CHARS, max_size=300), st.text(_BANGLA, max_size=300),
                  st.text(st.sampled_from("ab 1!😀\n\t"), min_size=900, max_size=1500))


@pytest.fixture(scope="module")
def export_folder():
    load_encoder(None, "onnx", "cpu")  # exports on first use
    return _onnx_cache_dir(resolve_model_path(None), model_cache_dir())


@pytest.fixture(scope="module")
def encoders(export_folder):
    reference = load_encoder(None, "onnx", "cpu", via_sentence_transformers=True)
    return OnnxEncoder(str(export_folder)), reference


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(_TEXT, min_size=1, max_size=12), batch_size=st.integers(1, 8))
def test_same_vectors_as_sentence_transformers(encoders, texts, batch_size):
    ours, reference = encoders
    expected = reference.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                convert_to_numpy=True, show_progress_bar=False)
    got = ours.encode(texts, batch_size=batch_size, normalize_embeddings=True)
    assert got.shape == (len(texts), EMBEDDING_DIM)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.fixture(scope="module")
def parallel_encoder(export_folder):
    with OnnxEncoder(str(export_folder), session_options=_onnx_session_options(1),
                     parallel_runs=3) as encoder:
        yield encoder


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(_TEXT, min_size=1, max_size=40), batch_size=st.integers(1, 16))
def test_parallel_runs_give_the_same_vectors_in_the_same_order(encoders, parallel_encoder,
                                                               texts, batch_size):
    _, reference = encoders
    expected = reference.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                                convert_to_numpy=True, show_progress_bar=False)
    got = parallel_encoder.encode(texts, batch_size=batch_size, normalize_embeddings=True)
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_parallel_runs_run_on_separate_threads_and_errors_reach_the_caller(export_folder):
    threads = set()
    with OnnxEncoder(str(export_folder), session_options=_onnx_session_options(1),
                     parallel_runs=2) as encoder:
        run = encoder._run  # pylint: disable=protected-access

        def recording_run(encodings):
            threads.add(threading.current_thread().name)
            if any("boom" in encoding.tokens for encoding in encodings):
                raise RuntimeError("run failed")
            return run(encodings)

        encoder._run = recording_run  # pylint: disable=protected-access
        vectors = encoder.encode([f"post number {i} " * (i % 7 + 1) for i in range(64)],
                                 batch_size=64)
        assert vectors.shape == (64, EMBEDDING_DIM)
        # 64 texts over 2 runs: sub-batches of 8, handed out to both threads.
        assert len(threads) == 2 and all(name.startswith("onnx-encoder") for name in threads)
        with pytest.raises(RuntimeError, match="run failed"):
            encoder.encode(["boom"] + ["fine"] * 40, batch_size=8)
    with pytest.raises(ValueError, match="parallel_runs"):
        OnnxEncoder(str(export_folder), parallel_runs=0)


def test_the_loader_runs_one_thread_per_run_and_one_run_per_thread_asked(export_folder):
    del export_folder  # exported
    model = load_encoder(None, "onnx", "cpu", threads=3)
    try:
        assert model._parallel_runs == 3  # pylint: disable=protected-access
        options = model._session.get_session_options()  # pylint: disable=protected-access
        assert options.intra_op_num_threads == 1
    finally:
        model.close()


def test_a_vector_does_not_depend_on_its_batch(encoders):
    ours, _ = encoders
    texts = ["Samsung Galaxy A15 best price", "ঈদ অফার", "x" * 2000, ""]
    together = ours.encode(texts, batch_size=4)
    alone = np.vstack([ours.encode([text]) for text in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)


def test_sub_batches_are_formed_by_token_count_not_characters(encoders):
    ours, _ = encoders
    widths = []
    run = ours._run  # pylint: disable=protected-access

    def recording_run(encodings):
        widths.append([len(encoding.ids) for encoding in encodings])
        return run(encodings)

    # Long words are few tokens per character, digits and punctuation many: ordering these by
    # characters would mix short and long token counts in every sub-batch.
    texts = ["supercalifragilistic " * (i % 5 + 1) for i in range(12)] + \
        ["1, 2; 3! 4? " * (i % 4 + 1) for i in range(12)]
    ours._run = recording_run  # pylint: disable=protected-access
    try:
        vectors = ours.encode(texts, batch_size=4)
    finally:
        ours._run = run  # pylint: disable=protected-access
    assert vectors.shape == (len(texts), EMBEDDING_DIM)
    flat = [width for batch in widths for width in batch]
    assert flat == sorted(flat, reverse=True) and len(flat) == len(texts)
    # Each sub-batch is padded to its first (longest) text, so no more padding than needed.
    np.testing.assert_allclose(vectors, np.vstack([ours.encode([text]) for text in texts]),
                               atol=1e-5)


def test_bad_calls_are_refused(encoders):
    ours, _ = encoders
    with pytest.raises(TypeError, match="sequence of texts"):
        ours.encode("one text")
    with pytest.raises(ValueError, match="batch_size"):
        ours.encode(["a"], batch_size=0)
    assert ours.encode([]).shape == (0, EMBEDDING_DIM)


def _copy_with_pooling(export_folder, target, pooling):
    # A full copy: sentence-transformers does not find a model behind a symlinked folder.
    shutil.copytree(export_folder, target)
    (target / "1_Pooling" / "config.json").write_text(json.dumps(pooling), encoding="utf-8")


def test_a_layout_it_cannot_reproduce_goes_through_sentence_transformers(export_folder,
                                                                         tmp_path):
    # CLS pooling: OnnxEncoder must refuse it rather than mean-pool, and the loader falls back.
    cls = {"embedding_dimension": EMBEDDING_DIM, "pooling_mode": "cls"}
    _copy_with_pooling(export_folder, tmp_path / export_folder.name, cls)
    with pytest.raises(UnsupportedModelError, match="mean pooling"):
        OnnxEncoder(str(tmp_path / export_folder.name))
    model = load_encoder(None, "onnx", "cpu", cache_root=str(tmp_path))
    assert type(model).__name__ == "SentenceTransformer"
    text = ["Jamdani saree collection for Eid"]
    cls_vector = model.encode(text, normalize_embeddings=True)
    mean_vector = OnnxEncoder(str(export_folder)).encode(text, normalize_embeddings=True)
    assert float(np.dot(cls_vector[0], mean_vector[0])) < 0.99


def test_the_pipelines_encoder_does_not_import_transformers(export_folder):
    # The point of OnnxEncoder: a worker's start-up skips sentence-transformers and transformers.
    code = ("import sys; from sensory.transforms.embeddings_model import load_encoder; "
            "model = load_encoder(None, 'onnx', 'cpu'); model.encode(['a'], batch_size=1); "
            "print(type(model).__name__, sorted(m for m in ('sentence_transformers', "
            "'transformers', 'optimum') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=120)
    assert done.stdout.split("\n")[-2] == "OnnxEncoder []", done.stdout + done.stderr
