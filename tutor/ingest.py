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
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from langchain_core.embeddings import Embeddings
from tqdm import tqdm

from tutor.chunking import CHUNKER_VERSION, chunk_document, embedding_text
from tutor.documents import is_supported, load_document
from tutor.directives import flag_planted
from tutor.embeddings import embedder_name
from tutor.errors import DocumentError, TutorError, UnsupportedDocument
from tutor.isolation import load_isolated
from tutor.limits import ParseLimits
from tutor.locks import held
from tutor.models import Chunk
from tutor.relevance import calibrate_store, stored_floor
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
# Chunks embedded before they are written: bounds the vectors held in memory during a large ingest.
_EMBED_GROUP = 4096
# During a long run, readers are told of finished files at most this often (each tells them to reopen).
_MARK_EVERY_SECONDS = 10.0


@dataclass
class FileOutcome:
    source: str
    status: Status
    path: str = ""
    chunks: int = 0
    embedded: int = 0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)  # e.g. planted instructions found (tutor.directives)


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
    def warnings(self) -> list[tuple[str, str]]:
        """(source, warning) for every warning of the run, in file order."""
        return [(o.source, w) for o in self.outcomes for w in o.warnings]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def summary(self) -> str:
        counts = ", ".join(f"{self.count(s)} {s}" for s in ("added", "updated", "unchanged", "removed", "failed"))
        prefix = "dry run (nothing written): " if self.dry_run else ""
        embedded = "nothing to embed" if self.embedded == 0 else f"{self.embedded} chunks embedded"
        warned = f"; {len(self.warnings)} warning{'s' if len(self.warnings) != 1 else ''}" if self.warnings else ""
        return f"{prefix}{counts}; {embedded} in {self.seconds:.1f}s{warned}"

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
    warnings: list[str] = field(default_factory=list)


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
                unsafe = unsafe_path_reason(file, corpus_root if given.resolve().is_relative_to(corpus_root.resolve())
                                            else given)
                if unsafe:
                    failures.append(FileOutcome(source=printable_name(relative.as_posix()), status="failed",
                                                path=printable_name(str(file)), error=unsafe))
                    continue
                key = source_key(file, corpus_root, given)
                if is_supported(file):
                    found[file.resolve()] = key
                else:
                    failures.append(FileOutcome(source=key, status="failed", path=str(file.resolve()),
                                                error=UnsupportedDocument(file, _unsupported_reason(file)).reason))
        elif given.is_file():
            # A file named on the command line may live anywhere; inside the library it obeys its rules.
            root = corpus_root if given.absolute().is_relative_to(corpus_root.absolute()) else given.parent
            unsafe = unsafe_path_reason(given, root)
            if unsafe:
                failures.append(FileOutcome(source=printable_name(given.name), status="failed",
                                            path=printable_name(str(given)), error=unsafe))
                continue
            key = source_key(given, corpus_root, None)
            found[given.resolve()] = key
        else:
            failures.append(FileOutcome(source=str(given), status="failed", path=str(given),
                                        error="no such file or directory"))
    return sorted(found.items(), key=lambda item: item[1]), failures, scanned_dirs


def unsafe_path_reason(file: Path, root: Path) -> str | None:
    """Why a file found under `root` must not be read, or None. A symlink (of the file or of a folder
    on the way) that leads outside the root would index a file nobody put in the library; a name
    with control characters would be shown to people (CLI, pages, citations) as something else."""
    relative = file.absolute().relative_to(root.absolute()) if file.absolute().is_relative_to(root.absolute()) \
        else Path(file.name)
    if any(_has_control_characters(part) for part in relative.parts):
        return "file name contains control characters; rename it"
    resolved, real_root = file.resolve(), root.resolve()
    if not resolved.is_relative_to(real_root):
        return f"is a symbolic link to a file outside {real_root.name or real_root}/; refused"
    return None


def _has_control_characters(name: str) -> bool:
    # Cc: C0/C1 controls (newline, escape...); Cf: invisible format characters such as the bidi
    # overrides that make "evil‮fdp.md" display as "evildm.pdf".
    return any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name)


def printable_name(name: str) -> str:
    """A name fit to print: control and format characters shown as escapes."""
    return "".join(ch.encode("unicode_escape").decode("ascii") if unicodedata.category(ch) in ("Cc", "Cf") else ch
                   for ch in name)


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


def write_lock_path(settings: Settings) -> Path:
    return settings.data_dir / "ingest.lock"


@contextmanager
def write_lock(settings: Settings, on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """One writer at a time on an embedded store. A second writer waits up to TUTOR_LOCK_TIMEOUT
    seconds, then refuses. (A Chroma server serialises writes itself.)"""
    if settings.chroma_url:
        yield
        return
    with held(write_lock_path(settings), settings.lock_timeout, on_wait=on_wait,
              waiting=(f"Another ingest is writing to {settings.store_location}; waiting up to "
                       f"{settings.lock_timeout:.0f}s for it to finish..."),
              busy=(f"Another ingest is still writing to {settings.store_location} after "
                    f"{settings.lock_timeout:.0f}s; try again when it has finished (or raise TUTOR_LOCK_TIMEOUT).")):
        yield


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
        store.refresh()  # another process may have written since this store opened
        if dry_run:
            report = _ingest_locked(paths, settings, store, embedder, prune=prune, dry_run=True, quiet=quiet)
        else:
            store.drop_retired()  # a rebuild's swap that was killed before it dropped the old collection
            with _operation(store, "ingest"):
                report = _ingest_locked(paths, settings, store, embedder, prune=prune, dry_run=False, quiet=quiet)
    report.seconds = time.perf_counter() - started
    report.store = store.location
    return report


def rebuild(settings: Settings, store: ChunkStore, embedder: Embeddings, *, quiet: bool = False,
            on_wait: Callable[[str], None] | None = None) -> IngestReport:
    """Re-embed the whole corpus directory into a new collection beside the live one, then swap.
    The live index answers throughout; a run killed at any point leaves it serving, and the next
    rebuild resumes the half-built collection (ingest skips the files it completed)."""
    started = time.perf_counter()
    with write_lock(settings, on_wait):
        store.refresh()
        store.drop_retired()
        target = store.begin_rebuild(embedder_name(embedder))
        report = _ingest_locked([settings.corpus_dir], settings, target, embedder, prune=True, dry_run=False,
                                quiet=quiet)
        target.record_ingest()
        store.finish_rebuild(target)
    report.seconds = time.perf_counter() - started
    report.store = store.location
    return report


@contextmanager
def _operation(store: ChunkStore, name: str) -> Iterator[None]:
    """Record the operation in the index state while it runs; if the process dies, the record stays
    and `tutor status` reports the interrupted operation."""
    store.begin_operation(name)
    try:
        yield
    except Exception:
        store.end_operation()  # failed with a message, not interrupted: nothing is left to resume
        raise
    store.end_operation()


def _ingest_locked(paths: Sequence[Path], settings: Settings, store: ChunkStore, embedder: Embeddings, *,
                   prune: bool, dry_run: bool, quiet: bool) -> IngestReport:
    pipeline = pipeline_id(settings, embedder_name(embedder))
    files, failures, scanned_dirs = discover(paths, settings.corpus_dir)
    corpus_root = settings.corpus_dir.resolve()
    indexed = store.indexed_files()
    titles = load_titles(settings.data_dir)  # the instructor's names win over the files' own
    report = IngestReport(outcomes=list(failures), dry_run=dry_run)
    progress = _Progress(store)

    planned: list[_Planned] = []
    for path, source in files:
        try:
            with path.open("rb") as handle:  # streamed: a huge file is refused later, not held here
                sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
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
            report.outcomes.append(FileOutcome(source, "unchanged", str(path), chunks=previous.chunks))
            continue
        try:
            document = load_isolated(path, ParseLimits.from_settings(settings))
            if source in titles:
                document.title = document.metadata["title"] = titles[source]
            chunks = chunk_document(document, source, settings.chunk_size, settings.chunk_overlap)
        except DocumentError as exc:
            report.outcomes.append(FileOutcome(source, "failed", str(path), error=exc.reason))
            continue
        planned.append(_Planned(source, path, sha256, chunks, previous, flag_planted(document, chunks)))

    # Only passages not already in the index are embedded: an edited file re-embeds what changed.
    known = store.existing_ids(c.chunk_id for p in planned for c in p.chunks) if planned else set()
    report.embedded = sum(1 for p in planned for c in p.chunks if c.chunk_id not in known)

    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    previous_ids = store.chunk_ids_of(p.source for p in planned if p.previous) if planned and not dry_run else {}
    bar = tqdm(total=report.embedded, desc="Embedding", unit="chunk", leave=False,
               disable=quiet or dry_run or not report.embedded)
    vectors: dict[str, list[float]] = {}
    for n, plan in enumerate(planned):
        status: Status = "updated" if plan.previous else "added"
        new = [c for c in plan.chunks if c.chunk_id not in known]
        report.outcomes.append(FileOutcome(plan.source, status, str(plan.path), chunks=len(plan.chunks),
                                           embedded=len(new), warnings=plan.warnings))
        if dry_run:
            continue
        if not all(c.chunk_id in vectors for c in new):
            # Embed the files from here on in groups of about _EMBED_GROUP chunks: batches large
            # enough to sort by length, while a 100k-chunk ingest never holds every vector at once.
            vectors = _embed(_next_group(planned[n:], known), embedder, bar)
        file_meta = {plan.source: {"path": str(plan.path), "source_sha256": plan.sha256, "pipeline": pipeline,
                                   "ingested_at": now}}
        title = plan.chunks[0].title if plan.chunks else plan.source
        current_ids = [c.chunk_id for c in plan.chunks]
        old_ids = previous_ids.get(plan.source, [])
        # The manifest first lists old and new chunks as incomplete, then the new ones as complete:
        # a crash in between makes the next run redo this file and delete every leftover chunk.
        # Chunks are added before stale ones are deleted: a crash never leaves neither.
        store.record_file(IndexedFile(plan.source, str(plan.path), title, chunks=len(current_ids), ingested_at=now,
                                      complete=False), list(dict.fromkeys(old_ids + current_ids)))
        store.add(new, [vectors[c.chunk_id] for c in new], file_meta)
        kept = [c for c in plan.chunks if c.chunk_id in known]
        if kept:
            store.update_metadata(kept, file_meta)
        current = set(current_ids)
        store.delete([i for i in old_ids if i not in current])
        store.record_file(IndexedFile(plan.source, str(plan.path), title, plan.sha256, pipeline, len(current_ids),
                                      now), current_ids)
        progress.file_done()
    bar.close()

    if prune:
        seen = {source for _, source in files}
        # Gone from the folders scanned: deleted, moved, or now ignored.
        gone = [s for s, r in sorted(indexed.items()) if s not in seen and _under_any(r.path, scanned_dirs)]
        gone_ids = store.chunk_ids_of(gone) if gone and not dry_run else {}
        for source in gone:
            record = indexed[source]
            report.outcomes.append(FileOutcome(source, "removed", record.path, chunks=record.chunks))
            if not dry_run:
                store.delete(gone_ids.get(source, []))
                store.forget_files([source])

    if not dry_run and (planned or prune):
        store.record_ingest()
    if not dry_run and (planned or prune or (store.count() and stored_floor(store) is None)):
        # The corpus changed, so does its relevance floor (and an index from before floors gets one).
        calibrate_store(store, _as_questions(embedder))
    return report


def _next_group(planned: Sequence[_Planned], known: set[str]) -> list[Chunk]:
    """The chunks to embed for the next files, whole files, about _EMBED_GROUP chunks."""
    group: list[Chunk] = []
    for plan in planned:
        if group and len(group) >= _EMBED_GROUP:
            break
        group += [c for c in plan.chunks if c.chunk_id not in known]
    return group


def _embed(chunks: list[Chunk], embedder: Embeddings, bar: tqdm) -> dict[str, list[float]]:
    if not chunks:
        return {}
    # Longest first, as sentence-transformers does within one call: similar lengths batch with little padding.
    ordered = sorted(chunks, key=lambda c: len(embedding_text(c)), reverse=True)
    vectors: dict[str, list[float]] = {}
    for start in range(0, len(ordered), _EMBED_CHUNK):
        batch = ordered[start:start + _EMBED_CHUNK]
        for chunk, vector in zip(batch, embedder.embed_documents([embedding_text(c) for c in batch])):
            vectors[chunk.chunk_id] = vector
        bar.update(len(batch))
    return vectors


class _Progress:
    """Moves the change marker during a long run, so readers find finished files within seconds
    rather than at the end; throttled, because each move makes readers reopen the store."""

    def __init__(self, store: ChunkStore, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.clock = clock
        self.last = clock()

    def file_done(self) -> None:
        if self.clock() - self.last >= _MARK_EVERY_SECONDS:
            self.store.mark_changed()
            self.last = self.clock()


def _under_any(path: str, roots: list[Path]) -> bool:
    return bool(path) and any(Path(path).is_relative_to(root) for root in roots)


def remove_documents(sources: Sequence[str], settings: Settings, store: ChunkStore,
                     embedder: Embeddings | None = None) -> list[FileOutcome]:
    """Remove documents from the index by source name. Unknown names raise, naming them."""
    with write_lock(settings):
        store.refresh()
        indexed = store.indexed_files()
        unknown = [s for s in sources if s not in indexed]
        if unknown:
            raise TutorError(f"Not in the index: {', '.join(unknown)} (see `tutor status --documents`)")
        outcomes = []
        chunk_ids = store.chunk_ids_of(sources)
        with _operation(store, "remove"):
            for source in sources:
                # Chunks first, then the record: a crash in between leaves a record whose chunks
                # are partly gone, which the next removal (or re-ingest) finishes.
                store.delete(chunk_ids.get(source, []))
                store.forget_files([source])
                outcomes.append(FileOutcome(source, "removed", indexed[source].path, chunks=indexed[source].chunks))
            store.record_ingest()
            if embedder is not None:
                calibrate_store(store, _as_questions(embedder))
    return outcomes


def _as_questions(embedder: Embeddings) -> Callable[[list[str]], list[list[float]]]:
    """The calibration's probes stand for students' questions, so they are embedded the way questions
    are (embed_query), not as passages: the ingest's passage count stays what was re-embedded."""
    return lambda texts: [embedder.embed_query(text) for text in texts]
