"""Instructor access to the course library: who may change it, and the changes besides uploads.

Every action takes an `InstructorSession` and checks it itself, so no caller (a page, a test, a
script) can reach an action without having given the instructor password. A session is a keyed
digest of the password: one cannot be forged without the password, and changing
TUTOR_INSTRUCTOR_PASSWORD (or restarting the server) invalidates every session issued before.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from tutor.errors import LibraryLocked, NotAuthorized, TooManyAttempts
from tutor.ingest import FileOutcome, IngestReport
from tutor.models import Chunk
from tutor.settings import Settings
from tutor.titles import save_title

if TYPE_CHECKING:
    from tutor.service import TutorService

# Per process: sessions die with the server, and a token seen in one process means nothing in another.
_SESSION_KEY = secrets.token_bytes(32)

HOW_TO_ENABLE = (
    "Set the environment variable TUTOR_INSTRUCTOR_PASSWORD to a password of your choice and restart "
    "the tutor (e.g. `TUTOR_INSTRUCTOR_PASSWORD=... tutor serve`)."
)


class LoginThrottle:
    """At most `max_failures` wrong passwords per `window` seconds, across all sessions of the process
    (a browser session is cheap to open, so per-session counting would not slow a guesser down)."""

    def __init__(self, max_failures: int = 10, window: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        with self._lock:
            recent = self._recent(key)
            if len(recent) >= self.max_failures:
                wait = self.window - (self._clock() - recent[0])
                raise TooManyAttempts(f"Too many wrong passwords; try again in {max(wait, 1):.0f} s.")

    def failed(self, key: str) -> None:
        with self._lock:
            self._recent(key).append(self._clock())

    def _recent(self, key: str) -> deque[float]:
        recent = self._failures.setdefault(key, deque())
        while recent and self._clock() - recent[0] >= self.window:
            recent.popleft()
        return recent


_THROTTLE = LoginThrottle()


@dataclass(frozen=True)
class InstructorSession:
    """Proof that the instructor password was given. Obtain one only from `instructor_login`."""

    token: str = field(repr=False)


def library_enabled(settings: Settings) -> bool:
    return bool(settings.instructor_password)


def instructor_login(settings: Settings, password: str, throttle: LoginThrottle | None = None) -> InstructorSession:
    """Exchange the instructor password for a session; raises NotAuthorized if it is wrong (and
    TooManyAttempts, without looking at the password, after too many recent wrong ones)."""
    if not settings.instructor_password:
        raise LibraryLocked(f"The library is locked: no instructor password is set. {HOW_TO_ENABLE}")
    throttle = throttle or _THROTTLE
    key = _token_for(settings.instructor_password)  # counts per configured password, never stores it
    throttle.check(key)
    # Constant-time comparison: response time must not reveal how much of a guess was right.
    if not hmac.compare_digest(password.encode(), settings.instructor_password.encode()):
        throttle.failed(key)
        raise NotAuthorized("Wrong instructor password.")
    return InstructorSession(key)


def require_instructor(settings: Settings, session: InstructorSession | None) -> None:
    """Raise NotAuthorized unless `session` came from `instructor_login` with the current password."""
    if not settings.instructor_password:
        raise LibraryLocked(f"The library is locked: no instructor password is set. {HOW_TO_ENABLE}")
    token = session.token if isinstance(session, InstructorSession) else ""
    if not hmac.compare_digest(token.encode(), _token_for(settings.instructor_password).encode()):
        raise NotAuthorized("Log in as an instructor first.")


def _token_for(password: str) -> str:
    return hmac.new(_SESSION_KEY, password.encode(), hashlib.sha256).hexdigest()


# --- actions -------------------------------------------------------------------------------------


@dataclass
class LibraryDocument:
    source: str
    title: str
    path: str
    ingested_at: str
    chunks: list[Chunk]


def library_documents(service: TutorService, session: InstructorSession | None) -> list[LibraryDocument]:
    """Every indexed document with its chunks, in source order."""
    require_instructor(service.settings, session)
    by_source: dict[str, list[Chunk]] = {}
    for chunk in service.store.all_chunks():
        by_source.setdefault(chunk.source, []).append(chunk)
    return [LibraryDocument(d.source, d.title, d.path, d.ingested_at, by_source.get(d.source, []))
            for d in service.documents()]


def delete_documents(service: TutorService, session: InstructorSession | None,
                     sources: Sequence[str]) -> list[FileOutcome]:
    """Remove documents from the index, and their files from the course library so that a re-index
    does not bring them back. Files outside the library directory are left alone."""
    require_instructor(service.settings, session)
    outcomes = service.remove(list(sources))
    for outcome in outcomes:
        path = library_file(service.settings, outcome.source, outcome.path)
        if path is not None and path.is_file():
            path.unlink()
        save_title(service.settings.data_dir, outcome.source, None)  # a later file of that name starts afresh
    return outcomes


def rename_document(service: TutorService, session: InstructorSession | None, source: str, title: str) -> str:
    """Set the title students see for one document (kept across re-ingests); returns it cleaned."""
    require_instructor(service.settings, session)
    return service.rename_document(source, title)


def reindex_library(service: TutorService, session: InstructorSession | None) -> IngestReport:
    """Bring the index in line with the library directory: new and changed files are indexed,
    files that disappeared are removed, unchanged files cost nothing."""
    require_instructor(service.settings, session)
    return service.ingest([service.settings.corpus_dir], prune=True, quiet=True)


def library_file(settings: Settings, source: str, indexed_path: str) -> Path | None:
    """The file in the library directory that a document was indexed from, or None if it lives
    elsewhere. Sources are paths relative to the library, so this holds even when the directory has
    moved since ingest (the recorded path is then stale)."""
    by_name = settings.corpus_dir / source
    if inside_corpus(settings, by_name) and by_name.is_file():
        return by_name
    recorded = Path(indexed_path) if indexed_path else None
    if recorded is not None and inside_corpus(settings, recorded):
        return recorded
    return None


def inside_corpus(settings: Settings, path: Path) -> bool:
    corpus = settings.corpus_dir.resolve()
    resolved = path.resolve()
    return resolved != corpus and resolved.is_relative_to(corpus)
