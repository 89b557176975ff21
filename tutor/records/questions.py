"""The record of questions: every answer the tutor gave (or refused), with what it cited, who asked
(a pseudonymous session id, never a name or an address), through what, how long it took, and the
student's feedback when there is some. Read by the insights and by the CSV export.
"""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, insert, or_, select
from sqlalchemy.sql.elements import ColumnElement

from tutor.models import Answer
from tutor.records import schema
from tutor.records.database import Database, stamp

Since = datetime | str | None


def new_session_id() -> str:
    """A pseudonym for one browser session or one CLI run: random, tied to nothing about the person."""
    return secrets.token_hex(12)


@dataclass(frozen=True)
class QuestionRecord:
    id: int
    asked_at: str
    session_id: str
    channel: str
    mode: str
    question: str
    standalone_question: str
    answer: str
    refused: bool
    refusal_reason: str | None
    citations: list[dict[str, Any]]
    answerer: str
    latency_ms: float
    incomplete: bool
    error: str | None
    rating: str | None = None
    comment: str = ""

    @property
    def sources(self) -> list[str]:
        return list(dict.fromkeys(str(c.get("source", "")) for c in self.citations))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DayCount:
    day: str  # YYYY-MM-DD (UTC)
    questions: int
    refused: int
    up: int
    down: int


@dataclass(frozen=True)
class CitedCount:
    source: str
    count: int
    section: str | None = None
    title: str | None = None


CSV_COLUMNS = ("id", "asked_at", "session_id", "channel", "mode", "question", "standalone_question", "answer",
               "refused", "refusal_reason", "answerer", "latency_ms", "incomplete", "error", "sources", "chunk_ids",
               "rating", "comment")


class QuestionLog:
    def __init__(self, database: Database) -> None:
        self.database = database

    def add(self, answer: Answer, *, session_id: str, channel: str, latency_s: float, mode: str = "") -> int:
        """Record one answer; returns its id (feedback on it refers to that id)."""
        citations = [c.to_dict() for c in answer.citations]
        with self.database.transaction() as conn:
            question_id = conn.execute(insert(schema.questions).values(
                asked_at=self.database.now(), session_id=session_id, channel=channel, mode=mode,
                question=answer.question, standalone_question=answer.standalone_question or answer.question,
                answer=answer.text, refused=answer.refused, refusal_reason=answer.refusal_reason,
                citations=citations, answerer=answer.mode, latency_ms=round(latency_s * 1000, 1),
                incomplete=answer.incomplete, error=answer.error,
            ).returning(schema.questions.c.id)).scalar_one()
            if citations:
                conn.execute(insert(schema.question_citations), [
                    {"question_id": question_id, "n": c.n, "chunk_id": c.chunk_id, "source": c.source,
                     "title": c.title, "section": c.section} for c in answer.citations])
        self.database.apply_retention()
        return int(question_id)

    def records(self, *, since: Since = None, search: str | None = None, session_id: str | None = None,
                gaps_only: bool = False, limit: int | None = None) -> list[QuestionRecord]:
        """Newest first. `search` matches question, rewritten question and answer (case-insensitive);
        `gaps_only` keeps what the course fell short on: refused answers and thumbs-down ones."""
        q, fb = schema.questions, schema.feedback
        query = select(q, fb.c.rating, fb.c.comment).select_from(q.outerjoin(fb, fb.c.question_id == q.c.id))
        conditions: list[ColumnElement[bool]] = []
        if since is not None:
            conditions.append(q.c.asked_at >= _since(since))
        if session_id is not None:
            conditions.append(q.c.session_id == session_id)
        if search and search.strip():
            pattern = f"%{_escape_like(search.strip().lower())}%"
            conditions.append(or_(*(func.lower(column).like(pattern, escape="\\")
                                    for column in (q.c.question, q.c.standalone_question, q.c.answer))))
        if gaps_only:
            conditions.append(or_(q.c.refused.is_(True), fb.c.rating == "down"))
        if conditions:
            query = query.where(and_(*conditions))
        query = query.order_by(q.c.id.desc(), fb.c.id.desc())
        with self.database.transaction() as conn:
            rows = conn.execute(query).mappings().all()
        records: dict[int, QuestionRecord] = {}
        for row in rows:  # a question rated twice (two feedback rows): its newest feedback wins
            if row["id"] not in records:
                records[row["id"]] = _record(row)
            if limit and len(records) >= limit:
                break
        return list(records.values())

    def totals(self, since: Since = None) -> dict[str, int]:
        q = schema.questions
        query = select(func.count(), func.coalesce(func.sum(case((q.c.refused.is_(True), 1), else_=0)), 0))
        if since is not None:
            query = query.where(q.c.asked_at >= _since(since))
        with self.database.transaction() as conn:
            total, refused = conn.execute(query).one()
        return {"questions": int(total), "refused": int(refused)}

    def feedback_counts(self, since: Since = None) -> dict[str, int]:
        fb = schema.feedback
        query = select(fb.c.rating, func.count()).where(fb.c.rating.is_not(None)).group_by(fb.c.rating)
        if since is not None:
            query = query.where(fb.c.created_at >= _since(since))
        with self.database.transaction() as conn:
            counts = {rating: int(n) for rating, n in conn.execute(query)}
        return {"up": counts.get("up", 0), "down": counts.get("down", 0)}

    def daily_counts(self, since: Since = None) -> list[DayCount]:
        """Per day (UTC): questions, refused, thumbs up and down (feedback counted on the day it was given)."""
        q, fb = schema.questions, schema.feedback
        q_day, fb_day = func.substr(q.c.asked_at, 1, 10), func.substr(fb.c.created_at, 1, 10)
        asked = select(q_day, func.count(), func.sum(case((q.c.refused.is_(True), 1), else_=0))).group_by(q_day)
        rated = (select(fb_day, fb.c.rating, func.count()).where(fb.c.rating.is_not(None))
                 .group_by(fb_day, fb.c.rating))
        if since is not None:
            asked = asked.where(q.c.asked_at >= _since(since))
            rated = rated.where(fb.c.created_at >= _since(since))
        days: dict[str, dict[str, int]] = {}
        with self.database.transaction() as conn:
            for day, total, refused in conn.execute(asked):
                days.setdefault(day, {}).update(questions=int(total), refused=int(refused or 0))
            for day, rating, n in conn.execute(rated):
                days.setdefault(day, {})[rating] = int(n)
        return [DayCount(day, c.get("questions", 0), c.get("refused", 0), c.get("up", 0), c.get("down", 0))
                for day, c in sorted(days.items())]

    def cited_documents(self, since: Since = None) -> list[CitedCount]:
        """Documents by how many answers cited them, most first."""
        q, qc = schema.questions, schema.question_citations
        count = func.count(func.distinct(qc.c.question_id))
        query = select(qc.c.source, count).select_from(qc.join(q, q.c.id == qc.c.question_id)).group_by(qc.c.source)
        if since is not None:
            query = query.where(q.c.asked_at >= _since(since))
        with self.database.transaction() as conn:
            rows = conn.execute(query.order_by(count.desc(), qc.c.source)).all()
        return [CitedCount(source, int(n)) for source, n in rows]

    def cited_sections(self, since: Since = None) -> list[CitedCount]:
        """Sections (document + heading path) by how many answers cited them, most first."""
        q, qc = schema.questions, schema.question_citations
        count = func.count(func.distinct(qc.c.question_id))
        query = (select(qc.c.source, qc.c.section, func.max(qc.c.title), count)
                 .select_from(qc.join(q, q.c.id == qc.c.question_id)).group_by(qc.c.source, qc.c.section))
        if since is not None:
            query = query.where(q.c.asked_at >= _since(since))
        with self.database.transaction() as conn:
            rows = conn.execute(query.order_by(count.desc(), qc.c.source, qc.c.section)).all()
        return [CitedCount(source, int(n), section=section, title=title) for source, section, title, n in rows]

    def export_csv(self, records: Sequence[QuestionRecord]) -> str:
        """The records as CSV (one row a question; sources and chunk ids joined by ' | ')."""
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for record in records:
            row = record.to_dict()
            row["sources"] = " | ".join(record.sources)
            row["chunk_ids"] = " | ".join(str(c.get("chunk_id", "")) for c in record.citations)
            writer.writerow(row)
        return out.getvalue()


def _record(row: Any) -> QuestionRecord:
    return QuestionRecord(
        id=int(row["id"]), asked_at=row["asked_at"], session_id=row["session_id"], channel=row["channel"],
        mode=row["mode"], question=row["question"], standalone_question=row["standalone_question"],
        answer=row["answer"], refused=bool(row["refused"]), refusal_reason=row["refusal_reason"],
        citations=list(row["citations"] or []), answerer=row["answerer"], latency_ms=float(row["latency_ms"]),
        incomplete=bool(row["incomplete"]), error=row["error"], rating=row["rating"], comment=row["comment"] or "")


def _since(value: datetime | str) -> str:
    """A datetime, or a day/time as text ("2026-11-01"): both compare with the stored UTC stamps."""
    return stamp(value) if isinstance(value, datetime) else value


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
