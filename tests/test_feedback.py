"""Feedback is stored durably with the question, answer, citations, rating, comment, time and mode."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from tutor.feedback import FEEDBACK_FILE, FeedbackStore, citations_of, rating_from_thumbs
from tutor.models import Answer, Citation


def _answer(question: str = "What is encoding?", refused: bool = False) -> Answer:
    citation = Citation(n=1, chunk_id="abc", source="psychology-2e/08-1-how-memory-functions.md",
                        title="Memory 8.1 — How Memory Functions", section="How Memory Functions › Encoding",
                        quote="Encoding is the input of information into the memory system.")
    return Answer(question=question, text="Encoding is the input of information [1].", citations=[citation],
                  passages=[], refused=refused, mode="offline")


def test_record_survives_a_new_store_on_the_same_data_dir(tmp_path: Path) -> None:
    store = FeedbackStore.in_data_dir(tmp_path)
    entry_id = store.record(_answer(), "up", comment="  clear, thanks ")

    reopened = FeedbackStore.in_data_dir(tmp_path)
    entry = reopened.get(entry_id)
    assert entry is not None
    assert (entry.question, entry.rating, entry.comment, entry.mode) == ("What is encoding?", "up", "clear, thanks",
                                                                          "offline")
    assert entry.answer == "Encoding is the input of information [1]."
    assert citations_of(entry)[0].quote == "Encoding is the input of information into the memory system."
    assert entry.created_at.endswith("+00:00")
    assert (tmp_path / FEEDBACK_FILE).is_file()


def test_update_changes_rating_and_comment_of_the_same_row(tmp_path: Path) -> None:
    store = FeedbackStore.in_data_dir(tmp_path)
    entry_id = store.record(_answer(), "up")
    store.update(entry_id, rating="down")
    store.update(entry_id, comment="It missed the second part")
    entries = store.entries()
    assert len(entries) == 1
    assert (entries[0].rating, entries[0].comment) == ("down", "It missed the second part")
    store.update(entry_id, clear_rating=True)
    assert store.get(entry_id).rating is None
    assert store.counts() == {"up": 0, "down": 0}


def test_counts_and_order(tmp_path: Path) -> None:
    store = FeedbackStore.in_data_dir(tmp_path)
    store.record(_answer("first"), "up")
    store.record(_answer("second", refused=True), "down")
    store.record(_answer("third"), "up")
    assert store.counts() == {"up": 2, "down": 1}
    assert [e.question for e in store.entries(limit=2)] == ["third", "second"]
    assert store.entries()[1].refused is True


def test_thumbs_values_map_to_ratings() -> None:
    assert rating_from_thumbs(1) == "up"
    assert rating_from_thumbs(0) == "down"
    assert rating_from_thumbs(None) is None


def test_concurrent_sessions_do_not_lose_feedback(tmp_path: Path) -> None:
    store = FeedbackStore.in_data_dir(tmp_path)
    threads = [threading.Thread(target=lambda i=i: store.record(_answer(f"q{i}"), "up")) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with sqlite3.connect(tmp_path / FEEDBACK_FILE) as db:
        assert db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0] == 20
