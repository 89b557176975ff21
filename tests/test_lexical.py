"""The incremental BM25 index: the same scores as bm25s built from scratch, after any sequence of
additions, removals and merges; and the store-following index updating only what changed."""

from __future__ import annotations

import random
from pathlib import Path

import bm25s
import numpy as np
import pytest
import Stemmer

from tests.support.embedders import HashEmbedder
from tutor.lexical import IncrementalBM25, tokenize

REPO = Path(__file__).resolve().parents[1]
STEMMER = Stemmer.Stemmer("english")


def _paragraphs() -> list[str]:
    texts = []
    for path in sorted((REPO / "corpus" / "psychology-2e").glob("*.md")):
        texts += [p.strip() for p in path.read_text(encoding="utf-8").split("\n\n") if len(p.strip()) > 40]
    return texts


def _reference_scores(documents: list[str], query: str) -> np.ndarray:
    retriever = bm25s.BM25(k1=1.5, b=0.75)
    retriever.index(bm25s.tokenize(documents, stopwords="en", stemmer=STEMMER, show_progress=False), show_progress=False)
    tokens = bm25s.tokenize([query], stopwords="en", stemmer=STEMMER, return_ids=False, show_progress=False)[0]
    return retriever.get_scores(tokens)


QUERIES = ["What is the difference between episodic and semantic memory?", "classical conditioning Pavlov dog dog",
           "hippocampus amnesia consolidation", "reinforcement schedules"]


def test_fresh_index_scores_like_bm25s() -> None:
    documents = _paragraphs()[:400]
    index = IncrementalBM25(k1=1.5, b=0.75)
    index.add(tokenize(documents, STEMMER))
    for query in QUERIES:
        np.testing.assert_allclose(index.scores(tokenize([query], STEMMER)[0]), _reference_scores(documents, query),
                                   rtol=1e-4, atol=1e-5)


def test_additions_removals_and_merges_score_like_a_rebuild() -> None:
    rng = random.Random(7)
    pool = _paragraphs()[:600]
    index = IncrementalBM25(k1=1.5, b=0.75)
    live: dict[int, str] = {}  # row -> text
    cursor = 0
    for step in range(12):
        batch = pool[cursor:cursor + 40]
        cursor += 40
        for row, text in zip(index.add(tokenize(batch, STEMMER)), batch):
            live[row] = text
        doomed = rng.sample(sorted(live), k=min(len(live), 15))
        index.remove(doomed)
        for row in doomed:
            del live[row]
        if step % 4 == 3:
            old_rows = index.compact()
            live = {new: live[int(old)] for new, old in enumerate(old_rows)}
    assert len(index.segments) <= 4
    rows = sorted(live)
    documents = [live[r] for r in rows]
    for query in QUERIES:
        got = index.scores(tokenize([query], STEMMER)[0])
        np.testing.assert_allclose(got[rows], _reference_scores(documents, query), rtol=1e-4, atol=1e-5)
        dead = np.setdiff1d(np.arange(index.rows), rows)
        assert not got[dead].any()


def test_unknown_terms_and_an_empty_index_score_zero() -> None:
    index = IncrementalBM25()
    assert index.scores(["memori"]).shape == (0,)
    index.add([["memori", "encod"], ["sleep"]])
    assert not index.scores(["zebrafish"]).any()
    index.remove([0, 1])
    assert not index.scores(["memori"]).any() and index.alive_count == 0


@pytest.mark.parametrize("removed", [0, 1])
def test_removing_a_row_twice_counts_once(removed: int) -> None:
    index = IncrementalBM25()
    index.add([["a", "b"], ["a"], ["c"]])
    index.remove([removed, removed])
    assert index.alive_count == 2 and int(index.df[index.vocabulary["a"]]) == 1


def test_the_store_index_updates_only_the_files_that_changed(tmp_path: Path) -> None:
    from tutor.lexical import LexicalIndex
    from tutor.service import TutorService
    from tutor.settings import Settings

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    texts = _paragraphs()
    for n in range(6):
        (corpus / f"f{n}.md").write_text(f"# File {n}\n\n" + "\n\n".join(texts[n * 30:(n + 1) * 30]))
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=corpus)
    writer = TutorService(settings, embedder=HashEmbedder())
    writer.ingest(quiet=True)
    reader = TutorService(settings, embedder=HashEmbedder())
    index = LexicalIndex(reader.store, k1=1.5, b=0.75, heading_repeats=2, stemmer=STEMMER)
    assert not index.sync()  # nothing moved: one small read, nothing else

    fetched: list[str] = []
    real_get = reader.store.get_chunks
    reader.store.get_chunks = lambda ids, **kw: fetched.extend(ids) or real_get(ids, **kw)
    (corpus / "f1.md").write_text("# File 1\n\nA rewritten passage on zeitgebers and circadian entrainment.\n")
    (corpus / "f2.md").unlink()
    (corpus / "f9.md").write_text("# File 9\n\nA new passage about quokkas and spaced repetition.\n")
    writer.ingest(prune=True, quiet=True)

    bm25_before = index.bm25
    assert index.sync()
    new_ids = set(writer.store.chunk_ids_of(["f1.md", "f9.md"])["f1.md"] + writer.store.chunk_ids_of(["f9.md"])["f9.md"])
    assert set(fetched) == new_ids  # only the changed files' chunks were read
    assert index.bm25 is bm25_before or len(index.bm25.segments) == 1  # updated in place (or merged)

    fresh = LexicalIndex(reader.store, k1=1.5, b=0.75, heading_repeats=2, stemmer=STEMMER)
    assert index.size == fresh.size == writer.store.count()
    for query in QUERIES + ["zeitgeber entrainment", "quokkas spaced repetition"]:
        assert index.top(index.scores(query), 10) == fresh.top(fresh.scores(query), 10)
    assert "f2.md" not in {index.sources[index.row_of[i]] for i in index.top(index.scores("memory"), 50)}
