"""The ingestion job: course files in, chunks with embeddings in Chroma, incrementally.

A file whose bytes (and the chunking pipeline) are unchanged is skipped without being read twice or
embedded; a changed file has exactly its own chunks replaced (passages whose text did not change
keep their ids and vectors); with prune, files that disappeared are removed. A file that fails to
load is reported by name and its previously indexed chunks are left alone.
"""

from __future__ import annotations

import fnmatch
import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from filelock import FileLock, Timeout
from langchain_core.embeddings import Embeddings
from tqdm import tqdm

from tutor.chunking import CHUNKER_VERSION, chunk_document, embedding_text
from tutor.documents import is_supported, load_document
from tutor.embeddings import embedder_name
from tutor.errors import DocumentError, IndexBusy, TutorError, UnsupportedDocument
from tutor.models import Chunk
from tutor.settings import Settings
from tutor.store import ChunkStore, IndexedFile
from tutor.titles import load_titles

Status = Literal["added", "updated", "unchanged", "removed", "failed"]
IGNORE_FILE = ".tutorignore"
# Licence and attribution files sit beside course material (they must travel with it) but are not
# course material: never indexed, whatever their extension. A .tutorignore adds patterns of its own.
DEFAULT_IGNORES = ("LICENSE", "LICENSE.*", "LICENCE", "LICENCE.*", "COPYING", "COPYING.*", "NOTICE", "NOTICE.*",
                   "ATTRIBUTION", "ATTRIBUTION.*")
# Texts handed to the encoder per call: large enough to batch well, small enough for a live progress bar.
_EMBED_CHUNK = 256


@dataclass
class FileOutcome:
    source: str
    status: Status
    path: str = ""
    chunks: int = 0
    embedded: int = 0
    error: str | None = None


@dataclass
class IngestReport:
    outcomes: list[FileOutcome] = field(default_factory=list)
    embedded: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    store: str = ""

    def count(self, status: Status) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def failed(self) -> list[FileOutcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def summary(self) -> str:
        counts = ", ".join(f"{self.count(s)} {s}" for s in ("added", "updated", "unchanged", "removed", "failed"))
        prefix = "dry run (nothing written): " if self.dry_run else ""
        embedded = "nothing to embed" if self.embedded == 0 else f"{self.embedded} chunks embedded"
        return f"{prefix}{counts}; {embedded} in {self.seconds:.1f}s"

    def to_dict(self) -> dict[str, Any]:
        return {"summary": {s: self.count(s) for s in ("added", "updated", "unchanged", "removed", "failed")},
                "embedded_chunks": self.embedded, "seconds": round(self.seconds, 3), "dry_run": self.dry_run,
                "store": self.store, "files": [asdict(o) for o in self.outcomes]}


@dataclass
class _Planned:
    source: str
    path: Path
    sha256: str
    chunks: list[Chunk]
    previous: IndexedFile | None


# --- discovery -------------------------------------------------------------------------------------


def source_key(path: Path, corpus_root: Path, scan_root: Path | None) -> str:
    """The name a file is cited by: its path relative to the corpus root when it lives there,
    else relative to the directory it was found in (or just its name)."""
    path = path.resolve()
    for root in (corpus_root.resolve(), scan_root.resolve() if scan_root else None):
        if root is not None and path.is_relative_to(root) and path != root:
            return path.relative_to(root).as_posix()
    return path.name


def discover(paths: Sequence[Path], corpus_root: Path) -> tuple[list[tuple[Path, str]], list[FileOutcome], list[Path]]:
    """Files to ingest (path, source), failures found while looking, and the directories scanned."""
    found: dict[Path, str] = {}
    failures: list[FileOutcome] = []
    scanned_dirs: list[Path] = []
    for given in paths:
        if given.is_dir():
            scanned_dirs.append(given.resolve())
            ignores = {f.parent: _ignore_patterns(f) for f in given.rglob(IGNORE_FILE)}
            for file in sorted(given.rglob("*")):
                relative = file.relative_to(given)
                if any(part.startswith(".") for part in relative.parts) or not file.is_file():
                    continue
                if is_licence_file(file.name) or any(
                        file.is_relative_to(d) and _ignored(file.relative_to(d), pats) for d, pats in ignores.items()):
                    continue
                key = source_key(file, corpus_root, given)
                if is_supported(file):
                    found[file.resolve()] = key
                else:
                    failures.append(FileOutcome(source=key, status="failed", path=str(file.resolve()),
                                                error=UnsupportedDocument(file, _unsupported_reason(file)).reason))
        elif given.is_file():
            key = source_key(given, corpus_root, None)
            found[given.resolve()] = key
        else:
            failures.append(FileOutcome(source=str(given), status="failed", path=str(given),
                                        error="no such file or directory"))
    return sorted(found.items(), key=lambda item: item[1]), failures, scanned_dirs


def _unsupported_reason(path: Path) -> str:
    try:
        load_document(path)
    except DocumentError as exc:
        return exc.reason
    return "unsupported file type"


def _ignore_patterns(ignore_file: Path) -> list[str]:
    """Patterns from a .tutorignore (one glob a line, relative to its directory, '#' comments):
    licence files and the like, which sit beside course documents but are not course material."""
    try:
        lines = ignore_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TutorError(f"{ignore_file}: cannot be read as UTF-8 text ({exc}); fix or remove it") from exc
    return [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]


def is_licence_file(name: str) -> bool:
    """Licence and attribution files, in any case ("LICENSE", "license.md", "Attribution.txt")."""
    return any(fnmatch.fnmatchcase(name.upper(), pattern) for pattern in DEFAULT_IGNORES)


def _ignored(relative: Path, patterns: Sequence[str]) -> bool:
    posix = relative.as_posix()
    return any(fnmatch.fnmatch(posix, p) or fnmatch.fnmatch(relative.name, p) for p in patterns)


# --- locking ---------------------------------------------------------------------------------------


@contextmanager
def write_lock(settings: Settings, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """One writer at a time on an embedded store. A second writer waits up to TUTOR_LOCK_TIMEOUT
    seconds, then refuses. (A Chroma server serialises writes itself.)"""
    if settings.chroma_url:
        yield
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(settings.data_dir / "ingest.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if on_wait:
            on_wait(f"Another ingest is writing to {settings.store_location}; waiting up to "
                    f"{settings.lock_timeout:.0f}s for it to finish...")
        try:
            lock.acquire(timeout=settings.lock_timeout)
        except Timeout as exc:
            raise IndexBusy(
                f"Another ingest is still writing to {settings.store_location} after "
                f"{settings.lock_timeout:.0f}s; try again when it has finished (or raise TUTOR_LOCK_TIMEOUT)."
            ) from exc
    try:
        yield
    finally:
        lock.release()


# --- the job ---------------------------------------------------------------------------------------


def pipeline_id(settings: Settings, embedding_model: str) -> str:
    """Identifies everything that shapes a chunk and its vector; a change re-processes every file."""
    return f"chunker{CHUNKER_VERSION}/{settings.chunk_size}/{settings.chunk_overlap}/{embedding_model}"


def ingest(paths: Sequence[Path], settings: Settings, store: ChunkStore, embedder: Embeddings, *,
           prune: bool = False, dry_run: bool = False, quiet: bool = False,
           on_wait: Callable[[str], None] | None = None) -> IngestReport:
    """Index the given files and directories. Returns what happened to each file."""
    started = time.perf_counter()
    with write_lock(settings, on_wait):
        report = _ingest_locked(paths, settings, store, embedder, prune=prune, dry_run=dry_run, quiet=quiet)
    report.seconds = time.perf_counter() - started
    report.store = store.location
    return report


def _ingest_locked(paths: Sequence[Path], settings: Settings, store: ChunkStore, embedder: Embeddings, *,
                   prune: bool, dry_run: bool, quiet: bool) -> IngestReport:
    pipeline = pipeline_id(settings, embedder_name(embedder))
    files, failures, scanned_dirs = discover(paths, settings.corpus_dir)
    corpus_root = settings.corpus_dir.resolve()
    indexed = store.indexed_files()
    titles = load_titles(settings.data_dir)  # the instructor's names win over the files' own
    report = IngestReport(outcomes=list(failures), dry_run=dry_run)

    planned: list[_Planned] = []
    for path, source in files:
        try:
            sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as exc:
            report.outcomes.append(FileOutcome(source, "failed", str(path), error=f"cannot be read ({exc.strerror})"))
            continue
        previous = indexed.get(source)
        if (previous and previous.path and previous.path != str(path) and not path.is_relative_to(corpus_root)
                and Path(previous.path).exists()):
            # A file from outside the library would be cited by the name of another file: never let
            # it replace that one. (Inside the library the name is canonical: the library may have moved.)
            report.outcomes.append(FileOutcome(source, "failed", str(path), error=(
                f"another file is already indexed as '{source}' ({previous.path}); rename one of them")))
            continue
        if previous and previous.is_current(sha256, pipeline):
            report.outcomes.append(FileOutcome(source, "unchanged", str(path), chunks=len(previous.chunk_ids)))
            continue
        try:
            document = load_document(path)
            if source in titles:
                document.title = document.metadata["title"] = titles[source]
            chunks = chunk_document(document, source, settings.chunk_size, settings.chunk_overlap)
        except DocumentError as exc:
            report.outcomes.append(FileOutcome(source, "failed", str(path), error=exc.reason))
            continue
        planned.append(_Planned(source, path, sha256, chunks, previous))

    # Only passages not already in the index are embedded: an edited file re-embeds what changed.
    known = store.existing_ids(c.chunk_id for p in planned for c in p.chunks) if planned else set()
    to_embed = [c for p in planned for c in p.chunks if c.chunk_id not in known]
    vectors = {} if dry_run else _embed(to_embed, embedder, quiet)
    report.embedded = len(to_embed)

    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for plan in planned:
        status: Status = "updated" if plan.previous else "added"
        new = [c for c in plan.chunks if c.chunk_id not in known]
        report.outcomes.append(FileOutcome(plan.source, status, str(plan.path), chunks=len(plan.chunks),
                                           embedded=len(new)))
        if dry_run:
            continue
        file_meta = {plan.source: {"path": str(plan.path), "source_sha256": plan.sha256, "pipeline": pipeline,
                                   "ingested_at": now}}
        # Add before deleting: a crash in between leaves old and new chunks, never neither, and the
        # mixed hashes make the next run redo this file.
        store.add(new, [vectors[c.chunk_id] for c in new], file_meta)
        kept = [c for c in plan.chunks if c.chunk_id in known]
        if kept:
            store.update_metadata(kept, file_meta)
        current = {c.chunk_id for c in plan.chunks}
        stale = [i for i in (plan.previous.chunk_ids if plan.previous else []) if i not in current]
        store.delete(stale)

    if prune:
        seen = {source for _, source in files}
        for source, record in sorted(indexed.items()):
            # Gone from the folders scanned: deleted, moved, or now ignored.
            if source in seen or not _under_any(record.path, scanned_dirs):
                continue
            report.outcomes.append(FileOutcome(source, "removed", record.path, chunks=len(record.chunk_ids)))
            if not dry_run:
                store.delete(record.chunk_ids)

    if not dry_run and (planned or prune):
        store.record_ingest()
    return report


def _embed(chunks: list[Chunk], embedder: Embeddings, quiet: bool) -> dict[str, list[float]]:
    if not chunks:
        return {}
    # Longest first, as sentence-transformers does within one call: similar lengths batch with little padding.
    ordered = sorted(chunks, key=lambda c: len(embedding_text(c)), reverse=True)
    vectors: dict[str, list[float]] = {}
    with tqdm(total=len(ordered), desc="Embedding", unit="chunk", disable=quiet, leave=False) as bar:
        for start in range(0, len(ordered), _EMBED_CHUNK):
            batch = ordered[start:start + _EMBED_CHUNK]
            for chunk, vector in zip(batch, embedder.embed_documents([embedding_text(c) for c in batch])):
                vectors[chunk.chunk_id] = vector
            bar.update(len(batch))
    return vectors


def _under_any(path: str, roots: list[Path]) -> bool:
    return bool(path) and any(Path(path).is_relative_to(root) for root in roots)


def remove_documents(sources: Sequence[str], settings: Settings, store: ChunkStore) -> list[FileOutcome]:
    """Remove documents from the index by source name. Unknown names raise, naming them."""
    with write_lock(settings):
        indexed = store.indexed_files()
        unknown = [s for s in sources if s not in indexed]
        if unknown:
            raise TutorError(f"Not in the index: {', '.join(unknown)} (see `tutor status --documents`)")
        outcomes = []
        for source in sources:
            store.delete(indexed[source].chunk_ids)
            outcomes.append(FileOutcome(source, "removed", indexed[source].path, chunks=len(indexed[source].chunk_ids)))
        store.record_ingest()
    return outcomes
