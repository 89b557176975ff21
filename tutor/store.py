"""The chunk index in Chroma: an embedded PersistentClient in the data directory, or a Chroma
server over HTTP when TUTOR_CHROMA_URL is set. Same operations either way.

Writes go straight to the Chroma collection because ingest brings its own embeddings (computed in
large sorted batches, with the heading path prepended); dense search for answering goes through
langchain-chroma in retrieve.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlparse

import chromadb
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import NotFoundError
from filelock import FileLock

from tutor.errors import EmbeddingModelMismatch, StoreUnavailable
from tutor.models import Chunk
from tutor.settings import Settings

# Metadata keys written by ingest; everything else on a chunk comes from the document itself.
RESERVED_KEYS = {"source", "path", "title", "section", "position", "source_sha256", "pipeline", "ingested_at", "kind"}
# Chroma caps the rows of one write; stay well below it.
_WRITE_BATCH = 1000


@dataclass
class IndexedFile:
    """What the index knows about one source file (derived from its chunks' metadata)."""

    source: str
    path: str
    title: str
    sha256s: set[str] = field(default_factory=set)
    pipelines: set[str] = field(default_factory=set)
    chunk_ids: list[str] = field(default_factory=list)
    ingested_at: str = ""

    def is_current(self, sha256: str, pipeline: str) -> bool:
        """True when every chunk came from exactly this file content and this chunking pipeline."""
        return self.sha256s == {sha256} and self.pipelines == {pipeline}


@contextmanager
def _opening(settings: Settings) -> Iterator[None]:
    """Serialise opening the embedded store across processes. A new data directory is created by
    the first client (Chroma runs its table migrations then), and two processes doing that at once
    fail with "table collections already exists"; the same holds for creating the collection."""
    if settings.chroma_url:
        yield
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with FileLock(str(settings.data_dir / "chroma-open.lock")):
        yield


def drop_collection(settings: Settings) -> None:
    """Delete the configured collection outright, whatever model built it (for `ingest --rebuild`:
    opening it through ChunkStore would refuse a model mismatch, the very case a rebuild is for)."""
    with _opening(settings):
        client = open_client(settings)
        try:
            client.delete_collection(settings.collection)
        except NotFoundError:
            pass  # nothing indexed yet


def open_client(settings: Settings) -> chromadb.ClientAPI:
    """A Chroma client for the configured location: server if TUTOR_CHROMA_URL is set, else embedded."""
    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    if settings.chroma_url:
        url = urlparse(settings.chroma_url)
        try:
            client = chromadb.HttpClient(host=url.hostname or "127.0.0.1",
                                         port=url.port or (443 if url.scheme == "https" else 8000),
                                         ssl=url.scheme == "https", settings=chroma_settings)
            client.heartbeat()
        except Exception as exc:  # connection refused, DNS, TLS: all mean "not reachable"
            raise StoreUnavailable(
                f"Cannot reach the Chroma server at {settings.chroma_url} ({exc}). Start it with "
                "`chroma run --path DIR --port N`, or unset TUTOR_CHROMA_URL to use the embedded store."
            ) from exc
        return client
    path = settings.data_dir / "chroma"
    path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


class ChunkStore:
    """One Chroma collection of course chunks, with the embedding model it was built with."""

    def __init__(self, client: chromadb.ClientAPI, collection_name: str, embedding_model: str,
                 location: str) -> None:
        self.client = client
        self.collection_name = collection_name
        self.embedding_model = embedding_model
        self.location = location
        self.collection = client.get_or_create_collection(
            collection_name,
            configuration={"hnsw": {"space": "cosine", "ef_search": 200, "ef_construction": 200}},
            metadata={"embedding_model": embedding_model},
            embedding_function=None,  # never Chroma's default: it downloads a model
        )
        built_with = (self.collection.metadata or {}).get("embedding_model")
        if built_with and built_with != embedding_model and self.collection.count() > 0:
            raise EmbeddingModelMismatch(
                f"The index at {location} (collection '{collection_name}') was built with {built_with}, "
                f"but the configured embedding model is {embedding_model}. Run `tutor ingest --rebuild` to "
                "re-embed everything, or set TUTOR_COLLECTION to use a separate collection."
            )

    @classmethod
    def open(cls, settings: Settings, embedding_model: str) -> ChunkStore:
        with _opening(settings):
            return cls(open_client(settings), settings.collection, embedding_model, settings.store_location)

    # --- reading ---------------------------------------------------------------------------------

    def count(self) -> int:
        return self.collection.count()

    def indexed_files(self) -> dict[str, IndexedFile]:
        files: dict[str, IndexedFile] = {}
        rows = self.collection.get(include=["metadatas"])
        for chunk_id, meta in zip(rows["ids"], rows["metadatas"] or []):
            meta = meta or {}
            source = str(meta.get("source", ""))
            record = files.setdefault(source, IndexedFile(source=source, path=str(meta.get("path", "")),
                                                          title=str(meta.get("title", source))))
            record.sha256s.add(str(meta.get("source_sha256", "")))
            record.pipelines.add(str(meta.get("pipeline", "")))
            record.chunk_ids.append(chunk_id)
            record.ingested_at = max(record.ingested_at, str(meta.get("ingested_at", "")))
        return files

    def all_chunks(self) -> list[Chunk]:
        """Every chunk, in document order (for BM25 and the library view)."""
        rows = self.collection.get(include=["documents", "metadatas"])
        chunks = [chunk_from_row(i, d, m) for i, d, m in zip(rows["ids"], rows["documents"], rows["metadatas"])]
        return sorted(chunks, key=lambda c: (c.source, c.position))

    def section_chunks(self, source: str, section: str) -> list[Chunk]:
        """Every chunk of one section of one document, in reading order ("read the whole section")."""
        rows = self.collection.get(where={"$and": [{"source": source}, {"section": section}]},
                                   include=["documents", "metadatas"])
        chunks = [chunk_from_row(i, d, m) for i, d, m in zip(rows["ids"], rows["documents"], rows["metadatas"])]
        return sorted(chunks, key=lambda c: c.position)

    def existing_ids(self, chunk_ids: Iterable[str]) -> set[str]:
        ids = list(dict.fromkeys(chunk_ids))
        found: set[str] = set()
        for start in range(0, len(ids), _WRITE_BATCH):
            found.update(self.collection.get(ids=ids[start:start + _WRITE_BATCH], include=[])["ids"])
        return found

    def fingerprint(self, chunk_ids: Sequence[str] | None = None) -> str:
        """Changes whenever the indexed content changes: used to refresh BM25 and to label eval reports.
        Pass the ids when they were just read, to spare a second read of the collection."""
        ids = self.collection.get(include=[])["ids"] if chunk_ids is None else chunk_ids
        digest = hashlib.sha256(self.embedding_model.encode())
        for chunk_id in sorted(ids):
            digest.update(chunk_id.encode())
        return digest.hexdigest()[:16]

    def last_ingest(self) -> str | None:
        return (self.collection.metadata or {}).get("last_ingest")

    # --- writing ---------------------------------------------------------------------------------

    def add(self, chunks: Sequence[Chunk], embeddings: Sequence[Sequence[float]],
            file_meta: dict[str, dict[str, Any]]) -> None:
        """Upsert chunks with their vectors. file_meta[source] holds path, sha256, pipeline, time."""
        for start in range(0, len(chunks), _WRITE_BATCH):
            batch = chunks[start:start + _WRITE_BATCH]
            self.collection.upsert(
                ids=[c.chunk_id for c in batch],
                embeddings=[list(v) for v in embeddings[start:start + _WRITE_BATCH]],
                documents=[c.text for c in batch],
                metadatas=[chunk_metadata(c, file_meta[c.source]) for c in batch],
            )

    def update_metadata(self, chunks: Sequence[Chunk], file_meta: dict[str, dict[str, Any]]) -> None:
        """Refresh position/hash of chunks whose text is unchanged: no re-embedding needed."""
        for start in range(0, len(chunks), _WRITE_BATCH):
            batch = chunks[start:start + _WRITE_BATCH]
            self.collection.update(ids=[c.chunk_id for c in batch],
                                   metadatas=[chunk_metadata(c, file_meta[c.source]) for c in batch])

    def set_title(self, chunk_ids: Sequence[str], title: str) -> None:
        """Give a document's chunks a new title in place: the text, ids and vectors stay as they are."""
        ids = list(chunk_ids)
        for start in range(0, len(ids), _WRITE_BATCH):
            batch = ids[start:start + _WRITE_BATCH]
            self.collection.update(ids=batch, metadatas=[{"title": title}] * len(batch))

    def delete(self, chunk_ids: Sequence[str]) -> None:
        ids = list(chunk_ids)
        for start in range(0, len(ids), _WRITE_BATCH):
            self.collection.delete(ids=ids[start:start + _WRITE_BATCH])

    def record_ingest(self, when: datetime | None = None) -> None:
        stamp = (when or datetime.now(timezone.utc)).isoformat(timespec="seconds")
        self.collection.modify(metadata={"embedding_model": self.embedding_model, "last_ingest": stamp})


def chunk_metadata(chunk: Chunk, file_meta: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {k: v for k, v in chunk.metadata.items()
                            if k not in RESERVED_KEYS and isinstance(v, (str, int, float, bool))}
    meta.update(source=chunk.source, title=chunk.title, section=chunk.section, position=chunk.position, **file_meta)
    return meta


def chunk_from_row(chunk_id: str, text: str | None, meta: dict[str, Any] | None) -> Chunk:
    meta = dict(meta or {})
    return Chunk(chunk_id=chunk_id, text=text or "", source=str(meta.pop("source", "")),
                 title=str(meta.pop("title", "")), section=str(meta.pop("section", "")),
                 position=int(meta.pop("position", 0)), metadata=meta)
