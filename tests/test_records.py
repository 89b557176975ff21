"""The records database, run once against SQLite and once against a real PostgreSQL server on 127.0.0.1
(the `database_url` fixture): migrations, the import of an old feedback.sqlite3, the record of questions,
retention, feedback and saved chats, and the recording hook."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tutor.errors import ChatNotFound, RecordsUnavailable
from tutor.models import Answer, Citation
from tutor.records import (ChatMessage, Database, FeedbackStore, QuestionLog, QuestionRecorder, SavedChats,
                           rating_from_thumbs)
from tutor.records import schema
from tutor.records.database import DATABASE_FILE, LEGACY_FEEDBACK_FILE
from tutor.records.feedback import citations_of
from tutor.settings import Settings

START = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)

# The table as tutor/feedback.py created it before the records database existed.
OLD_FEEDBACK_SCHEMA = """
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


class Clock:
    """An injected clock: tests move time instead of waiting for it."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def _settings(tmp_path: Path, url: str | None, **extra) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=url, **extra)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def database(tmp_path: Path, database_url: str | None, clock: Clock):
    database = Database.open(_settings(tmp_path, database_url), clock=clock)
    yield database
    database.close()


def _citation(n: int = 1, source: str = "psychology-2e/08-1-how-memory-functions.md",
              section: str = "How Memory Functions › Encoding") -> Citation:
    return Citation(n=n, chunk_id=f"chunk-{source}-{n}", source=source, title="Memory 8.1 — How Memory Functions",
                    section=section, quote="Encoding is the input of information into the memory system.")


def _answer(question: str = "What is encoding?", refused: bool = False, citations: list[Citation] | None = None,
            standalone: str | None = None) -> Answer:
    cited = [] if refused else (citations if citations is not None else [_citation()])
    return Answer(question=question, text="Not in the course materials." if refused else "Encoding is input [1].",
                  citations=cited, passages=[], refused=refused, refusal_reason="not_in_course" if refused else None,
                  standalone_question=standalone, mode="offline")


# --- schema and migrations -----------------------------------------------------------------------------


def test_a_new_database_is_at_the_current_schema_and_reopening_changes_nothing(tmp_path: Path,
                                                                                 database_url: str | None) -> None:
    settings = _settings(tmp_path, database_url)
    first = Database.open(settings)
    assert first.schema_version() == schema.SCHEMA_VERSION
    assert first.migrate() == []  # nothing left to apply
    QuestionLog(first).add(_answer(), session_id="s", channel="ask", latency_s=0.1)
    first.close()
    second = Database.open(settings)
    assert QuestionLog(second).totals() == {"questions": 1, "refused": 0}
    with second.transaction() as conn:
        assert conn.execute(select(func.count()).select_from(schema.schema_version)).scalar_one() == 1
    second.close()
    if database_url is None:
        assert (tmp_path / "data" / DATABASE_FILE).is_file()


def test_processes_starting_at_once_apply_each_migration_once(tmp_path: Path, database_url: str | None) -> None:
    settings = _settings(tmp_path, database_url)
    opened, errors = [], []

    def open_one() -> None:
        try:
            opened.append(Database.open(settings))
        except Exception as exc:  # noqa: BLE001 - the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(opened) == 4
    with opened[0].transaction() as conn:
        assert conn.execute(select(schema.schema_version.c.version)).scalars().all() == [1]
    for database in opened:
        database.close()


def test_a_database_newer_than_the_tutor_is_refused(database: Database) -> None:
    with database.transaction() as conn:
        conn.execute(schema.schema_version.insert().values(version=99, applied_at="2030-01-01T00:00:00+00:00"))
    with pytest.raises(Exception, match="schema version 99"):
        database.migrate()


def test_an_unreachable_postgresql_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    from tests.support.processes import free_port

    url = f"postgresql://tutor:hunter2@127.0.0.1:{free_port()}/tutor"
    with pytest.raises(RecordsUnavailable) as caught:
        Database.open(_settings(tmp_path, url))
    assert "127.0.0.1" in str(caught.value) and "hunter2" not in str(caught.value)


def test_a_bad_database_url_names_the_setting() -> None:
    with pytest.raises(ValueError, match="TUTOR_DATABASE_URL"):
        Settings(database_url="mysql://x@y/z")


# --- the feedback.sqlite3 of earlier versions --------------------------------------------------------------


def _old_feedback_file(data_dir: Path, rows: list[tuple]) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / LEGACY_FEEDBACK_FILE
    with sqlite3.connect(path) as db:
        db.execute(OLD_FEEDBACK_SCHEMA)
        db.executemany("INSERT INTO feedback (created_at, updated_at, question, answer, citations, rating, comment,"
                       " mode, refused) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    return path


OLD_ROWS = [
    ("2026-11-20T10:00:00+00:00", "2026-11-20T10:01:00+00:00", "What is encoding?", "Encoding is input [1].",
     '[{"n": 1, "chunk_id": "abc", "source": "psychology-2e/08-1-how-memory-functions.md", "title": "Memory 8.1", '
     '"section": "Encoding", "quote": "Encoding is the input of information."}]', "up", "clear", "offline", 0),
    ("2026-11-21T10:00:00+00:00", "2026-11-21T10:00:00+00:00", "Capital of France?", "Not in the course.", "[]",
     "down", "", "gpt-4o-mini", 1),
    ("2026-11-22T10:00:00+00:00", "2026-11-22T10:00:00+00:00", "Rating cleared", "Something.", "[]", None, "", "", 0),
]


def test_existing_feedback_moves_into_the_records_database(tmp_path: Path, database_url: str | None) -> None:
    old = _old_feedback_file(tmp_path / "data", OLD_ROWS)
    database = Database.open(_settings(tmp_path, database_url, record_retention_days=0))
    entries = FeedbackStore(database).entries()
    assert [(e.question, e.rating, e.comment, e.mode, e.refused) for e in reversed(entries)] == [
        ("What is encoding?", "up", "clear", "offline", False), ("Capital of France?", "down", "", "gpt-4o-mini", True),
        ("Rating cleared", None, "", "", False)]
    assert citations_of(entries[-1])[0].quote == "Encoding is the input of information."
    assert entries[-1].created_at == "2026-11-20T10:00:00+00:00"
    assert not old.exists() and old.with_name(LEGACY_FEEDBACK_FILE + ".imported").is_file()  # kept, not deleted
    database.close()
    reopened = Database.open(_settings(tmp_path, database_url, record_retention_days=0))
    assert len(FeedbackStore(reopened).entries()) == 3
    reopened.close()


def test_an_interrupted_import_is_not_duplicated(tmp_path: Path, database_url: str | None) -> None:
    old = _old_feedback_file(tmp_path / "data", OLD_ROWS)
    kept = old.read_bytes()
    Database.open(_settings(tmp_path, database_url, record_retention_days=0)).close()
    old.write_bytes(kept)  # as if the rename had never happened
    database = Database.open(_settings(tmp_path, database_url, record_retention_days=0))
    assert len(FeedbackStore(database).entries()) == 3
    database.close()


def test_a_corrupt_old_feedback_file_is_named_and_left_alone(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    old = tmp_path / "data" / LEGACY_FEEDBACK_FILE
    old.write_bytes(b"not a database at all" * 100)
    with pytest.raises(RecordsUnavailable, match="feedback.sqlite3"):
        Database.open(_settings(tmp_path, None))
    assert old.read_bytes().startswith(b"not a database")


# --- the record of questions ----------------------------------------------------------------------------


def test_a_recorded_question_keeps_what_was_asked_and_answered(database: Database) -> None:
    log = QuestionLog(database)
    answered = _answer("and why?", standalone="Why does encoding matter?",
                       citations=[_citation(1), _citation(2, "001_e2ce60a967ffc981.txt", "Memory")])
    first = log.add(answered, session_id="abc123", channel="app", latency_s=0.25, mode="explain")
    log.add(_answer("Capital of France?", refused=True), session_id="abc123", channel="app", latency_s=0.05)
    newest, oldest = log.records()
    assert oldest.id == first
    assert (oldest.asked_at, oldest.session_id, oldest.channel, oldest.mode) == (
        "2026-11-01T09:00:00+00:00", "abc123", "app", "explain")
    assert (oldest.question, oldest.standalone_question, oldest.refused, oldest.answerer, oldest.latency_ms) == (
        "and why?", "Why does encoding matter?", False, "offline", 250.0)
    assert [c["chunk_id"] for c in oldest.citations] == [c.chunk_id for c in answered.citations]
    assert oldest.sources == ["psychology-2e/08-1-how-memory-functions.md", "001_e2ce60a967ffc981.txt"]
    assert (newest.refused, newest.refusal_reason, newest.citations) == (True, "not_in_course", [])
    assert newest.standalone_question == "Capital of France?"


def test_search_filters_and_gaps(database: Database, clock: Clock) -> None:
    log, feedback = QuestionLog(database), FeedbackStore(database)
    liked = log.add(_answer("What is encoding?"), session_id="a", channel="app", latency_s=0.1)
    feedback.record(_answer("What is encoding?"), "up", question_id=liked)
    clock.advance(days=1)
    disliked = log.add(_answer("What is 50% of storage_size?"), session_id="b", channel="ask", latency_s=0.1)
    feedback.record(_answer("What is 50% of storage_size?"), "down", "missed it", question_id=disliked)
    log.add(_answer("Capital of France?", refused=True), session_id="b", channel="ask", latency_s=0.1)

    assert [r.question for r in log.records(search="WHAT IS ENCODING")] == ["What is encoding?"]
    assert [r.question for r in log.records(search="50%")] == ["What is 50% of storage_size?"]  # % is literal
    assert log.records(search="e_c") == []  # so is _
    assert {r.question for r in log.records(gaps_only=True)} == {"Capital of France?", "What is 50% of storage_size?"}
    assert [r.question for r in log.records(session_id="a")] == ["What is encoding?"]
    assert [r.question for r in log.records(since="2026-11-02")] == ["Capital of France?",
                                                                      "What is 50% of storage_size?"]
    assert log.records(limit=1)[0].question == "Capital of France?"
    rated = {r.question: (r.rating, r.comment) for r in log.records()}
    assert rated["What is 50% of storage_size?"] == ("down", "missed it")
    assert log.totals() == {"questions": 3, "refused": 1}
    assert log.totals(since="2026-11-02") == {"questions": 2, "refused": 1}
    assert log.feedback_counts() == {"up": 1, "down": 1}
    assert [(d.day, d.questions, d.refused, d.up, d.down) for d in log.daily_counts()] == [
        ("2026-11-01", 1, 0, 1, 0), ("2026-11-02", 2, 1, 0, 1)]


def test_most_cited_counts_answers_per_document_and_section(database: Database) -> None:
    log = QuestionLog(database)
    memory = "psychology-2e/08-1-how-memory-functions.md"
    log.add(_answer(citations=[_citation(1), _citation(2, section="How Memory Functions › Storage")]),
            session_id="s", channel="app", latency_s=0.1)
    log.add(_answer(citations=[_citation(1)]), session_id="s", channel="app", latency_s=0.1)
    log.add(_answer(citations=[_citation(1, "001_e2ce60a967ffc981.txt", "Memory")]), session_id="s", channel="app",
            latency_s=0.1)
    assert [(c.source, c.count) for c in log.cited_documents()] == [(memory, 2), ("001_e2ce60a967ffc981.txt", 1)]
    assert [(c.section, c.count) for c in log.cited_sections()][:2] == [("How Memory Functions › Encoding", 2),
                                                                        ("Memory", 1)]


def test_csv_export_has_one_row_per_question(database: Database) -> None:
    import csv
    import io

    log = QuestionLog(database)
    log.add(_answer('He said "hi",\nthen left'), session_id="s", channel="app", latency_s=0.1)
    log.add(_answer("Capital of France?", refused=True), session_id="s", channel="app", latency_s=0.1)
    rows = list(csv.DictReader(io.StringIO(log.export_csv(log.records()))))
    assert [r["question"] for r in rows] == ["Capital of France?", 'He said "hi",\nthen left']
    assert rows[1]["sources"] == "psychology-2e/08-1-how-memory-functions.md" and rows[0]["refused"] == "True"


def test_retention_deletes_old_rows_and_keeps_recent_ones(tmp_path: Path, database_url: str | None,
                                                          clock: Clock) -> None:
    database = Database.open(_settings(tmp_path, database_url, record_retention_days=30), clock=clock)
    log, feedback, chats = QuestionLog(database), FeedbackStore(database), SavedChats(database)
    old = log.add(_answer("old question"), session_id="s", channel="app", latency_s=0.1)
    feedback.record(_answer("old question"), "down", question_id=old)
    old_chat = chats.save("s", [ChatMessage("user", "old question")])
    clock.advance(days=20)
    log.add(_answer("recent question"), session_id="s", channel="app", latency_s=0.1)
    recent_chat = chats.save("s", [ChatMessage("user", "recent question")])
    clock.advance(days=15)  # the first rows are now 35 days old, the others 15

    assert database.apply_retention(force=True) == {"questions": 1, "feedback": 1, "chats": 1}
    assert [r.question for r in log.records()] == ["recent question"]
    assert feedback.entries() == [] and log.cited_documents()[0].count == 1
    assert chats.load("s", old_chat) is None and chats.load("s", recent_chat) is not None
    database.close()


def test_retention_runs_on_start_and_at_most_hourly_while_recording(tmp_path: Path, database_url: str | None,
                                                                     clock: Clock) -> None:
    settings = _settings(tmp_path, database_url, record_retention_days=1)
    database = Database.open(settings, clock=clock)
    log = QuestionLog(database)
    log.add(_answer("first"), session_id="s", channel="app", latency_s=0.1)
    clock.advance(hours=23.5)
    log.add(_answer("second"), session_id="s", channel="app", latency_s=0.1)  # retention runs: nothing is old
    clock.advance(hours=0.75)  # "first" is now older than a day, but retention ran 45 minutes ago
    log.add(_answer("third"), session_id="s", channel="app", latency_s=0.1)
    assert len(log.records()) == 3
    clock.advance(hours=1)
    log.add(_answer("fourth"), session_id="s", channel="app", latency_s=0.1)
    assert [r.question for r in log.records()] == ["fourth", "third", "second"]
    database.close()
    clock.advance(days=3)
    reopened = Database.open(settings, clock=clock)  # on start
    assert QuestionLog(reopened).records() == []
    reopened.close()


def test_retention_zero_keeps_everything(tmp_path: Path, database_url: str | None, clock: Clock) -> None:
    database = Database.open(_settings(tmp_path, database_url, record_retention_days=0), clock=clock)
    QuestionLog(database).add(_answer(), session_id="s", channel="app", latency_s=0.1)
    clock.advance(days=5000)
    assert database.apply_retention(force=True) == {} and len(QuestionLog(database).records()) == 1
    database.close()


# --- feedback --------------------------------------------------------------------------------------------------


def test_feedback_is_updated_in_place_and_counted(database: Database) -> None:
    store = FeedbackStore(database)
    entry_id = store.record(_answer(), "up", comment="  clear, thanks ")
    assert (store.get(entry_id).comment, store.get(entry_id).mode) == ("clear, thanks", "offline")
    store.update(entry_id, rating="down")
    store.update(entry_id, comment="It missed the second part")
    entries = store.entries()
    assert len(entries) == 1 and (entries[0].rating, entries[0].comment) == ("down", "It missed the second part")
    store.update(entry_id, clear_rating=True)
    assert store.get(entry_id).rating is None and store.counts() == {"up": 0, "down": 0}
    store.record(_answer("second", refused=True), "down")
    store.record(_answer("third"), "up")
    assert store.counts() == {"up": 1, "down": 1}
    assert [e.question for e in store.entries(limit=2)] == ["third", "second"]
    assert store.entries()[1].refused is True and store.get(10_000) is None


def test_thumbs_values_map_to_ratings() -> None:
    assert (rating_from_thumbs(1), rating_from_thumbs(0), rating_from_thumbs(None)) == ("up", "down", None)


def test_concurrent_sessions_lose_nothing(database: Database) -> None:
    log, store = QuestionLog(database), FeedbackStore(database)

    def session(i: int) -> None:
        record_id = log.add(_answer(f"q{i}"), session_id=f"s{i}", channel="app", latency_s=0.1)
        store.record(_answer(f"q{i}"), "up", question_id=record_id)

    threads = [threading.Thread(target=session, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert log.totals()["questions"] == 20 and store.counts() == {"up": 20, "down": 0}
    assert all(r.rating == "up" for r in log.records())


# --- saved chats -------------------------------------------------------------------------------------------------


def test_saved_chats_list_reopen_and_forget(database: Database, clock: Clock) -> None:
    chats = SavedChats(database)
    answer = _answer()
    first = chats.save("student-a", [ChatMessage("user", "What is encoding?"), ChatMessage("assistant", "", answer)])
    clock.advance(minutes=5)
    second = chats.create("student-a")
    chats.append("student-a", second, [ChatMessage("user", "  What   is storage? ")])
    chats.save("student-b", [ChatMessage("user", "somebody else's chat")])

    listed = chats.list("student-a")
    assert [(c.id, c.title, c.messages) for c in listed] == [(second, "What is storage?", 1),
                                                             (first, "What is encoding?", 2)]
    reopened = chats.load("student-a", first)
    assert [m.role for m in reopened.messages] == ["user", "assistant"]
    restored = reopened.messages[1].answer
    assert restored is not None and restored.citations == answer.citations and restored.text == answer.text

    clock.advance(minutes=5)
    chats.append("student-a", first, [ChatMessage("user", "and retrieval?")])
    assert chats.list("student-a")[0].id == first  # most recently changed first
    chats.save("student-a", [ChatMessage("user", "replaced")], chat_id=first, title="Encoding")
    assert [m.content for m in chats.load("student-a", first).messages] == ["replaced"]
    assert chats.load("student-a", first).title == "Encoding"

    # Another session reaches nothing, even with the id.
    assert chats.load("student-b", first) is None
    assert chats.forget("student-b", first) is False
    with pytest.raises(ChatNotFound):
        chats.append("student-b", first, [ChatMessage("user", "hijack")])
    with pytest.raises(ChatNotFound):
        chats.rename("student-b", first, "mine now")

    assert chats.forget("student-a", first) is True and chats.load("student-a", first) is None
    assert [c.id for c in chats.list("student-a")] == [second]
    assert chats.forget_session("student-a") == 1 and chats.list("student-a") == []
    assert len(chats.list("student-b")) == 1


def test_a_long_first_question_makes_a_short_title(database: Database) -> None:
    chats = SavedChats(database)
    chat_id = chats.save("s", [ChatMessage("user", "word " * 50)])
    title = chats.load("s", chat_id).title
    assert len(title) <= 80 and title.endswith("…")


# --- the recording hook ------------------------------------------------------------------------------------------


def test_recorder_records_and_recording_off_records_nothing(tmp_path: Path, database_url: str | None) -> None:
    recorder = QuestionRecorder(_settings(tmp_path, database_url))
    assert recorder.record(_answer(), session_id="s", channel="ask", latency_s=0.2) is not None
    assert QuestionLog(recorder.database).totals()["questions"] == 1
    recorder.close()

    off = QuestionRecorder(_settings(tmp_path / "off", database_url, record_questions=False))
    assert off.record(_answer(), session_id="s", channel="ask", latency_s=0.2) is None
    assert off._database is None  # the database was not even opened
    if database_url is None:
        assert not (tmp_path / "off" / "data" / DATABASE_FILE).exists()
    else:
        check = QuestionRecorder(_settings(tmp_path, database_url))
        assert QuestionLog(check.database).totals()["questions"] == 1  # still only the first
        check.close()


def test_recording_off_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUTOR_RECORD_QUESTIONS", "0")
    assert Settings().record_questions is False


def test_a_failing_database_never_stops_an_answer(tmp_path: Path) -> None:
    from tests.support.processes import free_port

    recorder = QuestionRecorder(_settings(tmp_path, f"postgresql://nobody@127.0.0.1:{free_port()}/none"))
    assert recorder.record(_answer(), session_id="s", channel="ask", latency_s=0.2) is None
    assert recorder.last_error and "not recorded" in recorder.last_error
