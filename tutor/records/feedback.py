"""Students' thumbs up/down on answers, in the records database (they lived in <data dir>/feedback.sqlite3
before; `Database.open` imports that file).

Each row holds what was asked and answered (with its citations) so an instructor can read the feedback
without the chat session that produced it, and the id of the recorded question it rates when there is
one. A rating can be changed or given a comment later: the chat updates the row it created.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import func, insert, select, update

from tutor.models import Answer, Citation
from tutor.records import schema
from tutor.records.database import Database

Rating = Literal["up", "down"]


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
    question_id: int | None = None


def rating_from_thumbs(value: int | None) -> Rating | None:
    """st.feedback("thumbs") gives 1 for up, 0 for down, None when cleared."""
    if value is None:
        return None
    return "up" if value == 1 else "down"


class FeedbackStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def record(self, answer: Answer, rating: Rating | None, comment: str = "", *,
               question_id: int | None = None) -> int:
        """Store feedback on one answer (`question_id`: its row in the record of questions, if it was
        recorded); returns the feedback row id to update later."""
        now = self.database.now()
        with self.database.transaction() as conn:
            return int(conn.execute(insert(schema.feedback).values(
                created_at=now, updated_at=now, question=answer.question, answer=answer.text,
                citations=[c.to_dict() for c in answer.citations], rating=rating, comment=comment.strip(),
                mode=answer.mode, refused=answer.refused, question_id=question_id,
            ).returning(schema.feedback.c.id)).scalar_one())

    def update(self, entry_id: int, *, rating: Rating | None = None, comment: str | None = None,
               clear_rating: bool = False) -> None:
        """Change the rating and/or the comment of an existing row."""
        values: dict[str, Any] = {"updated_at": self.database.now()}
        if rating is not None or clear_rating:
            values["rating"] = rating
        if comment is not None:
            values["comment"] = comment.strip()
        with self.database.transaction() as conn:
            conn.execute(update(schema.feedback).where(schema.feedback.c.id == entry_id).values(**values))

    def entries(self, limit: int | None = None) -> list[FeedbackEntry]:
        """Newest first."""
        query = select(schema.feedback).order_by(schema.feedback.c.id.desc())
        if limit:
            query = query.limit(limit)
        with self.database.transaction() as conn:
            return [_entry(row) for row in conn.execute(query).mappings()]

    def get(self, entry_id: int) -> FeedbackEntry | None:
        with self.database.transaction() as conn:
            row = conn.execute(select(schema.feedback).where(schema.feedback.c.id == entry_id)).mappings().first()
        return _entry(row) if row else None

    def counts(self) -> dict[str, int]:
        fb = schema.feedback
        with self.database.transaction() as conn:
            rows = conn.execute(select(fb.c.rating, func.count()).group_by(fb.c.rating)).all()
        counts = {"up": 0, "down": 0}
        counts.update({rating: int(n) for rating, n in rows if rating})
        return counts


def citations_of(entry: FeedbackEntry) -> list[Citation]:
    return [Citation(**c) for c in entry.citations]  # type: ignore[arg-type]


def _entry(row: Any) -> FeedbackEntry:
    return FeedbackEntry(id=int(row["id"]), created_at=row["created_at"], updated_at=row["updated_at"],
                         question=row["question"], answer=row["answer"], citations=list(row["citations"] or []),
                         rating=row["rating"], comment=row["comment"], mode=row["mode"], refused=bool(row["refused"]),
                         question_id=row["question_id"])
