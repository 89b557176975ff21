"""The lexical (BM25) index a process keeps of the store, built once and then updated in place.

`IncrementalBM25` scores exactly as bm25s's default Lucene variant does when built from scratch
(idf = ln(1 + (N - df + 0.5) / (df + 0.5)), tf / (tf + k1 (1 - b + b |d| / avgdl))), but keeps
term counts instead of precomputed scores, so documents can be added and removed without
re-indexing everything: bm25s bakes N, df and avgdl into its matrix and can only be rebuilt.
Counts are kept per segment (one sparse matrix per batch added), removed rows are masked and the
segments are merged when they pile up.

`LexicalIndex` ties it to a ChunkStore: it holds only what ranking needs per chunk (id, source,
position, term counts) — texts and vectors stay in Chroma and are fetched for the few candidates of a
question — and follows the store's change marker: when the marker moved it reads the manifest
(O(files)), re-reads only the files whose version changed, and rebuilds from scratch only after a
rebuild swapped the live collection.
"""

from __future__ import annotations

import sys
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import bm25s
import numpy as np
import Stemmer
from scipy import sparse

from tutor.chunking import SECTION_SEPARATOR
from tutor.models import Chunk
from tutor.store import ChunkStore

# Merge segments when there are more than this many, or when this share of rows is removed.
_MAX_SEGMENTS = 8
_MAX_DEAD_SHARE = 0.25


def lexical_document(chunk: Chunk, heading_repeats: int) -> str:
    """What BM25 sees: the heading path repeated (a cheap field weight) and the passage text."""
    heading = " ".join([chunk.title, *chunk.section.split(SECTION_SEPARATOR)])
    return " ".join([heading] * heading_repeats + [chunk.text])


def tokenize(texts: Sequence[str], stemmer: Stemmer.Stemmer) -> list[list[str]]:
    """bm25s's tokenizer (English stopwords, Snowball stemming), as strings."""
    if not texts:
        return []
    return bm25s.tokenize(list(texts), stopwords="en", stemmer=stemmer, return_ids=False, show_progress=False)


@dataclass
class _Segment:
    start: int  # first row
    counts: sparse.csc_matrix  # rows x terms-known-at-build, term frequencies (column slices per query term)
    row_terms_ptr: np.ndarray  # CSR layout of the same matrix without counts: which terms each row has,
    row_terms: np.ndarray  # so a removal can lower those terms' document frequencies

    @property
    def rows(self) -> int:
        return self.counts.shape[0]

    def nbytes(self) -> int:
        return (self.counts.data.nbytes + self.counts.indices.nbytes + self.counts.indptr.nbytes
                + self.row_terms_ptr.nbytes + self.row_terms.nbytes)


class IncrementalBM25:
    def __init__(self, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.vocabulary: dict[str, int] = {}
        self.df = np.zeros(0, dtype=np.int64)
        self.lengths = np.zeros(0, dtype=np.float32)
        self.alive = np.zeros(0, dtype=bool)
        self.segments: list[_Segment] = []
        self.alive_count = 0
        self.total_length = 0.0

    @property
    def rows(self) -> int:
        return len(self.alive)

    def add(self, documents: Sequence[Sequence[str]]) -> range:
        """Index tokenised documents; returns the rows they got."""
        start = self.rows
        if not documents:
            return range(start, start)
        indptr = [0]
        terms: list[int] = []
        counts: list[int] = []
        for tokens in documents:
            per_doc: dict[int, int] = {}
            for token in tokens:
                term = self.vocabulary.setdefault(token, len(self.vocabulary))
                per_doc[term] = per_doc.get(term, 0) + 1
            terms.extend(per_doc)
            counts.extend(per_doc.values())
            indptr.append(len(terms))
        vocabulary_size = len(self.vocabulary)
        if vocabulary_size > len(self.df):
            self.df = np.concatenate([self.df, np.zeros(vocabulary_size - len(self.df), dtype=np.int64)])
        term_array = np.asarray(terms, dtype=np.int32)
        matrix = sparse.csr_matrix((np.asarray(counts, dtype=np.uint16), term_array, np.asarray(indptr, dtype=np.int64)),
                                   shape=(len(documents), vocabulary_size))
        np.add.at(self.df, term_array, 1)
        lengths = np.asarray([len(t) for t in documents], dtype=np.float32)
        self.lengths = np.concatenate([self.lengths, lengths])
        self.alive = np.concatenate([self.alive, np.ones(len(documents), dtype=bool)])
        self.alive_count += len(documents)
        self.total_length += float(lengths.sum())
        self.segments.append(_Segment(start, matrix.tocsc(), matrix.indptr.astype(np.int64), term_array))
        return range(start, start + len(documents))

    def remove(self, rows: Sequence[int]) -> None:
        for row in rows:
            if not self.alive[row]:
                continue
            segment = self._segment_of(row)
            local = row - segment.start
            terms = segment.row_terms[segment.row_terms_ptr[local]:segment.row_terms_ptr[local + 1]]
            self.df[terms] -= 1
            self.alive[row] = False
            self.alive_count -= 1
            self.total_length -= float(self.lengths[row])

    def needs_compaction(self) -> bool:
        dead = self.rows - self.alive_count
        return len(self.segments) > _MAX_SEGMENTS or (self.rows > 0 and dead / self.rows > _MAX_DEAD_SHARE)

    def compact(self) -> np.ndarray:
        """Merge all segments into one, dropping removed rows. Returns, for each new row, its old row."""
        kept = np.flatnonzero(self.alive)
        if not self.segments:
            return kept
        vocabulary_size = len(self.vocabulary)
        blocks = []
        for segment in self.segments:
            local = kept[(kept >= segment.start) & (kept < segment.start + segment.rows)] - segment.start
            block = segment.counts.tocsr()[local]
            block.resize((len(local), vocabulary_size))
            blocks.append(block)
        merged = sparse.vstack(blocks, format="csr")
        merged.sort_indices()
        self.lengths = self.lengths[kept]
        self.alive = np.ones(len(kept), dtype=bool)
        self.segments = [_Segment(0, merged.tocsc(), merged.indptr.astype(np.int64), merged.indices.astype(np.int32))]
        return kept

    def scores(self, tokens: Sequence[str]) -> np.ndarray:
        """BM25 score of every row for a tokenised query (removed rows score 0). A repeated query
        token counts each time, as in bm25s."""
        scores = np.zeros(self.rows, dtype=np.float32)
        if self.alive_count == 0:
            return scores
        n = self.alive_count
        average_length = self.total_length / n
        weights: dict[int, int] = {}
        for token in tokens:
            if token in self.vocabulary:
                term = self.vocabulary[token]
                weights[term] = weights.get(term, 0) + 1
        for term, times in weights.items():
            df = int(self.df[term])
            if df <= 0:
                continue
            idf = np.float32(np.log(1 + (n - df + 0.5) / (df + 0.5)))
            for segment in self.segments:
                if term >= segment.counts.shape[1]:
                    continue
                lo, hi = segment.counts.indptr[term], segment.counts.indptr[term + 1]
                if lo == hi:
                    continue
                rows = segment.counts.indices[lo:hi] + segment.start
                tf = segment.counts.data[lo:hi].astype(np.float32)
                norm = self.k1 * ((1 - self.b) + self.b * self.lengths[rows] / average_length)
                scores[rows] += times * idf * (tf / (norm + tf))
        scores[~self.alive] = 0.0
        return scores

    def nbytes(self) -> int:
        vocabulary = sum(sys.getsizeof(t) for t in self.vocabulary) + sys.getsizeof(self.vocabulary)
        return (vocabulary + self.df.nbytes + self.lengths.nbytes + self.alive.nbytes
                + sum(s.nbytes() for s in self.segments))

    def _segment_of(self, row: int) -> _Segment:
        for segment in reversed(self.segments):
            if row >= segment.start:
                return segment
        raise IndexError(row)


class LexicalIndex:
    """BM25 over every chunk of a store, following that store's change marker. Hold `lock` while
    syncing or scoring: several retrievers of one process may share the index."""

    def __init__(self, store: ChunkStore, *, k1: float, b: float, heading_repeats: int,
                 stemmer: Stemmer.Stemmer) -> None:
        self.store = store
        self.lock = threading.RLock()
        self.heading_repeats = heading_repeats
        self.stemmer = stemmer
        self._k1, self._b = k1, b
        self._build()

    # --- what a question needs ----------------------------------------------------------------------

    @property
    def size(self) -> int:
        return self.bm25.alive_count

    def scores(self, text: str) -> np.ndarray:
        return self.bm25.scores(tokenize([text], self.stemmer)[0] if text.strip() else [])

    def top(self, scores: np.ndarray, n: int) -> list[str]:
        """Ids of the n best-scoring chunks (score > 0), ties in document order (source, position)."""
        positive = np.flatnonzero(scores > 0)
        if len(positive) > n:
            threshold = np.partition(scores[positive], len(positive) - n)[len(positive) - n]
            positive = positive[scores[positive] >= threshold]
        ranked = sorted(positive.tolist(), key=lambda r: (-float(scores[r]), self.sources[r], int(self.positions[r])))
        return [self.chunk_ids[r] for r in ranked[:n]]

    def score_of(self, scores: np.ndarray, chunk_id: str) -> float | None:
        row = self.row_of.get(chunk_id)
        return float(scores[row]) if row is not None else None

    def nbytes(self) -> int:
        """Memory held for the index (term counts, vocabulary, per-row ids), roughly."""
        ids = sum(sys.getsizeof(i) for i in self.row_of) + sys.getsizeof(self.row_of) * 2
        return self.bm25.nbytes() + ids + self.positions.nbytes + 8 * len(self.chunk_ids) * 2

    # --- following the store --------------------------------------------------------------------------

    def sync(self, *, force: bool = False) -> bool:
        """Catch up with other writers if the store's change marker moved (one small read when it
        did not). Returns True when something changed."""
        state = self.store.read_state()
        if not force and state.marker == self.marker:
            return False
        live_before = self.live_collection
        self.store.refresh(state, force=force)
        if self.store.live_collection != live_before:
            self._build()  # a rebuild swapped in another collection: nothing carries over
            return True
        self.marker = self.store.state.marker
        versions = {s: f.version for s, f in self.store.indexed_files().items()}
        changed = [s for s, v in versions.items() if self.versions.get(s) != v]
        gone = [s for s in self.versions if s not in versions]
        for source in gone + changed:
            self._remove_source(source)
        if changed:
            ids = [i for chunk_ids in self.store.chunk_ids_of(changed).values() for i in chunk_ids]
            self._add([chunk for chunk, _ in self.store.get_chunks(ids)])
        self.versions = versions
        if self.bm25.needs_compaction():
            self._compact()
        return True

    def _build(self) -> None:
        self.bm25 = IncrementalBM25(self._k1, self._b)
        self.chunk_ids: list[str] = []
        self.sources: list[str] = []
        self.positions = np.zeros(0, dtype=np.int32)
        self.row_of: dict[str, int] = {}
        self.rows_of_source: dict[str, list[int]] = {}
        # State before manifest before chunks: a write racing the build moves the marker after
        # what was read, so the next sync re-reads what it touched.
        self.marker = self.store.state.marker
        self.live_collection = self.store.live_collection
        self.versions = {s: f.version for s, f in self.store.indexed_files().items()}
        for page in self.store.iter_chunk_pages():
            self._add(page)
        self._compact()

    def _add(self, chunks: Sequence[Chunk]) -> None:
        fresh = [c for c in chunks if c.chunk_id not in self.row_of]
        rows = self.bm25.add(tokenize([lexical_document(c, self.heading_repeats) for c in fresh], self.stemmer))
        self.positions = np.concatenate([self.positions, np.asarray([c.position for c in fresh], dtype=np.int32)])
        for row, chunk in zip(rows, fresh):
            self.chunk_ids.append(chunk.chunk_id)
            self.sources.append(chunk.source)
            self.row_of[chunk.chunk_id] = row
            self.rows_of_source.setdefault(chunk.source, []).append(row)

    def _remove_source(self, source: str) -> None:
        rows = self.rows_of_source.pop(source, [])
        self.bm25.remove(rows)
        for row in rows:
            self.row_of.pop(self.chunk_ids[row], None)

    def _compact(self) -> None:
        kept = self.bm25.compact()
        self.chunk_ids = [self.chunk_ids[r] for r in kept]
        self.sources = [self.sources[r] for r in kept]
        self.positions = self.positions[kept]
        self.row_of = {chunk_id: row for row, chunk_id in enumerate(self.chunk_ids)}
        self.rows_of_source = {}
        for row, source in enumerate(self.sources):
            self.rows_of_source.setdefault(source, []).append(row)


_SHARED: weakref.WeakValueDictionary[tuple, LexicalIndex] = weakref.WeakValueDictionary()
_SHARED_LOCK = threading.Lock()


def shared_lexical_index(store: ChunkStore, *, k1: float, b: float, heading_repeats: int,
                         stemmer: Stemmer.Stemmer) -> LexicalIndex:
    """The process's one lexical index of this store (several services over the same index, e.g.
    the app's per-settings services, share it); built on first use, freed when nobody holds it."""
    key = (store.location, store.collection_name, k1, b, heading_repeats)
    with _SHARED_LOCK:
        index = _SHARED.get(key)
        if index is None:
            index = LexicalIndex(store, k1=k1, b=b, heading_repeats=heading_repeats, stemmer=stemmer)
            _SHARED[key] = index
        return index
