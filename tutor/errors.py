"""Domain errors. They carry enough to be shown to a person as-is; the CLI and UI turn them into
friendly messages at the edge (no tracebacks for expected failures)."""

from __future__ import annotations

from pathlib import Path


class TutorError(Exception):
    """Base class for every error the tutor expects and explains."""


class DocumentError(TutorError):
    """A course document could not be read: names the file and the reason."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class UnsupportedDocument(DocumentError):
    """The file's type is not one the tutor can index."""


class ConfigurationError(TutorError):
    """A setting is missing or contradicts another; the message says how to fix it."""


class IndexBusy(TutorError):
    """Another process is writing to the same embedded index."""


class CorpusNotIndexed(TutorError):
    """Asked a question before anything was indexed."""


class EmbeddingModelMismatch(TutorError):
    """The index was built with a different embedding model than the one configured."""


class StoreUnavailable(TutorError):
    """The configured Chroma server (or data directory) cannot be reached."""


class GenerationError(TutorError):
    """The language model endpoint failed in a way retries did not cure."""


class GenerationInterrupted(GenerationError):
    """Generation stopped part-way (timeout, dropped stream, server error after retries). Text
    already produced is a partial answer; the message says what happened, for the reader."""


class NotAuthorized(TutorError):
    """A library action was attempted without a valid instructor session."""


class LibraryLocked(NotAuthorized):
    """No instructor password is configured, so nobody may change the library."""


class TooManyAttempts(NotAuthorized):
    """Too many wrong passwords in a short time: guessing is slowed to a crawl."""


class RecordsUnavailable(TutorError):
    """The records database (questions, feedback, saved chats) cannot be reached or read."""


class ChatNotFound(TutorError):
    """No saved chat with that id belongs to this session (it never existed, or was forgotten)."""
