"""Chat (students): ask about the course, get answers with their sources."""

from __future__ import annotations

import time

import streamlit as st

from tutor_ui import resources
from tutor_ui.chat import (INPUT_KEY, MODE_KEY, MODES, ChatEntry, answer_question, ask_later, ask_typed,
                           conversation, conversation_markdown, next_question, question_answered, quiz_turn,
                           record_reply, render_answer, render_feedback, render_user)
from tutor_ui.saved import browser_session_id, forget_chat, new_chat, render_chat_list, restore_chat, save_chat
from tutor_ui.text import escape_markdown

tutor = resources.service()
feedback = resources.feedback_store()
saved = resources.saved_chats()  # None: the records database is down, chats are not kept
session_id = browser_session_id()
if saved is not None:
    restore_chat(saved, session_id)
    render_chat_list(saved, session_id)
messages = conversation()

title, actions = st.columns([1, 1], vertical_alignment="bottom")  # room for the three actions on one line
title.title("Course tutor")
with actions.container(horizontal=True, horizontal_alignment="right"):
    st.button("New chat", icon=":material/add_comment:", on_click=new_chat, disabled=not messages,
              help="Start over; this chat stays in Your chats.")
    with st.popover("Forget", icon=":material/delete:", disabled=not messages or saved is None):
        st.caption("Delete this chat from Your chats and from the server.")
        st.button("Forget this chat", type="primary", on_click=forget_chat, args=(saved, session_id))
    st.download_button("Export", data=conversation_markdown(messages), file_name="tutor-conversation.md",
                       mime="text/markdown", icon=":material/download:", on_click="ignore", disabled=not messages)
mode = tutor.settings.llm_model if tutor.settings.llm_enabled else "offline"
st.caption(f"Answers come only from the course materials, with numbered sources. · Mode: `{mode}`"
           if mode != "offline" else
           "Answers come only from the course materials, with numbered sources. · Offline mode: "
           "answers quote the course directly.")
if tutor.settings.record_questions:
    st.caption(":material/visibility: Questions are recorded pseudonymously (no name, no address) for the "
               "course's instructors, to improve the course.")

# Read first (the input is pinned to the bottom wherever it is declared) so starters hide while answering.
# Typed and clicked questions wait in a queue until answered (tutor_ui.chat.ask_later says why).
st.chat_input("Ask a question about the course", key=INPUT_KEY, on_submit=ask_typed)
question = next_question()

if not messages and not question:
    starters = tutor.starters()
    if starters:
        st.markdown("**Not sure where to start? Try one of these:**")
        with st.container(horizontal=True):
            for starter in starters:
                st.button(escape_markdown(starter), on_click=ask_later, args=(starter,), type="secondary")

for entry in messages:
    with st.chat_message(entry.role):
        if entry.role == "user":
            render_user(entry.text)
        elif entry.quiz:
            st.markdown(escape_markdown(entry.text).replace("\n", "  \n"))
        elif entry.answer is not None:
            render_answer(entry.answer, tutor, key=entry.id)
            if feedback is not None:
                render_feedback(entry, feedback)
        else:
            st.error(escape_markdown(entry.text), icon=":material/error:")

# The tutoring mode, just above the (bottom-pinned) chat input: explain, hint (a guiding question
# first), or quiz (each message is a topic, then the answers to its questions).
st.segmented_control("Mode", options=list(MODES), format_func=MODES.get, key=MODE_KEY, default="explain",
                     help="Explain: the answer with its sources. Hint: a guiding question first; reply with your "
                          "answer or “show me”. Quiz: type a topic (“chapter 8”), then answer each question.")

if question:
    with st.chat_message("user"):
        render_user(question)
    with st.chat_message("assistant"):
        started = time.perf_counter()
        reply = quiz_turn(tutor, question, messages) or answer_question(
            tutor, question, messages, warm_up=resources.warm_up_done(tutor))
    # Nothing between here and the rerun draws, so a newer question cannot interrupt it.
    messages += [ChatEntry("user", question), reply]
    question_answered()
    if not reply.quiz:
        record_reply(resources.recorder(), reply, session_id=resources.record_session_id(),
                     latency_s=time.perf_counter() - started)
    if saved is not None:
        save_chat(saved, session_id, messages)
    # Redraw from the conversation: the final answer (validated citations, feedback) replaces the stream.
    st.rerun()
