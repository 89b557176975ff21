"""Instructor uploads: a file from the browser becomes a course document, or changes nothing.

The browser's file name is only a hint: it is reduced to a plain name (no directories, no hidden
files) before it touches the disk. The bytes are written under a temporary hidden name, loaded
with the real document loaders, and only moved into the library once they load; then just that
file is ingested. A file that fails at any step is reported by name and leaves the library and the
index as they were.
"""

from __future__ import annotations

import os
import re
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Literal

from tutor.documents import SUPPORTED_SUFFIXES
from tutor.errors import DocumentError, TutorError, UnsupportedDocument
from tutor.ingest import is_licence_file
from tutor.isolation import load_isolated
from tutor.library import InstructorSession, inside_corpus, library_file, require_instructor
from tutor.limits import ParseLimits
from tutor.settings import Settings

if TYPE_CHECKING:
    from tutor.service import TutorService

MAX_NAME_LENGTH = 120
UploadStatus = Literal["added", "updated", "unchanged", "failed"]
Progress = Callable[[int, int, str], None]  # (files done, files in total, name being processed)


@dataclass(frozen=True)
class Upload:
    """A file as the browser sent it."""

    name: str
    data: bytes


@dataclass
class UploadOutcome:
    name: str  # as uploaded (for the message shown to the instructor)
    status: UploadStatus
    source: str = ""  # the library name it is indexed under
    chunks: int = 0
    error: str | None = None
    warnings: list[str] = field(default_factory=list)  # planted instructions found, with their line

    @property
    def ok(self) -> bool:
        return self.status != "failed"


def safe_upload_name(name: str) -> str:
    """A plain file name for an upload, or UnsupportedDocument/DocumentError saying why there is none.

    Keeps only the last path component (either separator), letters, digits, '-', '_' and '.', so
    '../../etc/passwd.md' becomes 'passwd.md'; leading dots are dropped so an upload can never be a
    hidden file that ingest would skip.
    """
    base = unicodedata.normalize("NFKC", name).replace("\x00", "")
    base = re.split(r"[\\/]", base)[-1].strip()
    suffix = PurePath(base).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise UnsupportedDocument(name, f"unsupported file type '{suffix or '(none)'}' (supported: {supported})")
    stem = base[: -len(suffix)]
    stem = re.sub(r"[^\w.-]+", "-", stem, flags=re.UNICODE)
    stem = re.sub(r"-{2,}", "-", stem).strip(".-_ ")
    stem = stem[: MAX_NAME_LENGTH - len(suffix)] or "document"
    if is_licence_file(f"{stem}{suffix}"):
        # Indexed now, it would vanish at the next re-index, which never indexes licence files.
        raise UnsupportedDocument(name, "licence and attribution files are not course material; "
                                        "rename the file if it is a course document")
    return f"{stem}{suffix}"


def check_size(name: str, size: int, settings: Settings) -> None:
    limit = settings.upload_max_mb * 1024 * 1024
    if size > limit:
        raise DocumentError(name, f"is {size / 1024 / 1024:.1f} MB; the limit is {settings.upload_max_mb:g} MB "
                                  "(TUTOR_UPLOAD_MAX_MB)")


def add_uploads(service: TutorService, session: InstructorSession | None, uploads: Sequence[Upload],
                on_progress: Progress | None = None) -> list[UploadOutcome]:
    """Save each upload into the library and index it. A name already in the library is replaced."""
    require_instructor(service.settings, session)
    outcomes: list[UploadOutcome] = []
    for done, upload in enumerate(uploads):
        if on_progress:
            on_progress(done, len(uploads), upload.name)
        try:
            target = service.settings.corpus_dir / safe_upload_name(upload.name)
            outcomes.append(_install(service, upload, target))
        except TutorError as exc:
            outcomes.append(UploadOutcome(upload.name, "failed", error=_reason(exc)))
    if on_progress:
        on_progress(len(uploads), len(uploads), "")
    return outcomes


def replace_document(service: TutorService, session: InstructorSession | None, source: str,
                     upload: Upload) -> UploadOutcome:
    """Give an indexed document new content, keeping its name (and so its citations' source)."""
    require_instructor(service.settings, session)
    indexed = {d.source: d for d in service.documents()}
    try:
        if source not in indexed:
            raise TutorError(f"'{source}' is not in the library")
        current = library_file(service.settings, source, indexed[source].path)
        if current is None:
            raise TutorError(f"'{source}' lives outside the course library ({indexed[source].path}); update it "
                             "there and re-index")
        new_suffix = PurePath(safe_upload_name(upload.name)).suffix
        if new_suffix != current.suffix.lower():
            raise TutorError(f"a {current.suffix} document can only be replaced by a {current.suffix} file "
                             f"(got {new_suffix}); upload it as a new document and delete the old one instead")
        return _install(service, upload, current)
    except TutorError as exc:
        return UploadOutcome(upload.name, "failed", source=source, error=_reason(exc))


def _install(service: TutorService, upload: Upload, target: Path) -> UploadOutcome:
    """Validate, move into place, ingest; on any failure put the previous file back."""
    settings = service.settings
    check_size(upload.name, len(upload.data), settings)
    if not inside_corpus(settings, target):
        raise TutorError(f"refusing to write outside the course library: {target}")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Hidden (leading dot) temporary names: ingest and re-index never pick them up half-written.
    staged = target.parent / f".upload-{uuid.uuid4().hex}{target.suffix}"
    backup = target.parent / f".replaced-{uuid.uuid4().hex}{target.suffix}"
    staged.write_bytes(upload.data)
    try:
        try:
            load_isolated(staged, ParseLimits.from_settings(settings))
        except DocumentError as exc:
            raise DocumentError(upload.name, exc.reason) from exc
        had_previous = target.exists()
        if had_previous:
            os.replace(target, backup)
        os.replace(staged, target)
        try:
            report = service.ingest([target], quiet=True)
        except Exception:
            _restore(target, backup, had_previous)
            raise
        outcome = next((o for o in report.outcomes if Path(o.path).resolve() == target.resolve()), None)
        if outcome is None or outcome.status == "failed":
            _restore(target, backup, had_previous)
            raise DocumentError(upload.name, (outcome.error if outcome else None) or "could not be indexed")
        backup.unlink(missing_ok=True)
        return UploadOutcome(upload.name, outcome.status, source=outcome.source, chunks=outcome.chunks,
                             warnings=outcome.warnings)
    finally:
        staged.unlink(missing_ok=True)


def _restore(target: Path, backup: Path, had_previous: bool) -> None:
    if had_previous:
        os.replace(backup, target)
    else:
        target.unlink(missing_ok=True)


def _reason(exc: TutorError) -> str:
    return exc.reason if isinstance(exc, DocumentError) else str(exc)
