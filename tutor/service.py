"""The tutor as one object: embedder, index and answering chain built once and shared by the CLI,
the Streamlit app and the evals. Building it loads the embedding model (seconds), so callers keep
one per process (the UI through st.cache_resource)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Sequence

from langchain_core.embeddings import Embeddings

from tutor.answer import AnswerChain, AnswerStream
from tutor.compose import OfflineComposer
from tutor.condense import condense_offline
from tutor.embeddings import build_embedder, embedder_name
from tutor.generate import Generator
from tutor.ingest import FileOutcome, IngestReport, ingest, remove_documents, write_lock
from tutor.models import Answer, Turn
from tutor.retrieve import QueryEmbeddingCache, Retriever
from tutor.settings import Settings
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
        outcomes = remove_documents(sources, self.settings, self.store)
        self._index_changed()
        return outcomes

    def rebuild(self) -> None:
        """Forget every chunk; the next ingest re-embeds everything (e.g. after a model change)."""
        with write_lock(self.settings):
            drop_collection(self.settings)
        # Everything holding the old collection is rebuilt on next use.
        for cached in ("store", "retriever", "generator", "answer_chain"):
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
            "answerer": self.settings.llm_model if self.settings.llm_enabled else "offline",
        }

    # --- answering ---------------------------------------------------------------------------------

    @cached_property
    def retriever(self) -> Retriever:
        return Retriever(self.store, QueryEmbeddingCache(self.embedder))

    @cached_property
    def generator(self) -> Generator:
        """The LLM when a key is configured, else the offline composer."""
        if self.settings.llm_enabled:
            from tutor.llm import OpenAICompatibleGenerator  # langchain-openai: only when configured

            return OpenAICompatibleGenerator(self.settings)
        return OfflineComposer(self.retriever.queries)

    @cached_property
    def answer_chain(self) -> AnswerChain:
        return AnswerChain(self.retriever, self.generator, self._condense, top_k=self.settings.top_k)

    def ask(self, question: str, history: Sequence[Turn] = ()) -> Answer:
        """Answer one question (with the conversation so far, oldest turn first)."""
        return self.answer_chain.invoke(question, history)

    def ask_stream(self, question: str, history: Sequence[Turn] = ()) -> AnswerStream:
        """Like ask, streaming: iterate for text deltas, then read `.answer` (an AnswerStream)."""
        return self.answer_chain.stream(question, history)

    def _condense(self, history: Sequence[Turn], question: str) -> str:
        if self.settings.llm_enabled:
            from tutor.llm import condense_with_llm

            # The deterministic rewrite is the fallback when the model is unreachable or confused.
            return condense_with_llm(self.settings, history, question, fallback=condense_offline)
        return condense_offline(history, question)

    def _index_changed(self) -> None:
        """Hook for caches derived from the index (the lexical index in retrieval)."""
        if "retriever" in self.__dict__:
            self.retriever.invalidate()
