"""The records database's tables (SQLAlchemy Core) and the versioned steps that create them.

Times are stored as ISO-8601 UTC strings ("2026-12-01T17:24:28+00:00"): they sort as text, compare the
same on SQLite and PostgreSQL, and their first ten characters are the day. JSON columns hold lists of
citation dicts exactly as `Citation.to_dict()` writes them.

Migrations: `schema_version` holds one row per applied step. `MIGRATIONS[n - 1]` brings the database from
version n - 1 to n; `migrate()` runs the missing ones in order, inside one transaction, under a lock (a
PostgreSQL advisory lock; for SQLite a file lock beside the database), so several processes starting at
once apply each step exactly once. To change the schema, append a step (ALTER/CREATE through `conn`) and
change the tables below to match; never edit a step that has shipped. Step 1 builds the tables from the
definitions below, which is right only while they are still at version 1: the first later step must
first copy today's definitions into step 1.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import (JSON, Boolean, Column, Connection, Float, ForeignKey, Index, Integer, MetaData, String, Table,
                        Text, func, insert, select, text)

metadata = MetaData()

schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("applied_at", String(32), nullable=False),
)

# One row per question answered (or refused), from the app or the CLI.
questions = Table(
    "questions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("asked_at", String(32), nullable=False, index=True),
    Column("session_id", String(64), nullable=False, index=True),  # random per browser session / CLI run
    Column("channel", String(16), nullable=False),  # "app", "ask", "chat"
    Column("mode", String(32), nullable=False, default=""),  # explain / hint / quiz, once the tutor has modes
    Column("question", Text, nullable=False),
    Column("standalone_question", Text, nullable=False),  # the follow-up rewritten from the conversation
    Column("answer", Text, nullable=False),
    Column("refused", Boolean, nullable=False),
    Column("refusal_reason", String(64)),
    Column("citations", JSON, nullable=False),
    Column("answerer", String(200), nullable=False),  # "offline" or the language model's name
    Column("latency_ms", Float, nullable=False),
    Column("incomplete", Boolean, nullable=False, default=False),
    Column("error", Text),
)

# The citations again, one row each, so "most cited" is a GROUP BY in the database.
question_citations = Table(
    "question_citations", metadata,
    Column("question_id", Integer, ForeignKey("questions.id", ondelete="CASCADE"), primary_key=True),
    Column("n", Integer, primary_key=True, autoincrement=False),
    Column("chunk_id", String(200), nullable=False),
    Column("source", String(1000), nullable=False, index=True),
    Column("title", Text, nullable=False),
    Column("section", Text, nullable=False),
)

# Thumbs up/down (moved here from <data dir>/feedback.sqlite3, same columns plus the question it rates).
feedback = Table(
    "feedback", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("question_id", Integer, ForeignKey("questions.id", ondelete="SET NULL"), index=True),
    Column("created_at", String(32), nullable=False, index=True),
    Column("updated_at", String(32), nullable=False),
    Column("question", Text, nullable=False),
    Column("answer", Text, nullable=False),
    Column("citations", JSON, nullable=False),
    Column("rating", String(8)),  # "up", "down" or NULL (cleared)
    Column("comment", Text, nullable=False, default=""),
    Column("mode", String(200), nullable=False, default=""),
    Column("refused", Boolean, nullable=False, default=False),
    Column("legacy_ref", String(1200), unique=True),  # "<old file>#<old id>" for rows imported from feedback.sqlite3
)

# Saved chats: a student's conversations, keyed by their pseudonymous browser session id.
chats = Table(
    "chats", metadata,
    Column("id", String(32), primary_key=True),
    Column("session_id", String(64), nullable=False, index=True),
    Column("title", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False, index=True),
)

chat_messages = Table(
    "chat_messages", metadata,
    Column("chat_id", String(32), ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("role", String(16), nullable=False),
    Column("content", Text, nullable=False),
    Column("answer", JSON),  # Answer.to_dict() of an assistant message, when it has one
    Column("created_at", String(32), nullable=False),
)

Index("ix_questions_refused_asked_at", questions.c.refused, questions.c.asked_at)


def _v1_create_tables(conn: Connection) -> None:
    metadata.create_all(conn, tables=[questions, question_citations, feedback, chats, chat_messages])


MIGRATIONS: list[Callable[[Connection], None]] = [_v1_create_tables]
SCHEMA_VERSION = len(MIGRATIONS)


def current_version(conn: Connection) -> int:
    schema_version.create(conn, checkfirst=True)
    return int(conn.execute(select(func.coalesce(func.max(schema_version.c.version), 0))).scalar_one())


def apply_migrations(conn: Connection, now: str) -> list[int]:
    """Run the missing steps on `conn` (already in a transaction and holding the migration lock)."""
    if conn.dialect.name == "postgresql":
        # Serialises concurrent starts across processes and machines; released at commit.
        conn.execute(text("SELECT pg_advisory_xact_lock(724031)"))
    applied = []
    version = current_version(conn)
    if version > SCHEMA_VERSION:
        from tutor.errors import ConfigurationError

        raise ConfigurationError(f"The records database is at schema version {version}, newer than this tutor "
                                 f"knows ({SCHEMA_VERSION}): upgrade the tutor before using it.")
    for step in range(version + 1, SCHEMA_VERSION + 1):
        MIGRATIONS[step - 1](conn)
        conn.execute(insert(schema_version).values(version=step, applied_at=now))
        applied.append(step)
    return applied
