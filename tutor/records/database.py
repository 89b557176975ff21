"""Opening the records database: SQLite in the data directory by default, PostgreSQL when
TUTOR_DATABASE_URL says so. Opening brings the schema up to date (see schema.py), imports a
feedback.sqlite3 left by older versions, and applies the retention period.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta, timezone
from pathlib import Path

from filelock import FileLock
from sqlalchemy import Connection, Engine, create_engine, delete, event, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from tutor.errors import RecordsUnavailable
from tutor.records import schema
from tutor.settings import Settings

DATABASE_FILE = "records.sqlite3"
LEGACY_FEEDBACK_FILE = "feedback.sqlite3"
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def stamp(when: datetime) -> str:
    """The stored form of a time: ISO-8601 in UTC, to the second."""
    return when.astimezone(timezone.utc).isoformat(timespec="seconds")


def database_url(settings: Settings) -> str:
    """The SQLAlchemy URL: postgresql:// is served by psycopg 3, the driver we ship."""
    url = settings.database_url
    if not url:
        return f"sqlite:///{(settings.data_dir / DATABASE_FILE).resolve()}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def describe_url(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


class Database:
    """One engine on the records database, shared by the repositories (questions, feedback, chats).
    Thread-safe: every call takes a pooled connection for one transaction."""

    def __init__(self, engine: Engine, *, clock: Clock = utc_now, retention_days: int = 0) -> None:
        self.engine = engine
        self.clock = clock
        self.retention_days = retention_days
        self._retention_applied_at: datetime | None = None

    @classmethod
    def open(cls, settings: Settings, *, clock: Clock = utc_now) -> Database:
        """Connect, migrate, import the old feedback file, apply retention. A database that cannot be
        reached or migrated is a RecordsUnavailable naming the URL (without its password)."""
        url = database_url(settings)
        if url.startswith("sqlite"):
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            database = cls(_engine(url), clock=clock, retention_days=settings.record_retention_days)
            database.migrate()
            database.import_legacy_feedback(settings.data_dir / LEGACY_FEEDBACK_FILE)
            database.apply_retention()
        except SQLAlchemyError as exc:
            raise RecordsUnavailable(f"The records database {describe_url(url)} cannot be used: "
                                     f"{str(exc.orig if getattr(exc, 'orig', None) else exc).strip()}") from exc
        return database

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.engine.begin() as conn:
            yield conn

    def now(self) -> str:
        return stamp(self.clock())

    # --- schema ------------------------------------------------------------------------------------------

    def migrate(self) -> list[int]:
        """Apply the schema steps this database lacks; returns the versions applied."""
        with self._migration_lock(), self.transaction() as conn:
            return schema.apply_migrations(conn, self.now())

    def schema_version(self) -> int:
        with self.transaction() as conn:
            return schema.current_version(conn)

    def _migration_lock(self):
        """PostgreSQL locks inside the transaction (advisory lock); SQLite's first DDL would race, so a
        file lock beside the database file serialises processes sharing it."""
        if self.dialect != "sqlite" or not self.engine.url.database or self.engine.url.database == ":memory:":
            return nullcontext()
        return FileLock(f"{self.engine.url.database}.lock", timeout=60)

    # --- the feedback.sqlite3 of earlier versions --------------------------------------------------------

    def import_legacy_feedback(self, path: Path) -> int:
        """Copy the rows of an old feedback.sqlite3 into the feedback table, then rename the file to
        feedback.sqlite3.imported (kept, never read again). Each row remembers where it came from, so an
        import interrupted before the rename is not duplicated by the next one."""
        if not path.is_file():
            return 0
        with FileLock(f"{path}.lock", timeout=60):
            if not path.is_file():  # another process imported it while we waited
                return 0
            rows = _read_legacy_feedback(path)
            ref_of = {f"{path.resolve()}#{row['id']}": row for row in rows}
            with self.transaction() as conn:
                known = set(conn.execute(select(schema.feedback.c.legacy_ref).where(
                    schema.feedback.c.legacy_ref.in_(list(ref_of)))).scalars()) if ref_of else set()
                fresh = [_legacy_values(ref, row) for ref, row in ref_of.items() if ref not in known]
                if fresh:
                    conn.execute(insert(schema.feedback), fresh)
            path.rename(path.with_name(path.name + ".imported"))
            return len(fresh)

    # --- retention -----------------------------------------------------------------------------------------

    def apply_retention(self, force: bool = False) -> dict[str, int]:
        """Delete questions, feedback and saved chats older than the retention period (none when it is
        0). Cheap to call often: it runs at most once an hour unless forced."""
        now = self.clock()
        if not self.retention_days:
            return {}
        if not force and self._retention_applied_at and now - self._retention_applied_at < timedelta(hours=1):
            return {}
        self._retention_applied_at = now
        return self.delete_before(now - timedelta(days=self.retention_days))

    def delete_before(self, cutoff: datetime) -> dict[str, int]:
        """Delete every record older than `cutoff`; returns how many rows of each kind went."""
        before = stamp(cutoff)
        q, qc, fb = schema.questions, schema.question_citations, schema.feedback
        chats, messages = schema.chats, schema.chat_messages
        with self.transaction() as conn:
            # Children first: SQLite enforces no foreign keys (nor cascades) unless asked per connection.
            old_questions = select(q.c.id).where(q.c.asked_at < before)
            conn.execute(delete(qc).where(qc.c.question_id.in_(old_questions)))
            feedback_rows = conn.execute(delete(fb).where(
                (fb.c.created_at < before) | fb.c.question_id.in_(old_questions))).rowcount
            question_rows = conn.execute(delete(q).where(q.c.asked_at < before)).rowcount
            old_chats = select(chats.c.id).where(chats.c.updated_at < before)
            conn.execute(delete(messages).where(messages.c.chat_id.in_(old_chats)))
            chat_rows = conn.execute(delete(chats).where(chats.c.updated_at < before)).rowcount
        return {"questions": question_rows, "feedback": feedback_rows, "chats": chat_rows}


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        # Streamlit serves sessions from several threads: connections move between them through the pool.
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=5)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers (the insights page) never block the chat's writes
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _read_legacy_feedback(path: Path) -> list[dict]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        db.row_factory = sqlite3.Row
        return [dict(row) for row in db.execute("SELECT * FROM feedback ORDER BY id")]
    except sqlite3.DatabaseError as exc:
        raise RecordsUnavailable(f"{path}: the old feedback file cannot be read ({exc}); move it aside "
                                 "to start without it") from exc
    finally:
        db.close()


def _legacy_values(ref: str, row: dict) -> dict:
    import json

    try:
        citations = json.loads(row.get("citations") or "[]")
    except ValueError:
        citations = []
    return {"created_at": row["created_at"], "updated_at": row.get("updated_at") or row["created_at"],
            "question": row["question"], "answer": row["answer"], "citations": citations, "rating": row.get("rating"),
            "comment": row.get("comment") or "", "mode": row.get("mode") or "", "refused": bool(row.get("refused")),
            "legacy_ref": ref, "question_id": None}
