"""The conversation: what session_state keeps, how an answer is drawn, and the Markdown export."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

import streamlit as st

from tutor.answer.tutoring import QuizSession, quiz_request
from tutor.errors import CorpusNotIndexed, TutorError
from tutor.answer.guard import near_passages, refusal_headline
from tutor.models import Answer, Turn
from tutor.records import FeedbackStore, QuestionRecorder, rating_from_thumbs
from tutor.service import TutorService
from tutor_ui.sources import citation_views, render_source_buttons, section_views
from tutor_ui.text import (UNCITED_BADGE, UNSUPPORTED_BADGE, escape_markdown, marked_answer_markdown, model_markdown,
                           model_markdown_stream)

MESSAGES_KEY = "messages"
PENDING_KEY = "pending_questions"  # asked and not answered yet, oldest first
INPUT_KEY = "question-input"
STEP_LOADING = "Loading the search model (the first question after a start takes a few seconds)…"
STEP_FINDING = "Finding passages in the course…"
STEP_WRITING = "Writing the answer…"
WARM_UP_WAIT = 120.0  # seconds; past this the question goes ahead and reports whatever fails
REFUSAL_FEEDBACK = {"Yes": "up", "No, the course covers it": "down"}
QUIZ_KEY = "quiz"  # the QuizSession being taken (plain data), if any
MODE_KEY = "tutor_mode"
MODES = {"explain": "Explain", "hint": "Hint", "quiz": "Quiz"}
_LABEL_WORDS = 8


@dataclass
class ChatEntry:
    """One message. An assistant entry carries the typed Answer it rendered (or an error)."""

    role: Literal["user", "assistant"]
    text: str
    answer: Answer | None = None
    error: bool = False
    feedback_id: int | None = None
    record_id: int | None = None  # its row in the record of questions, which its feedback points at
    comment_saved: bool = False
    quiz: bool = False  # a quiz turn (question, right/wrong, score): our own text, drawn as text
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])  # stable widget keys across reruns


def conversation() -> list[ChatEntry]:
    return st.session_state.setdefault(MESSAGES_KEY, [])


def end_quiz() -> None:
    """A new or reopened chat leaves any quiz being taken."""
    st.session_state.pop(QUIZ_KEY, None)


def current_mode() -> str:
    return st.session_state.get(MODE_KEY) or "explain"


def quiz_turn(tutor: TutorService, text: str, entries: Sequence[ChatEntry]) -> ChatEntry | None:
    """The quiz's reply when this message belongs to a quiz: an answer to the current item (graded,
    with the passage the key is quoted from, then the next item or the score), or a request to start
    one ("quiz me on chapter 8", or any message in quiz mode: its topic; empty means the last answer's
    sections). None: not a quiz message."""
    session: QuizSession | None = st.session_state.get(QUIZ_KEY)
    if session is not None and not session.done:
        _, feedback = session.answer(text)
        follow = session.summary() if session.done else session.prompt()
        if session.done:
            st.session_state.pop(QUIZ_KEY, None)
        return ChatEntry("assistant", f"{feedback}\n\n{follow}", quiz=True)
    topic = quiz_request(text)
    if topic is None and current_mode() == "quiz":
        topic = text.strip()
    if topic is None:
        return None
    last = next((e.answer for e in reversed(entries) if e.answer is not None and not e.answer.refused), None)
    sources = [c.source for c in last.citations] if (last and not topic) else []
    quiz = tutor.quiz(topic, count=4, sources=sources)
    if not quiz.items:
        return ChatEntry("assistant", f"No quiz: the course materials do not cover “{topic}”.", quiz=True)
    session = QuizSession(quiz)
    st.session_state[QUIZ_KEY] = session
    return ChatEntry("assistant", f"A quiz on {topic or 'the last answer'}: {len(quiz.items)} questions. "
                                  f"Answer each one in the chat.\n\n{session.prompt()}", quiz=True)


def ask_later(question: str) -> None:
    """Queue a question (typed, or a starter clicked) to be answered in turn. Questions leave the queue
    only once answered: a question sent while the last one is being answered makes Streamlit stop that
    run and start another, and the interrupted question must not be lost (it is answered again first)."""
    if question and question.strip():
        st.session_state.setdefault(PENDING_KEY, []).append(question)


def ask_typed() -> None:
    """The chat input's on_submit: queue what was typed."""
    ask_later(st.session_state.get(INPUT_KEY) or "")


def next_question() -> str | None:
    """The oldest question not answered yet."""
    pending = st.session_state.get(PENDING_KEY)
    return pending[0] if pending else None


def question_answered() -> None:
    pending = st.session_state.get(PENDING_KEY)
    if pending:
        pending.pop(0)


def drop_pending() -> None:
    """A new or reopened chat does not inherit the questions queued in the one left."""
    st.session_state.pop(PENDING_KEY, None)


def history(entries: Sequence[ChatEntry]) -> list[Turn]:
    """The conversation so far as the answering chain sees it: a question that failed, and its error,
    are not part of it."""
    failed = {i - 1 for i, e in enumerate(entries) if e.error or e.quiz}  # quiz turns are not questions
    return [Turn(e.role, e.answer.text if e.answer else e.text)
            for i, e in enumerate(entries) if not e.error and not e.quiz and i not in failed]


def answer_question(tutor: TutorService, question: str, entries: Sequence[ChatEntry],
                    warm_up: threading.Event | None = None) -> ChatEntry:
    """Answer inside the current chat message, streaming the text as it is written (the LLM's tokens,
    or the offline answer in one piece as soon as it is composed), under a status line saying which
    step it is at. Expected failures become an error entry. The caller redraws the final answer, with
    its citations, from the returned entry."""
    waiting = st.empty()
    progress = waiting.status(STEP_FINDING, expanded=False)
    stream = None
    try:
        if warm_up is not None and not warm_up.is_set():
            # The first question after a start: the encoder model is still loading in the background.
            progress.update(label=STEP_LOADING)
            warm_up.wait(timeout=WARM_UP_WAIT)
            progress.update(label=STEP_FINDING)
        mode = "hint" if current_mode() == "hint" else "explain"
        stream = tutor.ask_stream(question, history=history(entries), mode=mode)
        st.write_stream(model_markdown_stream(_step_on_first(stream, progress)))
        if stream.answer is None:
            raise TutorError("the answer stream ended without an answer")
        return ChatEntry("assistant", "", answer=stream.answer)
    except CorpusNotIndexed:
        return ChatEntry("assistant", "Nothing is indexed yet, so there is nothing to answer from. An instructor "
                                      "can add course documents on the Library page.", error=True)
    except TutorError as exc:
        return ChatEntry("assistant", f"Sorry, something went wrong: {exc}", error=True)
    finally:
        if stream is not None:
            stream.close()  # a rerun (new chat, another page) interrupts us: release the model's stream
        waiting.empty()


def record_reply(recorder: QuestionRecorder, reply: ChatEntry, *, session_id: str, latency_s: float) -> None:
    """The recording hook: an answered question goes into the record (errors are not recorded)."""
    if reply.answer is not None:
        reply.record_id = recorder.record(reply.answer, session_id=session_id, channel="app", latency_s=latency_s)


def _step_on_first(deltas: Iterable[str], progress: Any) -> Iterator[str]:
    """The passages are found (and checked) before the first word is written."""
    for n, delta in enumerate(deltas):
        if n == 0:
            progress.update(label=STEP_WRITING)
        yield delta


# --- drawing ---------------------------------------------------------------------------------------


def render_user(text: str) -> None:
    st.markdown(escape_markdown(text))


def render_answer(answer: Answer, tutor: TutorService, key: str) -> None:
    """The answer body, then its sources as buttons; a refusal is drawn as a notice, not as an answer,
    with the nearby sections (only those that are near) to open instead."""
    if answer.refused:
        st.info(model_markdown(refusal_headline(answer)), icon=":material/block:")
        nearby = section_views(near_passages(answer.passages))
        if answer.refusal_reason == "not_in_course":
            st.caption("Try asking with the words your course uses, or ask your instructor.")
        render_source_buttons(tutor, nearby, key=f"near-{key}", caption="Nearby sections of the course")
    else:
        render_marked_answer(answer)
    if answer.incomplete:
        st.warning(f"This answer was cut short. {escape_markdown(answer.error or '')}", icon=":material/warning:")
    elif answer.error:
        st.error(escape_markdown(answer.error), icon=":material/error:")
    render_source_buttons(tutor, citation_views(answer), key=f"cite-{key}", caption="Sources")


def render_marked_answer(answer: Answer) -> None:
    """The answer text; in LLM mode with a badge on each sentence the course passages do not back
    (the offline answerer only copies cited passage sentences), and a legend for the badges used."""
    flagged = [] if answer.mode == "offline" else (
        [(s, UNCITED_BADGE) for s in answer.uncited_sentences] +
        [(s, UNSUPPORTED_BADGE) for s in answer.unsupported_sentences])
    st.markdown(marked_answer_markdown(answer.text, flagged))
    legend = []
    if any(badge == UNCITED_BADGE for _, badge in flagged):
        legend.append(f"{UNCITED_BADGE} cites no course passage")
    if any(badge == UNSUPPORTED_BADGE for _, badge in flagged):
        legend.append(f"{UNSUPPORTED_BADGE} its source does not say this")
    if legend:
        st.caption(" · ".join(legend) + " — check these sentences in your materials.")


def render_feedback(entry: ChatEntry, store: FeedbackStore) -> None:
    """Thumbs up/down, stored at once; once rated, an optional comment on the same record. A refusal
    is not rated like an answer: the question is whether refusing was right (stored as up/down on
    the refused row)."""
    if entry.answer is not None and entry.answer.refused:
        st.pills("Was this refusal right?", list(REFUSAL_FEEDBACK), key=f"rating-{entry.id}",
                 on_change=_rated, args=(entry.id, store))
    else:
        st.feedback("thumbs", key=f"rating-{entry.id}", on_change=_rated, args=(entry.id, store))
    if entry.feedback_id is None:
        return
    if entry.comment_saved:
        st.caption("Thanks for the feedback.")
        return
    with st.form(key=f"comment-form-{entry.id}", border=False):
        comment = st.text_input("What could be better? (optional)", key=f"comment-{entry.id}",
                                placeholder="Optional comment", label_visibility="collapsed")
        if st.form_submit_button("Send comment", type="tertiary") and comment.strip():
            store.update(entry.feedback_id, comment=comment)
            entry.comment_saved = True
            st.rerun()


def _rated(entry_id: str, store: FeedbackStore) -> None:
    entry = next((e for e in conversation() if e.id == entry_id), None)
    if entry is None or entry.answer is None:
        return
    chosen = st.session_state.get(f"rating-{entry_id}")
    rating = REFUSAL_FEEDBACK.get(chosen) if entry.answer.refused else rating_from_thumbs(chosen)
    if entry.feedback_id is None:
        if rating is not None:
            entry.feedback_id = store.record(entry.answer, rating, question_id=entry.record_id)
    else:
        store.update(entry.feedback_id, rating=rating, clear_rating=rating is None)


# --- export ----------------------------------------------------------------------------------------


def conversation_markdown(entries: Sequence[ChatEntry], when: datetime | None = None) -> str:
    """The conversation as a Markdown file a student can keep: questions, answers, and each answer's
    sources as footnotes with the quoted sentences. Every piece is escaped exactly as the chat page
    escapes it (the file may be opened in a viewer that renders HTML and follows links): what people
    and documents wrote shows literally, the model's answer keeps emphasis and lists but no links,
    images or tags, and URLs stay plain text with their host in view."""
    stamp = (when or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# Conversation with the course tutor", "", f"_Exported {stamp}_", ""]
    for entry in entries:
        if entry.role == "user":
            lines += [f"**You:** {escape_markdown(entry.text)}", ""]
            continue
        answer = entry.answer
        if answer is None:
            lines += [f"**Tutor:** _{escape_markdown(entry.text)}_", ""]
            continue
        prefix = "**Tutor (not covered by the course):**" if answer.refused else "**Tutor:**"
        lines += [f"{prefix} {model_markdown(answer.text)}", ""]
        for citation in answer.citations:
            place = " › ".join(p for p in (citation.title, citation.section) if p)
            quote = " ".join(citation.quote.split())  # one footnote line: a quote's line breaks would end it
            lines.append(f"> \\[{citation.n}\\] {escape_markdown(place)} ({escape_markdown(citation.source)}): "
                         f"“{escape_markdown(quote)}”")
        if answer.citations:
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"
