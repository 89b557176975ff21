"""The onnxruntime backends of the packaged MiniLM: exported from the local weights, int8 close to
torch, cached once under concurrency, a clear fallback when the export fails, and a backend switch
that re-embeds the index."""

from __future__ import annotations

import shutil
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest

from tutor import onnx_encoder
from tutor.chunking import chunk_document, embedding_text
from tutor.documents import load_document
from tutor.embeddings import SentenceTransformerEmbedder, build_embedder, resolve_backend
from tutor.errors import EmbeddingModelMismatch
from tutor.onnx_encoder import OnnxSentenceEncoder, cpu_has_vnni, ensure_onnx_model
from tutor.service import TutorService
from tutor.settings import Settings, packaged_embedding_model

REPO = Path(__file__).resolve().parents[1]
SEEDS = ("000_224ce50211750157.txt", "001_e2ce60a967ffc981.txt")


def seed_texts() -> list[str]:
    texts = []
    for seed in SEEDS:
        document = load_document(REPO / "corpus" / seed)
        texts += [embedding_text(c) for c in chunk_document(document, seed)]
    return texts


@pytest.fixture(scope="module")
def torch_embedder() -> SentenceTransformerEmbedder:
    return build_embedder(Settings(embedding_backend="torch"))


@pytest.fixture(scope="module")
def int8_embedder() -> OnnxSentenceEncoder:
    embedder = build_embedder(Settings(embedding_backend="onnx-int8"))
    assert isinstance(embedder, OnnxSentenceEncoder), "the int8 export failed and fell back to torch"
    return embedder


def test_int8_vectors_are_within_cosine_098_of_torch_on_the_seed_documents(torch_embedder, int8_embedder) -> None:
    texts = seed_texts()
    assert len(texts) > 5
    reference = np.asarray(torch_embedder.embed_documents(texts))
    int8 = np.asarray(int8_embedder.embed_documents(texts))
    assert int8.shape == reference.shape
    assert np.allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-4)
    cosines = (reference * int8).sum(axis=1)
    assert cosines.min() >= 0.98, cosines
    # Queries go through the same path: a question lands on the same passage with either backend.
    question = "What does spaced practice do for memory?"
    best_torch = int(np.argmax(reference @ np.asarray(torch_embedder.embed_query(question))))
    best_int8 = int(np.argmax(int8 @ np.asarray(int8_embedder.embed_query(question))))
    assert best_torch == best_int8


def test_a_text_gets_the_same_int8_vector_whatever_is_embedded_with_it(int8_embedder) -> None:
    """int8 quantises a run's activations with one scale for the run: batched with a longer text, a
    sentence's vector moved by up to 0.02 (and answers with it). Each text is run alone."""
    sentence = "Encoding is the input of information into the memory system."
    alone = np.asarray(int8_embedder.embed_documents([sentence])[0])
    neighbours = ["A much longer passage about the stages of sleep, the circadian rhythm and how the "
                  "suprachiasmatic nucleus of the hypothalamus keeps the body's clock, to pad the batch.", "Hi."]
    assert np.array_equal(np.asarray(int8_embedder.embed_documents([*neighbours, sentence])[-1]), alone)
    assert np.array_equal(np.asarray(int8_embedder.embed_query(sentence)), alone)


def test_onnx_fp32_matches_torch_pooling_exactly(torch_embedder) -> None:
    """Mean pooling and normalisation reproduce sentence-transformers: fp32 ONNX is the same model."""
    embedder = build_embedder(Settings(embedding_backend="onnx"))
    assert isinstance(embedder, OnnxSentenceEncoder)
    texts = seed_texts()[:6] + ["short", "A much longer question about the hippocampus and memory consolidation?"]
    cosines = (np.asarray(torch_embedder.embed_documents(texts)) * np.asarray(embedder.embed_documents(texts))).sum(1)
    assert cosines.min() >= 0.9999, cosines


def test_the_backend_is_part_of_the_name(torch_embedder, int8_embedder) -> None:
    assert torch_embedder.name == "sentence-transformers/all-MiniLM-L6-v2"
    assert int8_embedder.name == "sentence-transformers/all-MiniLM-L6-v2@onnx-int8"


def test_auto_picks_int8_only_where_the_cpu_has_vnni(tmp_path) -> None:
    with_vnni = tmp_path / "vnni"
    with_vnni.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_vnni\n")
    without = tmp_path / "plain"
    without.write_text("processor\t: 0\nflags\t\t: fpu sse avx2\n")
    assert cpu_has_vnni(with_vnni) and not cpu_has_vnni(without)
    assert not cpu_has_vnni(tmp_path / "missing")
    assert resolve_backend("auto") == ("onnx-int8" if cpu_has_vnni() else "torch")
    assert resolve_backend("onnx") == "onnx"


def test_an_unknown_backend_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setenv("TUTOR_EMBEDDING_BACKEND", "tensorrt")
    with pytest.raises(ValueError, match="embedding_backend"):
        Settings()


def test_a_failed_export_warns_and_falls_back_to_torch(tmp_path) -> None:
    """Real failure: a model directory whose weights file is corrupt cannot be exported."""
    broken = tmp_path / "broken-model"
    shutil.copytree(packaged_embedding_model(), broken, ignore=shutil.ignore_patterns("model.safetensors"))
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    settings = Settings(embedding_model=str(broken), embedding_backend="onnx-int8", model_cache_dir=tmp_path / "cache")
    with pytest.warns(RuntimeWarning, match=r"TUTOR_EMBEDDING_BACKEND=onnx-int8: exporting .*broken-model.* failed"):
        embedder = build_embedder(settings)
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert not list((tmp_path / "cache").glob("*.onnx")), "no half-written model may stay in the cache"


def test_the_export_is_cached_and_done_once_under_concurrency(tmp_path, monkeypatch) -> None:
    """Four threads ask for the same model at once: one exports, all get the same complete file.
    (The exporter is replaced by a slow writer here; the real export is covered above.)"""
    calls = []

    def slow_export(model_path: Path, out: Path) -> None:
        calls.append(out)
        out.write_bytes(b"part")
        threading.Event().wait(0.3)  # a reader must never see this half-written file
        with out.open("ab") as handle:
            handle.write(b"-complete")

    monkeypatch.setattr(onnx_encoder, "_export_fp32", slow_export)
    model = Path(packaged_embedding_model())
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(ensure_onnx_model(model, tmp_path, "onnx")))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert len(set(results)) == 1 and results[0].read_bytes() == b"part-complete"
    assert ensure_onnx_model(model, tmp_path, "onnx") == results[0] and len(calls) == 1
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_switching_the_backend_re_embeds_the_index(tmp_path, torch_embedder, int8_embedder) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for seed in SEEDS:
        shutil.copy(REPO / "corpus" / seed, corpus / seed)
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=corpus)
    first = TutorService(settings, embedder=torch_embedder)
    report = first.ingest(quiet=True)
    chunks = first.store.count()
    assert report.embedded == chunks > 0

    # The same data directory under the int8 backend: the index says which backend built it.
    switched = TutorService(settings, embedder=int8_embedder)
    with pytest.raises(EmbeddingModelMismatch, match="onnx-int8"):
        switched.store
    report = switched.rebuild(quiet=True)  # builds the new index beside the old one, then swaps
    assert report.embedded == chunks
    assert switched.store.embedding_model.endswith("@onnx-int8")
    pipelines = {m["pipeline"] for m in switched.store.collection.get(include=["metadatas"])["metadatas"]}
    assert len(pipelines) == 1 and pipelines.pop().endswith("@onnx-int8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert switched.retriever.search("spaced practice and memory", k=3)
