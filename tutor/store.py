"""The chunk index in Chroma: an embedded PersistentClient in the data directory, or a Chroma
server over HTTP when TUTOR_CHROMA_URL is set. Same operations either way.

Three kinds of collection make one index (all in the same Chroma, so the server mode needs nothing
else):
- the chunks (`course`, or `course__r3` after rebuilds): text, metadata and vector of every passage;
- their manifest (`<chunks>__files`): one record per source file — path, hash, pipeline, chunk
  count, chunk ids — so status, start-up and an unchanged re-ingest read O(files), never every chunk;
- the state (`course__state`, metadata only): which chunk collection is live, a change marker that
  every writer moves, and the operation in progress (see tutor/index_state.py).

No request reads or writes more than Chroma's max_batch_size rows: above ~32k rows a single
`get` fails with "too many SQL variables" on the embedded store.

Writes go straight to Chroma because ingest brings its own embeddings (computed in large sorted
batches, with the heading path prepended); dense search for answering goes through langchain-chroma
in retrieve.py.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import chromadb
from chromadb.config import Settings as ChromaSettings
from chromadb.errors import NotFoundError

from tutor.errors import EmbeddingModelMismatch, StoreUnavailable
from tutor.index_state import IndexState, StateRecord, files_collection_name
from tutor.locks import held
from tutor.models import Chunk
from tutor.settings import Settings

# Metadata keys written by ingest; everything else on a chunk comes from the document itself.
RESERVED_KEYS = {"source", "path", "title", "section", "position", "source_sha256", "pipeline", "ingested_at", "kind"}
# Cap on rows per request even if the server allows more: bounded memory per call.
_MAX_BATCH = 5000
# Manifest records carry no meaningful vector; Chroma still wants one.
_NO_VECTOR = [1.0]
_CHUNK_CONFIGURATION = {"hnsw": {"space": "cosine", "ef_search": 200, "ef_construction": 200}}


@dataclass
class IndexedFile:
    """What the index knows about one source file (its manifest record)."""

    source: str
    path: str
    title: str
    sha256: str = ""
    pipeline: str = ""
    chunks: int = 0
    ingested_at: str = ""
    complete: bool = True  # False while (or if interrupted while) its chunks were being written

    def is_current(self, sha256: str, pipeline: str) -> bool:
        """True when every chunk came from exactly this file content and this chunking pipeline."""
        return self.complete and self.sha256 == sha256 and self.pipeline == pipeline

    @property
    def version(self) -> tuple[str, str, str, int, bool]:
        """Changes whenever the file's chunks may have changed (readers diff on it)."""
        return (self.sha256, self.pipeline, self.ingested_at, self.chunks, self.complete)


@contextmanager
def _opening(settings: Settings) -> Iterator[None]:
    """Serialise opening the embedded store across processes. A new data directory is created by
    the first client (Chroma runs its table migrations then), and two processes doing that at once
    fail with "table collections already exists"; the same holds for creating a collection."""
    if settings.chroma_url:
        yield
        return
    with held(settings.data_dir / "chroma-open.lock", settings.lock_timeout,
              busy=f"The index at {settings.store_location} stayed busy opening for {settings.lock_timeout:.0f}s."):
        yield


def open_client(settings: Settings, *, fresh: bool = False) -> chromadb.ClientAPI:
    """A Chroma client for the configured location: server if TUTOR_CHROMA_URL is set, else embedded.

    fresh: for the embedded store, a new client instead of the process's cached one. Chroma's
    embedded client keeps its own in-memory view of the vectors and does not see what other
    processes wrote since it opened (it serves deleted ids and misses new ones), so a reader
    reopens when the change marker moved."""
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
    if fresh:
        _forget_cached_system(str(path))
    return chromadb.PersistentClient(path=str(path), settings=chroma_settings)


def forget_embedded_store(data_dir: Path) -> None:
    """Drop this process's cached Chroma system for the embedded store of `data_dir`, so that a
    directory deleted (or replaced) by this process is opened afresh, not through stale state."""
    _forget_cached_system(str(data_dir / "chroma"))


def _forget_cached_system(path: str) -> None:
    """Make the next PersistentClient for `path` start a new Chroma system. Chroma caches one per
    path and process and offers only a clear-everything call; clients already holding the old
    system keep working with it until they are dropped (it is not stopped under them)."""
    from chromadb.api.shared_system_client import SharedSystemClient

    with SharedSystemClient._refcount_lock:
        SharedSystemClient._identifier_to_system.pop(path, None)
        SharedSystemClient._identifier_to_refcount.pop(path, None)


class ChunkStore:
    """The live chunk collection of one index (following the state's pointer), its manifest, and
    the embedding model it was built with. Thread-safe: a reopen never happens under a running call.

    A store made by `begin_rebuild` is bound to the collection being built instead, and never
    follows the pointer."""

    def __init__(self, settings: Settings, embedding_model: str, *, check_model: bool = True,
                 client: chromadb.ClientAPI | None = None, bound_to: str | None = None) -> None:
        self.settings = settings
        self.collection_name = settings.collection  # the index's name; the live collection may differ
        self.embedding_model = embedding_model
        self.location = settings.store_location
        self._check_model = check_model
        self._bound_to = bound_to
        self._lock = threading.RLock()
        self._open(client or open_client(settings))

    @classmethod
    def open(cls, settings: Settings, embedding_model: str, *, check_model: bool = True) -> ChunkStore:
        with _opening(settings):
            return cls(settings, embedding_model, check_model=check_model)

    def _open(self, client: chromadb.ClientAPI) -> None:
        self.client = client
        self.batch_size = max(1, min(client.get_max_batch_size(), _MAX_BATCH))
        self._state_record = StateRecord(client, self.collection_name)
        self.state = self._state_record.read()
        live = self._bound_to or self.state.live
        self.collection = client.get_or_create_collection(
            live, configuration=_CHUNK_CONFIGURATION, metadata={"embedding_model": self.embedding_model},
            embedding_function=None,  # never Chroma's default: it downloads a model
        )
        self.files = client.get_or_create_collection(files_collection_name(live), embedding_function=None)
        built_with = (self.collection.metadata or {}).get("embedding_model")
        if self._check_model and built_with and built_with != self.embedding_model and self.collection.count() > 0:
            raise EmbeddingModelMismatch(
                f"The index at {self.location} (collection '{live}') was built with {built_with}, "
                f"but the configured embedding model is {self.embedding_model}. Run `tutor ingest --rebuild` to "
                "re-embed everything (the current index keeps serving until the new one is complete), or set "
                "TUTOR_COLLECTION to use a separate collection."
            )
        if self.files.count() == 0 and self.collection.count() > 0:
            self._write_manifest_from_chunks()

    @property
    def live_collection(self) -> str:
        return self.collection.name

    # --- following other writers -------------------------------------------------------------------

    def read_state(self) -> IndexState:
        """The state as stored now (one small read): cheap enough to poll every few seconds."""
        return self._state_record.read()

    def refresh(self, state: IndexState | None = None, *, force: bool = False) -> bool:
        """Reopen if another writer moved the change marker since this store opened (or `force`).
        Returns True when it reopened: anything derived from the old view must be refreshed too."""
        state = state or self.read_state()
        if not force and state.marker == self.state.marker:
            return False
        with self._lock, _opening(self.settings):
            # A server has one view for everybody: only the pointer and collections are re-read
            # (and a new HttpClient would register another Chroma system for the process's life).
            self._open(self.client if self.settings.chroma_url else open_client(self.settings, fresh=True))
        return True

    # --- reading ---------------------------------------------------------------------------------

    def count(self) -> int:
        with self._lock:
            return self.collection.count()

    def document_count(self) -> int:
        with self._lock:
            return self.files.count()

    def _pages(self, collection: Any, include: list[str], where: dict | None = None) -> Iterator[dict[str, Any]]:
        """Every row of a collection, max_batch_size rows per request."""
        offset = 0
        while True:
            with self._lock:
                page = collection.get(include=include, limit=self.batch_size, offset=offset, where=where)
            if not page["ids"]:
                return
            yield page
            offset += len(page["ids"])
            if len(page["ids"]) < self.batch_size:
                return

    def indexed_files(self) -> dict[str, IndexedFile]:
        """The manifest: one record per file, O(files) to read."""
        files: dict[str, IndexedFile] = {}
        for page in self._pages(self.files, ["metadatas"]):
            for meta in page["metadatas"]:
                record = _file_from_meta(meta or {})
                files[record.source] = record
        return files

    def chunk_ids_of(self, sources: Iterable[str]) -> dict[str, list[str]]:
        """The chunk ids the manifest lists for these files (only the files asked for are read)."""
        wanted = list(dict.fromkeys(sources))
        found: dict[str, list[str]] = {}
        for start in range(0, len(wanted), self.batch_size):
            with self._lock:
                rows = self.files.get(ids=wanted[start:start + self.batch_size], include=["documents"])
            for source, document in zip(rows["ids"], rows["documents"]):
                found[source] = json.loads(document or "[]")
        return found

    def iter_chunk_pages(self, *, embeddings: bool = False) -> Iterator[list[Chunk]]:
        """Every chunk, a batch at a time (in storage order)."""
        include = ["documents", "metadatas"] + (["embeddings"] if embeddings else [])
        for page in self._pages(self.collection, include):
            yield [chunk_from_row(i, d, m) for i, d, m in zip(page["ids"], page["documents"], page["metadatas"])]

    def all_chunks(self) -> list[Chunk]:
        """Every chunk, in document order (for the library view and starters; batched reads)."""
        chunks = [chunk for page in self.iter_chunk_pages() for chunk in page]
        return sorted(chunks, key=lambda c: (c.source, c.position))

    def get_chunks(self, chunk_ids: Sequence[str], *, embeddings: bool = False) -> list[tuple[Chunk, Any]]:
        """These chunks (with their vectors if asked), in the order asked; ids no longer indexed are
        skipped (another writer may have removed them a moment ago)."""
        include = ["documents", "metadatas"] + (["embeddings"] if embeddings else [])
        ids = list(dict.fromkeys(chunk_ids))
        by_id: dict[str, tuple[Chunk, Any]] = {}
        for start in range(0, len(ids), self.batch_size):
            with self._lock:
                rows = self.collection.get(ids=ids[start:start + self.batch_size], include=include)
            vectors = rows.get("embeddings") if embeddings else None
            for n, (chunk_id, document, meta) in enumerate(zip(rows["ids"], rows["documents"], rows["metadatas"])):
                by_id[chunk_id] = (chunk_from_row(chunk_id, document, meta),
                                   vectors[n] if vectors is not None else None)
        return [by_id[i] for i in ids if i in by_id]

    def nearest_similarities(self, vectors: Sequence[Sequence[float]]) -> list[float | None]:
        """For each query vector, the cosine of its nearest passage (None in an empty index)."""
        if not vectors or not self.count():
            return [None] * len(vectors)
        with self._lock:
            found = self.collection.query(query_embeddings=[list(map(float, v)) for v in vectors], n_results=1,
                                          include=["distances"])
        # The collection's space is cosine: distance = 1 - cosine.
        return [1.0 - distances[0] if distances else None for distances in found["distances"]]

    def section_chunks(self, source: str, section: str) -> list[Chunk]:
        """Every chunk of one section of one document, in reading order ("read the whole section")."""
        where = {"$and": [{"source": source}, {"section": section}]}
        chunks = [chunk_from_row(i, d, m) for page in self._pages(self.collection, ["documents", "metadatas"], where)
                  for i, d, m in zip(page["ids"], page["documents"], page["metadatas"])]
        return sorted(chunks, key=lambda c: c.position)

    def existing_ids(self, chunk_ids: Iterable[str]) -> set[str]:
        ids = list(dict.fromkeys(chunk_ids))
        found: set[str] = set()
        for start in range(0, len(ids), self.batch_size):
            with self._lock:
                found.update(self.collection.get(ids=ids[start:start + self.batch_size], include=[])["ids"])
        return found

    def fingerprint(self) -> str:
        """Changes whenever the indexed content changes (labels eval reports): a digest of the
        manifest — every file's hash, pipeline and chunk count — and the model; O(files)."""
        digest = hashlib.sha256(self.embedding_model.encode())
        for source, record in sorted(self.indexed_files().items()):
            digest.update(f"{source}\x1f{record.sha256}\x1f{record.pipeline}\x1f{record.chunks}\x1e".encode())
        return digest.hexdigest()[:16]

    def last_ingest(self) -> str | None:
        with self._lock:
            return (self.client.get_collection(self.live_collection).metadata or {}).get("last_ingest")

    # --- writing chunks --------------------------------------------------------------------------

    def add(self, chunks: Sequence[Chunk], embeddings: Sequence[Sequence[float]],
            file_meta: dict[str, dict[str, Any]]) -> None:
        """Upsert chunks with their vectors. file_meta[source] holds path, sha256, pipeline, time."""
        for start in range(0, len(chunks), self.batch_size):
            batch = chunks[start:start + self.batch_size]
            with self._lock:
                self.collection.upsert(
                    ids=[c.chunk_id for c in batch],
                    embeddings=[list(v) for v in embeddings[start:start + self.batch_size]],
                    documents=[c.text for c in batch],
                    metadatas=[chunk_metadata(c, file_meta[c.source]) for c in batch],
                )

    def update_metadata(self, chunks: Sequence[Chunk], file_meta: dict[str, dict[str, Any]]) -> None:
        """Refresh position/hash of chunks whose text is unchanged: no re-embedding needed."""
        for start in range(0, len(chunks), self.batch_size):
            batch = chunks[start:start + self.batch_size]
            with self._lock:
                self.collection.update(ids=[c.chunk_id for c in batch],
                                       metadatas=[chunk_metadata(c, file_meta[c.source]) for c in batch])

    def set_title(self, chunk_ids: Sequence[str], title: str) -> None:
        """Give a document's chunks a new title in place: the text, ids and vectors stay as they are."""
        ids = list(chunk_ids)
        for start in range(0, len(ids), self.batch_size):
            batch = ids[start:start + self.batch_size]
            with self._lock:
                self.collection.update(ids=batch, metadatas=[{"title": title}] * len(batch))

    def delete(self, chunk_ids: Sequence[str]) -> None:
        ids = list(chunk_ids)
        for start in range(0, len(ids), self.batch_size):
            with self._lock:
                self.collection.delete(ids=ids[start:start + self.batch_size])

    # --- writing the manifest --------------------------------------------------------------------

    def record_file(self, record: IndexedFile, chunk_ids: Sequence[str]) -> None:
        """Write one file's manifest record. Ingest writes it twice: incomplete, listing old and new
        chunk ids, before touching the chunks; complete, listing the new ones, after. A crash in
        between leaves a record that makes the next run redo the file and delete every leftover."""
        meta = {"source": record.source, "path": record.path, "title": record.title, "sha256": record.sha256,
                "pipeline": record.pipeline, "chunks": record.chunks, "ingested_at": record.ingested_at,
                "complete": record.complete}
        with self._lock:
            self.files.upsert(ids=[record.source], embeddings=[_NO_VECTOR], documents=[json.dumps(list(chunk_ids))],
                              metadatas=[meta])

    def forget_files(self, sources: Sequence[str]) -> None:
        ids = list(sources)
        for start in range(0, len(ids), self.batch_size):
            with self._lock:
                self.files.delete(ids=ids[start:start + self.batch_size])

    def _write_manifest_from_chunks(self) -> None:
        """An index written before the manifest existed: derive it from the chunks once (batched)."""
        records: dict[str, IndexedFile] = {}
        ids: dict[str, list[str]] = {}
        hashes: dict[str, set[tuple[str, str]]] = {}
        for page in self._pages(self.collection, ["metadatas"]):
            for chunk_id, meta in zip(page["ids"], page["metadatas"]):
                meta = meta or {}
                source = str(meta.get("source", ""))
                record = records.setdefault(source, IndexedFile(source=source, path=str(meta.get("path", "")),
                                                                title=str(meta.get("title", source))))
                hashes.setdefault(source, set()).add((str(meta.get("source_sha256", "")), str(meta.get("pipeline", ""))))
                ids.setdefault(source, []).append(chunk_id)
                record.ingested_at = max(record.ingested_at, str(meta.get("ingested_at", "")))
        for source, record in records.items():
            if len(hashes[source]) == 1:
                record.sha256, record.pipeline = next(iter(hashes[source]))
            else:
                record.complete = False  # mixed hashes: an interrupted update; the next ingest redoes it
            record.chunks = len(ids[source])
            self.record_file(record, ids[source])

    # --- the change marker and the rebuild pointer -----------------------------------------------

    def record_ingest(self, when: datetime | None = None) -> None:
        """After a write: stamp the collection and move the change marker so readers refresh.
        A store being rebuilt only stamps its collection: nobody reads it until the swap."""
        stamp = (when or datetime.now(timezone.utc)).isoformat(timespec="seconds")
        with self._lock:
            self.collection.modify(metadata={"embedding_model": self.embedding_model, "last_ingest": stamp})
        if self._bound_to is None:
            self.mark_changed()

    def mark_changed(self) -> None:
        with self._lock:
            self.state = self._state_record.update(self._state_record.read().moved())

    def begin_operation(self, operation: str, target: str = "") -> None:
        with self._lock:
            self.state = self._state_record.update(self._state_record.read().begin(operation, target))

    def end_operation(self) -> None:
        with self._lock:
            self.state = self._state_record.update(self._state_record.read().ended())

    def begin_rebuild(self, embedding_model: str) -> ChunkStore:
        """A store over a new chunk collection beside the live one, for the rebuild to fill. An
        interrupted rebuild of the same model is resumed (ingest skips what it completed);
        one of another model is dropped and started over."""
        state = self.read_state()
        target = state.pending_target if state.operation == "rebuild" else ""
        if target:
            try:
                built_with = (self.client.get_collection(target).metadata or {}).get("embedding_model")
            except NotFoundError:
                built_with = None
            if built_with not in (None, embedding_model):
                self._drop(target)
        if not target:
            target = state.next_rebuild_target()
            self._drop(target)
        self.begin_operation("rebuild", target)
        return ChunkStore(self.settings, embedding_model, client=self.client, bound_to=target)

    def finish_rebuild(self, built: ChunkStore) -> None:
        """Swap the pointer to the completed collection (one metadata write: readers see the old
        index or the new one, never a mix), then drop the old one."""
        with self._lock:
            state = self._state_record.update(self._state_record.read().swapped_to(built.live_collection))
            self.state = state
        self.drop_retired()
        self.refresh(force=True)

    def drop_retired(self) -> None:
        """Drop a collection a swap left behind (also finishes a swap whose drop was interrupted)."""
        state = self.read_state()
        if state.retired and state.retired != state.live:
            self._drop(state.retired)
        if state.retired:
            with self._lock:
                self.state = self._state_record.update(self.read_state().without_retired())

    def _drop(self, name: str) -> None:
        for collection in (name, files_collection_name(name)):
            try:
                with self._lock:
                    self.client.delete_collection(collection)
            except (NotFoundError, ValueError):
                pass  # already gone


def _file_from_meta(meta: dict[str, Any]) -> IndexedFile:
    source = str(meta.get("source", ""))
    return IndexedFile(source=source, path=str(meta.get("path", "")), title=str(meta.get("title", source)),
                       sha256=str(meta.get("sha256", "")), pipeline=str(meta.get("pipeline", "")),
                       chunks=int(meta.get("chunks", 0)), ingested_at=str(meta.get("ingested_at", "")),
                       complete=bool(meta.get("complete", True)))


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
