"""The tutor as one object: embedder, index and answering chain built once and shared by the CLI,
the Streamlit app and the evals. Building it loads the embedding model (seconds), so callers keep
one per process (the UI through st.cache_resource)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Sequence

from langchain_core.embeddings import Embeddings

from tutor.answer import AnswerGraph, AnswerStream
from tutor.answer.condense import Condenser, choose_condenser
from tutor.answer.generators import Generator, build_generator
from tutor.answer.guard import GuardConfig
from tutor.answer.injection import InjectionClassifier
from tutor.chunking import join_chunks
from tutor.embeddings import PACKAGED_NAME, SentenceTransformerEmbedder, build_embedder, embedder_name
from tutor.errors import EmbeddingModelMismatch, TutorError
from tutor.ingest import FileOutcome, IngestReport, ingest, rebuild, remove_documents, write_lock, write_lock_path
from tutor.locks import is_held
from tutor.answer.tutoring import Quiz, build_quiz, quiz_sources, quiz_topic_covered
from tutor.models import Answer, Turn
from tutor.retrieve import QueryEmbeddingCache, Retriever
from tutor.settings import Settings, packaged_embedding_model
from tutor.starters import starter_questions
from tutor.store import ChunkStore
from tutor.titles import clean_title, save_title


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

    def _rebuild_store(self) -> ChunkStore:
        """The store for a rebuild: the live index may have been built with another model (the
        very case a rebuild is for), so its model is not checked; it keeps serving meanwhile."""
        if "store" not in self.__dict__:
            try:
                return self.store
            except EmbeddingModelMismatch:
                self.__dict__["store"] = ChunkStore.open(self.settings, embedder_name(self.embedder),
                                                         check_model=False)
        return self.store

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

    def rebuild(self, *, quiet: bool = False, on_wait: Callable[[str], None] | None = None) -> IngestReport:
        """Re-embed the whole corpus directory into a new collection and swap it in when complete
        (e.g. after a model change); the current index answers until then."""
        report = rebuild(self.settings, self._rebuild_store(), self.embedder, quiet=quiet, on_wait=on_wait)
        self._index_changed()
        return report

    def rename_document(self, source: str, title: str) -> str:
        """Give a document the title students see; kept across re-ingests. Returns the clean title."""
        with write_lock(self.settings):
            indexed = self.store.indexed_files().get(source)
            if indexed is None:
                raise TutorError(f"Not in the index: {source} (see `tutor status --documents`)")
            cleaned = clean_title(title)
            save_title(self.settings.data_dir, source, cleaned)
            chunk_ids = self.store.chunk_ids_of([source]).get(source, [])
            self.store.set_title(chunk_ids, cleaned)
            self.store.record_file(replace(indexed, title=cleaned), chunk_ids)
            self.store.record_ingest()  # moves the change marker: other processes see the new title
        self._index_changed()
        return cleaned

    def section_text(self, source: str, section: str) -> str:
        """The whole section a passage belongs to, as one text (empty if it is no longer indexed)."""
        return join_chunks(self.retriever.caught_up(lambda: self.store.section_chunks(source, section)))

    def documents(self) -> list[DocumentInfo]:
        self.store.refresh()  # an embedded view opened before another process wrote is stale
        return [DocumentInfo(f.source, f.title, f.chunks, f.ingested_at, f.path)
                for f in sorted(self.store.indexed_files().values(), key=lambda f: f.source)]

    def status(self) -> dict[str, Any]:
        """What is indexed, from the manifest and the state: O(files), never every chunk."""
        self.store.refresh()
        state = self.store.state
        return {
            "documents": self.store.document_count(),
            "chunks": self.store.count(),
            "last_ingest": self.store.last_ingest(),
            "embedding_model": self.store.embedding_model,
            "store": self.store.location,
            "store_kind": "chroma-server" if self.settings.chroma_url else "embedded",
            "collection": self.settings.collection,
            "live_collection": self.store.live_collection,
            "generation": state.generation,
            "interrupted": self._interrupted(state),
            "leftover_collection": state.retired or None,  # replaced by a rebuild; the next write drops it
            "corpus_dir": str(self.settings.corpus_dir.resolve()),
            "answerer": self.generator.name,
            # The refusal floor computed at ingest from this corpus (None: not calibrated yet).
            "relevance_floor": floor.to_dict() if (floor := self.retriever.relevance_floor) else None,
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
                           guard=self._guard_config(), injection=self.injection_classifier)

    def _guard_config(self) -> GuardConfig:
        """The guard's refusal threshold: the corpus's own relevance floor (computed at ingest) when
        the index has one, else the guard's default."""
        floor = self.retriever.relevance_floor
        return GuardConfig() if floor is None else GuardConfig(min_top_relevance=floor.question)

    @cached_property
    def injection_classifier(self) -> InjectionClassifier:
        """The guard's attack classifier. Its weights were fitted on the packaged MiniLM's torch vectors:
        it shares the retrieval embedder when that is exactly that model and backend, else loads its own copy."""
        embedder = self.embedder
        if embedder_name(embedder) != PACKAGED_NAME:
            embedder = _packaged_torch_embedder(self.settings.embedding_batch_size)
        return InjectionClassifier.load(embedder)

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

    def _interrupted(self, state) -> str | None:
        """A sentence about an operation that began and never finished, or None."""
        if not state.operation:
            return None
        if self.settings.chroma_url:
            running = state.operation_process_alive()
        else:
            running = is_held(write_lock_path(self.settings))
        if running:
            return None  # still going: not interrupted
        if running is None:
            return (f"a {state.operation} started {state.operation_started} on {state.operation_host} has not "
                    "finished (it may still be running there).")
        again = "tutor ingest --rebuild" if state.operation == "rebuild" else (
            "tutor ingest" if state.operation == "ingest" else "tutor remove")
        where = f" (building {state.pending_target})" if state.pending_target else ""
        return (f"a {state.operation} started {state.operation_started}{where} did not finish; the index still "
                f"serves {state.live}. Run `{again}` again to complete it.")

    def _index_changed(self) -> None:
        """Hook for caches derived from the index (the lexical index in retrieval)."""
        if "retriever" in self.__dict__:
            self.retriever.invalidate()
        if "answer_graph" in self.__dict__:
            self.answer_graph.guard = self._guard_config()


@functools.lru_cache(maxsize=None)
def _packaged_torch_embedder(batch_size: int) -> SentenceTransformerEmbedder:
    """The packaged MiniLM on torch for the guard's classifier, loaded once per process however many
    services it builds (the model is only read; the embedder serialises its calls)."""
    return SentenceTransformerEmbedder(packaged_embedding_model(), batch_size)


def _mode(mode: str) -> str:
    if mode not in ("explain", "hint"):
        raise ValueError(f"mode {mode!r} is not a mode for ask; use explain or hint (quizzes: TutorService.quiz)")
    return mode
