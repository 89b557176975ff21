"""Students' thumbs up/down on answers, kept durably in SQLite in the data directory.

Each row holds what was asked and answered (with its citations as JSON) so an instructor can read the
feedback without the chat session that produced it. A rating can be changed or given a comment later:
the chat updates the row it created instead of adding another.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from tutor.models import Answer, Citation

FEEDBACK_FILE = "feedback.sqlite3"
Rating = Literal["up", "down"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    citations TEXT NOT NULL,
    rating TEXT CHECK (rating IN ('up', 'down')),
    comment TEXT NOT NULL DEFAULT '',
    mode TEXT NOT NULL DEFAULT '',
    refused INTEGER NOT NULL DEFAULT 0
)
"""


@dataclass(frozen=True)
class FeedbackEntry:
    id: int
    created_at: str
    updated_at: str
    question: str
    answer: str
    citations: list[dict[str, object]]
    rating: Rating | None
    comment: str
    mode: str
    refused: bool


def rating_from_thumbs(value: int | None) -> Rating | None:
    """st.feedback("thumbs") gives 1 for up, 0 for down, None when cleared."""
    if value is None:
        return None
    return "up" if value == 1 else "down"


class FeedbackStore:
    """A small SQLite table; safe to share between Streamlit's session threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # One writer at a time within the process; SQLite's own locking covers other processes.
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute(_SCHEMA)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> FeedbackStore:
        return cls(data_dir / FEEDBACK_FILE)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = sqlite3.connect(self.path, timeout=10)
            try:
                with db:  # commits on success, rolls back on error
                    yield db
            finally:
                db.close()

    def record(self, answer: Answer, rating: Rating | None, comment: str = "") -> int:
        """Store feedback on one answer; returns the row id to update later."""
        now = _now()
        citations = json.dumps([c.to_dict() for c in answer.citations], ensure_ascii=False)
        with self._connect() as db:
            cursor = db.execute(
                "INSERT INTO feedback (created_at, updated_at, question, answer, citations, rating, comment, mode,"
                " refused) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (now, now, answer.question, answer.text, citations, rating, comment.strip(), answer.mode,
                 int(answer.refused)),
            )
            return int(cursor.lastrowid or 0)

    def update(self, entry_id: int, *, rating: Rating | None = None, comment: str | None = None,
               clear_rating: bool = False) -> None:
        """Change the rating and/or the comment of an existing row."""
        assignments, values = ["updated_at = ?"], [_now()]
        if rating is not None or clear_rating:
            assignments.append("rating = ?")
            values.append(rating)
        if comment is not None:
            assignments.append("comment = ?")
            values.append(comment.strip())
        with self._connect() as db:
            db.execute(f"UPDATE feedback SET {', '.join(assignments)} WHERE id = ?", (*values, entry_id))

    def entries(self, limit: int | None = None) -> list[FeedbackEntry]:
        """Newest first."""
        query = "SELECT * FROM feedback ORDER BY id DESC" + (" LIMIT ?" if limit else "")
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            rows = db.execute(query, (limit,) if limit else ()).fetchall()
        return [_entry(row) for row in rows]

    def get(self, entry_id: int) -> FeedbackEntry | None:
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            row = db.execute("SELECT * FROM feedback WHERE id = ?", (entry_id,)).fetchone()
        return _entry(row) if row else None

    def counts(self) -> dict[str, int]:
        with self._connect() as db:
            rows: Sequence[tuple[str | None, int]] = db.execute(
                "SELECT rating, COUNT(*) FROM feedback GROUP BY rating").fetchall()
        counts = {"up": 0, "down": 0}
        counts.update({rating: n for rating, n in rows if rating})
        return counts


def citations_of(entry: FeedbackEntry) -> list[Citation]:
    return [Citation(**c) for c in entry.citations]  # type: ignore[arg-type]


def _entry(row: sqlite3.Row) -> FeedbackEntry:
    return FeedbackEntry(id=row["id"], created_at=row["created_at"], updated_at=row["updated_at"],
                         question=row["question"], answer=row["answer"], citations=json.loads(row["citations"]),
                         rating=row["rating"], comment=row["comment"], mode=row["mode"],
                         refused=bool(row["refused"]))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
