"""Saved chats on the page: which browser session this is, the current chat, the sidebar list. The
chats themselves live in the records database (tutor.records.SavedChats).

Streamlit forgets session_state on a reload (a reload is a new session), so the pseudonymous
session id and the open chat live in the URL (`?s=…&c=…`): a reload or a bookmark brings the same
chats back, even after a server restart, and a fresh visit without them starts a new session. The
id is random and names nothing about the student; whoever has the URL can read those chats, as
with any link-shared document.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence

import streamlit as st

from tutor.errors import ChatNotFound
from tutor.records import ChatMessage, SavedChats
from tutor_ui.chat import MESSAGES_KEY, ChatEntry, drop_pending, end_quiz
from tutor_ui.text import escape_markdown

SESSION_PARAM, CHAT_PARAM = "s", "c"
_SESSION_ID = re.compile(r"[0-9a-f]{16,64}")  # what secrets.token_hex makes; anything else in the URL is ignored
SESSION_KEY, CHAT_KEY = "browser-session", "chat-id"
RECENT_CHATS = 12


def browser_session_id() -> str:
    """This browser's pseudonym: from the URL (a reload), else this Streamlit session's, else new."""
    from_url = st.query_params.get(SESSION_PARAM, "")
    session_id = from_url if valid_session_id(from_url) else st.session_state.get(SESSION_KEY) or secrets.token_hex(12)
    st.session_state[SESSION_KEY] = session_id
    if from_url != session_id:
        st.query_params[SESSION_PARAM] = session_id  # back into the URL after another page dropped it
    return session_id


def restore_chat(store: SavedChats, session_id: str) -> None:
    """After a reload, reopen the chat the URL names; after a visit to another page, put the open
    chat back into the URL."""
    in_url, open_now = st.query_params.get(CHAT_PARAM), st.session_state.get(CHAT_KEY)
    if in_url and in_url != open_now:
        open_chat(store, session_id, in_url)
    elif open_now and not in_url:
        st.query_params[CHAT_PARAM] = open_now


def open_chat(store: SavedChats, session_id: str, chat_id: str) -> None:
    drop_pending()
    saved = store.load(session_id, chat_id)
    if saved is None:  # forgotten, or another session's: start afresh rather than show anything
        st.query_params.pop(CHAT_PARAM, None)
        st.session_state[CHAT_KEY] = None
        st.session_state[MESSAGES_KEY] = []
        return
    st.session_state[MESSAGES_KEY] = [entry_from_message(m) for m in saved.messages]
    st.session_state[CHAT_KEY] = chat_id
    st.query_params[CHAT_PARAM] = chat_id


def save_chat(store: SavedChats, session_id: str, entries: Sequence[ChatEntry]) -> None:
    """Write the open conversation after each answer (a new chat on its first answer)."""
    messages = [message_from_entry(e) for e in entries]
    try:
        chat_id = store.save(session_id, messages, st.session_state.get(CHAT_KEY))
    except ChatNotFound:  # forgotten meanwhile (another tab): keep this conversation as a new chat
        chat_id = store.save(session_id, messages)
    st.session_state[CHAT_KEY] = chat_id
    st.query_params[CHAT_PARAM] = chat_id


def new_chat() -> None:
    """Start over; the chat so far stays in the list (it was saved after its last answer)."""
    st.session_state[MESSAGES_KEY] = []
    end_quiz()
    drop_pending()
    st.session_state[CHAT_KEY] = None
    st.query_params.pop(CHAT_PARAM, None)


def forget_chat(store: SavedChats, session_id: str) -> None:
    chat_id = st.session_state.get(CHAT_KEY)
    if chat_id:
        store.forget(session_id, chat_id)
    new_chat()
    st.toast("Chat forgotten.", icon=":material/delete:")


def render_chat_list(store: SavedChats, session_id: str) -> None:
    """The sidebar: recent chats of this browser session, the open one marked."""
    chats = store.list(session_id)[:RECENT_CHATS]
    with st.sidebar:
        st.subheader("Your chats")
        if not chats:
            st.caption("Your conversations are kept here, on this device's link.")
            return
        current = st.session_state.get(CHAT_KEY)
        for chat in chats:
            st.button(escape_markdown(chat.title or "Untitled chat"), key=f"open-chat-{chat.id}",
                      type="primary" if chat.id == current else "tertiary", icon=":material/chat_bubble:",
                      on_click=open_chat, args=(store, session_id, chat.id), width="stretch")


def message_from_entry(entry: ChatEntry) -> ChatMessage:
    return ChatMessage(entry.role, entry.answer.text if entry.answer else entry.text, entry.answer)


def entry_from_message(message: ChatMessage) -> ChatEntry:
    if message.role == "user":
        return ChatEntry("user", message.content)
    if message.answer is not None:
        return ChatEntry("assistant", "", answer=message.answer)
    return ChatEntry("assistant", message.content, error=True)


def valid_session_id(session_id: str) -> bool:
    return bool(_SESSION_ID.fullmatch(session_id or ""))
