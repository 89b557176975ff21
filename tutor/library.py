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


@dataclass(frozen=True)
class Client:
    """Who is typing a password: a browser session, and its network address when the server knows it
    (Streamlit does not for connections from localhost)."""

    session: str
    address: str | None = None


@dataclass
class _Record:
    failures: int = 0
    last: float = 0.0


class LoginThrottle:
    """Wrong passwords slow down the client that typed them, not everyone.

    Each browser session gets `free_tries` wrong passwords, then has to wait `base_delay` seconds
    after the next wrong one, twice that after the one after, and so on up to `max_delay`. A new
    session is cheap to open, so the network address (where known) is counted too, with a larger
    allowance (`address_free_tries`) because people behind one proxy share it. Another browser —
    the instructor's — has its own count: a student's guessing never locks it out (unless both sit
    behind one address and the student has used up that address's allowance: then the instructor
    waits, at most `max_delay`, like the guesser). A right password clears its session's count.
    """

    def __init__(self, free_tries: int = 3, address_free_tries: int = 20, base_delay: float = 2.0,
                 max_delay: float = 300.0, forget_after: float = 3600.0, max_clients: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.free_tries = free_tries
        self.address_free_tries = address_free_tries
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.forget_after = forget_after
        self.max_clients = max_clients
        self._clock = clock
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def _keys(self, client: Client) -> list[tuple[str, int]]:
        keys = [(f"session:{client.session}", self.free_tries)]
        if client.address:
            keys.append((f"address:{client.address}", self.address_free_tries))
        return keys

    def delay(self, failures: int, free: int) -> float:
        """Seconds to wait after the `failures`-th wrong password (0 while within the allowance)."""
        if failures < free:
            return 0.0
        return min(self.base_delay * 2 ** (failures - free), self.max_delay)

    def check(self, client: Client) -> None:
        """Raise TooManyAttempts (before the password is looked at) while this client must wait."""
        with self._lock:
            now = self._clock()
            self._forget_old(now)
            wait = 0.0
            for key, free in self._keys(client):
                record = self._records.get(key)
                if record is not None:
                    wait = max(wait, record.last + self.delay(record.failures, free) - now)
            if wait > 0:
                raise TooManyAttempts(f"Too many wrong passwords from this browser; try again in {max(wait, 1):.0f} s.")

    def failed(self, client: Client) -> None:
        with self._lock:
            now = self._clock()
            for key, _ in self._keys(client):
                record = self._records.setdefault(key, _Record())
                record.failures += 1
                record.last = now

    def succeeded(self, client: Client) -> None:
        with self._lock:
            self._records.pop(f"session:{client.session}", None)

    def _forget_old(self, now: float) -> None:
        stale = [k for k, r in self._records.items() if now - r.last > max(self.forget_after, self.max_delay)]
        for key in stale:
            del self._records[key]
        while len(self._records) > self.max_clients:  # bounded memory however many sessions are opened
            del self._records[min(self._records, key=lambda k: self._records[k].last)]


_THROTTLE = LoginThrottle()
# Callers that name no client (scripts, the library's own tests) share one count.
_ANONYMOUS = Client("anonymous")


@dataclass(frozen=True)
class InstructorSession:
    """Proof that the instructor password was given. Obtain one only from `instructor_login`."""

    token: str = field(repr=False)


def library_enabled(settings: Settings) -> bool:
    return bool(settings.instructor_password)


def instructor_login(settings: Settings, password: str, throttle: LoginThrottle | None = None,
                     client: Client | None = None) -> InstructorSession:
    """Exchange the instructor password for a session; raises NotAuthorized if it is wrong (and
    TooManyAttempts, without looking at the password, while this client must wait after too many
    wrong ones)."""
    if not settings.instructor_password:
        raise LibraryLocked(f"The library is locked: no instructor password is set. {HOW_TO_ENABLE}")
    throttle = throttle or _THROTTLE
    client = client or _ANONYMOUS
    throttle.check(client)
    # Constant-time comparison: response time must not reveal how much of a guess was right.
    if not hmac.compare_digest(password.encode(), settings.instructor_password.encode()):
        throttle.failed(client)
        raise NotAuthorized("Wrong instructor password.")
    throttle.succeeded(client)
    return InstructorSession(_token_for(settings.instructor_password))


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
