"""Questions find passages: dense search in Chroma plus BM25 over the same chunks, fused with
reciprocal-rank fusion, then de-duplicated, spread across sources (tutor/ranking.py) and filtered by
the corpus's relevance floor (tutor/relevance.py).

Dense and lexical retrieval fail differently: MiniLM matches paraphrases but blurs rare terms
("hypothalamus", "Bandura"); BM25 nails the terms but misses paraphrases. RRF combines their ranks
without having to calibrate one score against the other.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np
import Stemmer
from chromadb.errors import ChromaError
from langchain_chroma import Chroma
from langchain_core.embeddings import Embeddings

from tutor.embeddings import one_torch_thread
from tutor.errors import CorpusNotIndexed
from tutor.lexical import LexicalIndex, lexical_document, shared_lexical_index  # noqa: F401  (lexical_document: used by callers)
from tutor.models import Chunk, Passage
from tutor.relevance import RelevanceFloor, question_views, stored_floor
from tutor.ranking import RankerScores, diversify, order_by_sections, reciprocal_rank_fusion, score_fusion
from tutor.store import ChunkStore
from tutor.text import BLANK, option_statement

Mode = Literal["dense", "bm25", "hybrid"]
_T = TypeVar("_T")
MODES: tuple[Mode, ...] = ("dense", "bm25", "hybrid")

# A pasted multiple-choice option: "A. text", "b) text", "(C) text".
_CHOICE_LINE = re.compile(r"^\s*\(?([A-Ha-h])[.)]\s+(\S.*)$")


@dataclass(frozen=True)
class RetrievalConfig:
    """Knobs of the retriever. None of the defaults is fitted to one book: the rankers' scores are
    fused each on its own scale for the question (tutor/ranking.py), with equal weights; diversity
    follows the evidence instead of a fixed cap; the relevance floor is calibrated on each corpus at
    ingest (tutor/relevance.py). Each mechanism is shown per book by benchmarks/retrieval.py."""

    # How deep each ranker is read: its candidates, and the rank whose score is the 0 of its scale.
    candidates: int = 50
    fusion: Literal["scores", "rrf"] = "scores"
    rrf_k: int = 60  # fusion="rrf" only
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    # BM25 weight of the stem alone for a pasted multiple-choice item; 0: the stem is not searched
    # separately (1.0 helped on the psychology dev set, hurt on microbiology: it went).
    stem_weight: float = 0.0
    bm25_k1: float = 1.5
    bm25_b: float = 0.75
    heading_repeats: int = 2  # BM25 field weighting: title and section count this many times
    # Order by section-level evidence (a file's best passages together) before diversity. Off: on
    # the tune half of the psychology dev set it lowered R@1 (0.95 vs 1.00 for plain fusion).
    section_evidence: bool = False
    # A fixed cap of passages per file; None: a further passage of a file waits until no other
    # file's best passage scores higher (tutor/ranking.py).
    per_source_cap: int | None = None
    duplicate_similarity: float = 0.95  # cosine above which two passages say the same thing
    # Cosine to the question below which a passage is not evidence; None: the corpus's own floor
    # computed at ingest (`Retriever.relevance_floor`).
    min_relevance: float | None = None
    recheck_seconds: float = 2.0  # how often to look at the change marker for other processes' writes


# An index built before floors were calibrated keeps the old fixed passage floor.
_LEGACY_PASSAGE_FLOOR = 0.2
# The knobs fitted to the psychology dev set before issue 15, kept to measure against.
PSYCHOLOGY_TUNED = RetrievalConfig(candidates=20, fusion="rrf", dense_weight=1.3, stem_weight=1.0,
                                   section_evidence=False, per_source_cap=2, min_relevance=0.2)
# Plain reciprocal-rank fusion of the same two rankings (the fusion before score fusion).
PLAIN_RRF = RetrievalConfig(candidates=20, fusion="rrf")


@dataclass(frozen=True)
class Query:
    """A question split into what retrieval should look for. A pasted multiple-choice item
    searches for its stem plus the options, as a student would paste them."""

    text: str
    stem: str
    choices: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Query:
        stem_lines: list[str] = []
        choices: list[str] = []
        for line in text.strip().splitlines():
            match = _CHOICE_LINE.match(line)
            if match and (choices or stem_lines):
                choices.append(match.group(2).strip())
            elif choices:
                choices[-1] += " " + line.strip()
            else:
                stem_lines.append(line.strip())
        stem = " ".join(line for line in stem_lines if line)
        if len(choices) < 2:  # "A. ..." once is a sentence, not a list of options
            return cls(text=text.strip(), stem=" ".join(text.split()))
        return cls(text=text.strip(), stem=stem, choices=tuple(choices))

    @property
    def dense_text(self) -> str:
        """What MiniLM encodes: the stem with its blank filled by the options ("located in the
        hippocampus, thalamus or hypothalamus"), which reads like the book's own sentence."""
        if not self.choices:
            return self.stem
        options = ", ".join(self.choices[:-1]) + f" or {self.choices[-1]}"
        if BLANK.search(self.stem):
            return BLANK.sub(options, self.stem, count=1)
        return f"{self.stem} {options}"

    @property
    def option_statements(self) -> list[str]:
        """Each option read as the claim it makes (the stem with its blank filled by it)."""
        return [option_statement(self.stem, choice) for choice in self.choices]

    @property
    def lexical_text(self) -> str:
        return f"{self.stem} {' '.join(self.choices)}".strip()


class QueryEmbeddingCache:
    """Remembers the last few query vectors: the chain embeds the same question for retrieval,
    for the refusal's nearest sections and for ranking answer sentences."""

    def __init__(self, embedder: Embeddings, size: int = 64) -> None:
        self.embedder = embedder
        self._size = size
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            if text in self._vectors:
                self._vectors.move_to_end(text)
                return self._vectors[text]
        with one_torch_thread():
            vector = np.asarray(self.embedder.embed_query(text), dtype=np.float32)
        with self._lock:
            self._vectors[text] = vector
            while len(self._vectors) > self._size:
                self._vectors.popitem(last=False)
        return vector

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """A few short texts at question time (answer sentences), not an ingest batch."""
        with one_torch_thread():
            vectors = self.embedder.embed_documents(texts)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)


@dataclass(frozen=True)
class _LexicalCandidates:
    scores: np.ndarray  # BM25 score of every row of the lexical index
    rankings: list[tuple[float, list[str]]]  # (weight, ids best first)
    scale: tuple[float, float]  # (best score, score at the depth) for this question


class Retriever:
    """Hybrid retrieval over one ChunkStore. Thread-safe. The lexical index is built once per
    process and follows the store's change marker (checked at most every `recheck_seconds`, one
    small read); `invalidate()` makes the next search check at once."""

    def __init__(self, store: ChunkStore, embedder: Embeddings | QueryEmbeddingCache,
                 config: RetrievalConfig | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.queries = embedder if isinstance(embedder, QueryEmbeddingCache) else QueryEmbeddingCache(embedder)
        self.config = config or RetrievalConfig()
        self._clock = clock
        self._dense: Chroma | None = None
        self._dense_over: object | None = None  # the collection object _dense was made for
        self._stemmer = Stemmer.Stemmer("english")
        self._index: LexicalIndex | None = None
        self._checked_at = 0.0
        self._floor: RelevanceFloor | None = None
        self._floor_checked: float | None = None
        self._lock = threading.Lock()  # guards _index and _checked_at; the index has its own lock

    @property
    def relevance_floor(self) -> RelevanceFloor | None:
        """The corpus's relevance floor computed at ingest (None for an index built before floors
        existed). The guard refuses a question whose `relevance` is below `floor.question`."""
        with self._lock:
            if self._floor_checked is None or time.monotonic() - self._floor_checked > self.config.recheck_seconds:
                self._floor = stored_floor(self.store)
                self._floor_checked = time.monotonic()
            return self._floor

    @property
    def passage_floor(self) -> float:
        """Cosine below which a single passage is not evidence for the question."""
        if self.config.min_relevance is not None:
            return self.config.min_relevance
        floor = self.relevance_floor
        return floor.passage if floor is not None else _LEGACY_PASSAGE_FLOOR

    def relevance(self, question: str, passages: Sequence[Passage]) -> float | None:
        """How near the course comes to the question: the best cosine of a passage to the question
        as a whole (its retrieved passages say it), to one of its sentences (`question_views`: a
        long scenario is judged by the sentence the course answers) or to one of its options' claims.
        None: nothing to compare."""
        best = [p.dense_score for p in passages if p.dense_score is not None]
        query = Query.parse(question)
        # A pasted multiple-choice item is about the course when one of its options, read as a
        # claim, is: "One of the founders of AIM was Dennis Banks" is nearer the passage naming him
        # than the stem with all four names run together.
        sentences = question_views(query.dense_text)[1:] + query.option_statements
        if sentences:
            vectors = [self.queries.embed_query(text) for text in sentences]
            nearest = self.caught_up(lambda: self.store.nearest_similarities(vectors))
            best += [s for s in nearest if s is not None]
        return max(best, default=None)

    def invalidate(self) -> None:
        with self._lock:
            self._checked_at = float("-inf")
            self._floor_checked = None

    def _lexical(self, *, force: bool = False) -> LexicalIndex:
        """The process's lexical index of the store, caught up with other writers: the change marker
        is looked at (one small read) at most every recheck_seconds, or now with force."""
        with self._lock:
            now = self._clock()
            if self._index is None:
                self._index = shared_lexical_index(self.store, k1=self.config.bm25_k1, b=self.config.bm25_b,
                                                   heading_repeats=self.config.heading_repeats,
                                                   stemmer=self._stemmer)
                self._checked_at = now
            check = force or now - self._checked_at >= self.config.recheck_seconds
            if check:
                self._checked_at = now
            index = self._index
        if check:
            self.store.refresh(force=force)  # this retriever's own view, used for dense search
            with index.lock:
                index.sync(force=force)
        if not index.size:
            raise CorpusNotIndexed("Nothing is indexed yet: run `tutor ingest` to index the course documents.")
        return index

    def _dense_search(self) -> Chroma:
        """langchain-chroma over the live collection, remade when the store reopened it."""
        if self._dense is None or self._dense_over is not self.store.collection:
            self._dense = Chroma(client=self.store.client, collection_name=self.store.live_collection,
                                 embedding_function=self.queries.embedder)
            self._dense_over = self.store.collection
        return self._dense

    def indexed_chunks(self) -> tuple[str, list[Chunk]]:
        """Every indexed chunk (read from the store in batches) with the index's change marker, which
        tells callers when to forget what they derived. O(corpus): for a quiz, not for every question."""
        index = self._lexical()
        return str(index.marker), self.store.all_chunks()

    def chunks_mentioning(self, text: str, limit: int = 100) -> tuple[str, list[Chunk]]:
        """The chunks sharing most words with `text` by BM25 (at most `limit`, best first), with the
        index's change marker: where the course names or defines a term, at the cost of one lookup."""
        def mentioning() -> tuple[str, list[Chunk]]:
            index = self._lexical()
            with index.lock:
                ids = index.top(index.scores(text), limit)
                marker = str(index.marker)
            return marker, [chunk for chunk, _ in self.store.get_chunks(ids)]

        return self.caught_up(mentioning)

    def _lexical_candidates(self, index: LexicalIndex, query: Query) -> _LexicalCandidates:
        """BM25 over the whole index: every chunk's score, the `candidates` best (with the stem
        alone as a second ranking where the config asks for it), and the scale of this question's
        scores: (best, score at the depth)."""
        config, depth = self.config, self.config.candidates
        with index.lock:
            scores = index.scores(query.lexical_text)
            top = index.top(scores, depth)
            rankings = [(config.lexical_weight, top)]
            scale = (0.0, 0.0)
            if top:
                # Fewer matches than the depth: a passage without the question's words is the 0.
                at_depth = (index.score_of(scores, top[-1]) or 0.0) if len(top) >= depth else 0.0
                scale = (index.score_of(scores, top[0]) or 0.0, at_depth)
            if query.choices and config.stem_weight > 0:
                # The options name the answer but also the distractors, which pull toward other
                # sections: the stem alone is searched too.
                rankings.append((config.lexical_weight * config.stem_weight, index.top(index.scores(query.stem), depth)))
        return _LexicalCandidates(scores, rankings, scale)

    def _dense_candidates(self, vector: np.ndarray, available: int) -> list[str]:
        """The ids of the `candidates` passages nearest the question vector (Chroma's HNSW index)."""
        hits = self._dense_search().similarity_search_by_vector(vector.tolist(), k=min(self.config.candidates, available))
        return [doc.id for doc in hits if doc.id]

    def _fuse(self, dense_ids: list[str] | None, cosine_at: dict[str, float], lexical: _LexicalCandidates | None,
              lexical_score_of: dict[str, float | None]) -> dict[str, float]:
        config = self.config
        if config.fusion == "rrf":
            rankings = ([(config.dense_weight, dense_ids)] if dense_ids is not None else []) + (
                lexical.rankings if lexical else [])
            return reciprocal_rank_fusion(rankings, config.rrf_k)
        rankers = []
        if dense_ids is not None:
            # The dense hits are the `candidates` nearest passages: their best and weakest cosines are
            # the scale (fewer hits than that: the corpus is smaller, its weakest is the 0).
            hit_cosines = [cosine_at[i] for i in dense_ids if i in cosine_at] or [0.0]
            rankers.append(RankerScores(config.dense_weight, cosine_at, max(hit_cosines), min(hit_cosines)))
        if lexical is not None:
            rankers.append(RankerScores(config.lexical_weight,
                                        {i: s for i, s in lexical_score_of.items() if s is not None}, *lexical.scale))
        return score_fusion(rankers)

    def search(self, question: str, k: int = 5, mode: Mode = "hybrid", *, apply_threshold: bool = True) -> list[Passage]:
        """The k best passages for the question. With apply_threshold, passages whose cosine
        similarity to the question is below `passage_floor` (the corpus's floor) are dropped (possibly leaving none)."""
        return self.caught_up(lambda: self._search(question, k, mode, apply_threshold))

    def caught_up(self, read: Callable[[], _T]) -> _T:
        """`read()` of the store; when another process changed the store under this view before it
        caught up (e.g. a collection dropped right after a rebuild's swap), catch up and read again
        from the new view. Every read on the answering path goes through here."""
        try:
            return read()
        except ChromaError:
            self._lexical(force=True)
            return read()

    def _search(self, question: str, k: int, mode: Mode, apply_threshold: bool) -> list[Passage]:
        query = Query.parse(question)
        config = self.config
        vector: np.ndarray | None = None
        if mode in ("dense", "hybrid") or apply_threshold:
            vector = self.queries.embed_query(query.dense_text)
        index = self._lexical()
        lexical = self._lexical_candidates(index, query) if mode in ("bm25", "hybrid") else None
        dense_ids = self._dense_candidates(vector, index.size) if mode in ("dense", "hybrid") else None

        candidates = list(dict.fromkeys((dense_ids or []) + [i for _, ids in (lexical.rankings if lexical else [])
                                                             for i in ids]))
        # Texts and vectors live in Chroma, not in this process: fetch the few candidates (ids
        # removed a moment ago by another writer are simply not returned).
        found = {chunk.chunk_id: (chunk, vec) for chunk, vec in self.store.get_chunks(candidates, embeddings=True)}
        if not found:
            return []
        vector_of = {chunk_id: np.asarray(found[chunk_id][1], dtype=np.float32) for chunk_id in found}
        cosine_at = ({chunk_id: float(vector_of[chunk_id] @ vector) for chunk_id in found}
                     if vector is not None else {})
        lexical_score_of: dict[str, float | None] = {}
        if lexical is not None:
            with index.lock:
                lexical_score_of = {chunk_id: index.score_of(lexical.scores, chunk_id) for chunk_id in found}
        fused = self._fuse(dense_ids, cosine_at, lexical, lexical_score_of)
        fused = {chunk_id: score for chunk_id, score in fused.items() if chunk_id in found}
        if not fused:
            return []
        source_of = lambda chunk_id: found[chunk_id][0].source  # noqa: E731 - a key function, named for reading
        ordered = (order_by_sections(fused, source_of) if config.section_evidence
                   else sorted(fused, key=lambda i: (-fused[i], found[i][0].source, found[i][0].position)))
        floor = self.passage_floor

        def keep(chunk_id: str, picked: list[str]) -> bool:
            if apply_threshold and chunk_id in cosine_at and cosine_at[chunk_id] < floor:
                return False
            return not any(float(vector_of[chunk_id] @ vector_of[other]) >= config.duplicate_similarity
                           for other in picked)

        if config.per_source_cap is None:
            picked = diversify(ordered, fused, source_of, k, keep)
        else:
            picked, per_source = [], {}
            for chunk_id in ordered:
                source = source_of(chunk_id)
                if per_source.get(source, 0) >= config.per_source_cap or not keep(chunk_id, picked):
                    continue
                picked.append(chunk_id)
                per_source[source] = per_source.get(source, 0) + 1
                if len(picked) == k:
                    break
        return [Passage(chunk=found[chunk_id][0], score=round(fused[chunk_id], 6), dense_score=cosine_at.get(chunk_id),
                        lexical_score=lexical_score_of.get(chunk_id))
                for chunk_id in picked]
