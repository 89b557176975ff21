"""The tutor as one object: embedder, index and answering chain built once and shared by the CLI,
the Streamlit app and the evals. Building it loads the embedding model (seconds), so callers keep
one per process (the UI through st.cache_resource)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Sequence

from langchain_core.embeddings import Embeddings

from tutor.answer import AnswerGraph, AnswerStream
from tutor.answer.condense import Condenser, choose_condenser
from tutor.answer.generators import Generator, build_generator
from tutor.embeddings import build_embedder, embedder_name
from tutor.answer.guard import GuardConfig
from tutor.ingest import FileOutcome, IngestReport, ingest, remove_documents, write_lock
from tutor.answer.tutoring import Quiz, build_quiz, quiz_sources, quiz_topic_covered
from tutor.models import Answer, Turn
from tutor.retrieve import QueryEmbeddingCache, Retriever
from tutor.settings import Settings
from tutor.starters import starter_questions
from tutor.store import ChunkStore, drop_collection


@dataclass
class DocumentInfo:
    source: str
    title: str
    chunks: int
    ingested_at: str
    path: str


class TutorService:
    def __init__(self, settings: Settings | None = None, embedder: Embeddings | None = None) -> None:
        self.settings = settings or Settings()
        self._embedder = embedder

    @cached_property
    def embedder(self) -> Embeddings:
        return self._embedder or build_embedder(self.settings)

    @cached_property
    def store(self) -> ChunkStore:
        return ChunkStore.open(self.settings, embedder_name(self.embedder))

    # --- library management ---------------------------------------------------------------------

    def ingest(self, paths: Sequence[Path] | None = None, *, prune: bool = False, dry_run: bool = False,
               quiet: bool = False, on_wait: Callable[[str], None] | None = None) -> IngestReport:
        report = ingest(list(paths or [self.settings.corpus_dir]), self.settings, self.store, self.embedder,
                        prune=prune, dry_run=dry_run, quiet=quiet, on_wait=on_wait)
        self._index_changed()
        return report

    def remove(self, sources: Sequence[str]) -> list[FileOutcome]:
        outcomes = remove_documents(sources, self.settings, self.store, self.embedder)
        self._index_changed()
        return outcomes

    def rebuild(self) -> None:
        """Forget every chunk; the next ingest re-embeds everything (e.g. after a model change)."""
        with write_lock(self.settings):
            drop_collection(self.settings)
        # Everything holding the old collection is rebuilt on next use.
        for cached in ("store", "retriever", "generator", "condenser", "answer_graph", "_starters"):
            self.__dict__.pop(cached, None)

    def documents(self) -> list[DocumentInfo]:
        return [DocumentInfo(f.source, f.title, len(f.chunk_ids), f.ingested_at, f.path)
                for f in sorted(self.store.indexed_files().values(), key=lambda f: f.source)]

    def status(self) -> dict[str, Any]:
        documents = self.documents()
        return {
            "documents": len(documents),
            "chunks": sum(d.chunks for d in documents),
            "last_ingest": self.store.last_ingest(),
            "embedding_model": self.store.embedding_model,
            "store": self.store.location,
            "store_kind": "chroma-server" if self.settings.chroma_url else "embedded",
            "collection": self.settings.collection,
            "corpus_dir": str(self.settings.corpus_dir.resolve()),
            "answerer": self.generator.name,
        }

    # --- answering ---------------------------------------------------------------------------------

    @cached_property
    def retriever(self) -> Retriever:
        return Retriever(self.store, QueryEmbeddingCache(self.embedder))

    @cached_property
    def generator(self) -> Generator:
        """The answerer the settings select (tutor.answer.generators.ANSWERERS), built once."""
        return build_generator(self.settings, self.retriever.queries)

    @cached_property
    def condenser(self) -> Condenser:
        return choose_condenser(self.settings, self.generator)

    @cached_property
    def answer_graph(self) -> AnswerGraph:
        return AnswerGraph(self.retriever, self.generator, self.condenser, top_k=self.settings.top_k,
                           guard=self._guard_config())

    def _guard_config(self) -> GuardConfig:
        """The guard's refusal thresholds from the corpus's own relevance floor (computed at ingest),
        when the index has one; else the guard's defaults."""
        floor = self.retriever.relevance_floor
        if floor is None:
            return GuardConfig()
        return GuardConfig(min_top_relevance=floor.short, long_question_relevance=floor.long)

    def ask(self, question: str, history: Sequence[Turn] = (), mode: str = "explain") -> Answer:
        """Answer one question (with the conversation so far, oldest turn first). `mode` "hint" gives a
        Socratic turn instead of the answer, and checks the student's reply to it."""
        return self.answer_graph.invoke(question, history, _mode(mode))

    def ask_stream(self, question: str, history: Sequence[Turn] = (), mode: str = "explain") -> AnswerStream:
        """Like ask, streaming: iterate for text deltas, then read `.answer` (an AnswerStream)."""
        return self.answer_graph.stream(question, history, _mode(mode))

    def quiz(self, topic: str, count: int = 4, sources: Sequence[str] = ()) -> Quiz:
        """A quiz on the key terms of the sections that best match `topic` ("chapter 8",
        "reinforcement"), or of `sources` (e.g. the files the last answer cited). No items when the
        course does not cover the topic."""
        fingerprint, chunks = self.retriever.indexed_chunks()
        topic = topic.strip()
        ranked = list(sources)
        if not ranked and topic:
            if not quiz_topic_covered(topic, self.answer_graph.definitions):
                return Quiz(topic, [])
            ranked = [p.chunk.source for p in self.retriever.search(topic, k=8)]
        return build_quiz(topic, quiz_sources(topic, ranked, chunks), chunks, count=max(1, count))

    def starters(self, limit: int = 4) -> list[str]:
        """Suggested first questions, drawn from the indexed course's headings (for an empty chat).
        Recomputed only when the index changes: the last-ingest stamp and the chunk count change with
        every upload, replacement or deletion, also by another process."""
        chunks = self.store.count()
        key = (self.store.last_ingest() or "", chunks, limit)
        cached = self.__dict__.get("_starters")
        if cached is None or cached[0] != key:
            cached = (key, starter_questions(self.store.all_chunks(), limit=limit) if chunks else [])
            self.__dict__["_starters"] = cached
        return list(cached[1])

    def _index_changed(self) -> None:
        """Hook for caches derived from the index (the lexical index in retrieval)."""
        if "retriever" in self.__dict__:
            self.retriever.invalidate()
        if "answer_graph" in self.__dict__:
            self.answer_graph.guard = self._guard_config()


def _mode(mode: str) -> str:
    if mode not in ("explain", "hint"):
        raise ValueError(f"mode {mode!r} is not a mode for ask; use explain or hint (quizzes: TutorService.quiz)")
    return mode
