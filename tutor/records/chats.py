"""Saved chats: a student's conversations kept under their pseudonymous browser session id, to list,
reopen and forget. Every call takes the session id, and a chat is only ever reached through the session
that owns it (an id guessed from another session finds nothing).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import delete, func, insert, select, update

from tutor.errors import ChatNotFound
from tutor.models import Answer, Chunk, Citation, Passage
from tutor.records import schema
from tutor.records.database import Database

TITLE_CHARS = 80


@dataclass(frozen=True)
class ChatMessage:
    role: Literal["user", "assistant"]
    content: str
    answer: Answer | None = None  # an assistant message's typed answer, reopened as it was shown


@dataclass(frozen=True)
class ChatSummary:
    id: str
    title: str
    created_at: str
    updated_at: str
    messages: int


@dataclass(frozen=True)
class SavedChat:
    id: str
    title: str
    created_at: str
    updated_at: str
    messages: list[ChatMessage]


class SavedChats:
    def __init__(self, database: Database) -> None:
        self.database = database

    def create(self, session_id: str, title: str = "") -> str:
        """A new, empty chat for the session; returns its id."""
        chat_id, now = uuid.uuid4().hex, self.database.now()
        with self.database.transaction() as conn:
            conn.execute(insert(schema.chats).values(id=chat_id, session_id=session_id, title=_title(title),
                                                     created_at=now, updated_at=now))
        return chat_id

    def append(self, session_id: str, chat_id: str, messages: Sequence[ChatMessage]) -> None:
        """Add messages at the end of a chat (untitled chats take their first question as title)."""
        now = self.database.now()
        m = schema.chat_messages
        with self.database.transaction() as conn:
            title = self._owned(conn, session_id, chat_id)
            start = conn.execute(select(func.coalesce(func.max(m.c.position), -1)).where(
                m.c.chat_id == chat_id)).scalar_one() + 1
            if messages:
                conn.execute(insert(m), [_message_row(chat_id, start + i, message, now)
                                         for i, message in enumerate(messages)])
            values: dict[str, Any] = {"updated_at": now}
            first_question = next((msg.content for msg in messages if msg.role == "user"), "")
            if not title and first_question:
                values["title"] = _title(first_question)
            conn.execute(update(schema.chats).where(schema.chats.c.id == chat_id).values(**values))

    def save(self, session_id: str, messages: Sequence[ChatMessage], chat_id: str | None = None,
             title: str = "") -> str:
        """Write a whole conversation: a new chat when `chat_id` is None, else replace that chat's messages.
        Returns the chat id."""
        if chat_id is None:
            chat_id = self.create(session_id, title)
        else:
            with self.database.transaction() as conn:
                self._owned(conn, session_id, chat_id)
                conn.execute(delete(schema.chat_messages).where(schema.chat_messages.c.chat_id == chat_id))
                if title:
                    conn.execute(update(schema.chats).where(schema.chats.c.id == chat_id).values(title=_title(title)))
        self.append(session_id, chat_id, messages)
        return chat_id

    def list(self, session_id: str) -> list[ChatSummary]:
        """The session's chats, most recently changed first."""
        c, m = schema.chats, schema.chat_messages
        count = func.count(m.c.position)
        query = (select(c.c.id, c.c.title, c.c.created_at, c.c.updated_at, count)
                 .select_from(c.outerjoin(m, m.c.chat_id == c.c.id)).where(c.c.session_id == session_id)
                 .group_by(c.c.id, c.c.title, c.c.created_at, c.c.updated_at)
                 .order_by(c.c.updated_at.desc(), c.c.created_at.desc(), c.c.id))
        with self.database.transaction() as conn:
            return [ChatSummary(id, title, created, updated, int(n)) for id, title, created, updated, n
                    in conn.execute(query)]

    def load(self, session_id: str, chat_id: str) -> SavedChat | None:
        """The chat with its messages in order, or None if this session has no such chat."""
        c, m = schema.chats, schema.chat_messages
        with self.database.transaction() as conn:
            chat = conn.execute(select(c).where(c.c.id == chat_id, c.c.session_id == session_id)).mappings().first()
            if chat is None:
                return None
            rows = conn.execute(select(m).where(m.c.chat_id == chat_id).order_by(m.c.position)).mappings().all()
        messages = [ChatMessage(row["role"], row["content"], answer_from_dict(row["answer"]) if row["answer"] else None)
                    for row in rows]
        return SavedChat(chat["id"], chat["title"], chat["created_at"], chat["updated_at"], messages)

    def rename(self, session_id: str, chat_id: str, title: str) -> None:
        with self.database.transaction() as conn:
            self._owned(conn, session_id, chat_id)
            conn.execute(update(schema.chats).where(schema.chats.c.id == chat_id).values(title=_title(title)))

    def forget(self, session_id: str, chat_id: str) -> bool:
        """Delete one chat and its messages; False if this session had no such chat."""
        c = schema.chats
        with self.database.transaction() as conn:
            owned = conn.execute(select(c.c.id).where(c.c.id == chat_id, c.c.session_id == session_id)).first()
            if owned is None:
                return False
            conn.execute(delete(schema.chat_messages).where(schema.chat_messages.c.chat_id == chat_id))
            conn.execute(delete(c).where(c.c.id == chat_id))
        return True

    def forget_session(self, session_id: str) -> int:
        """Delete every chat of the session; returns how many there were."""
        c = schema.chats
        with self.database.transaction() as conn:
            owned = select(c.c.id).where(c.c.session_id == session_id)
            conn.execute(delete(schema.chat_messages).where(schema.chat_messages.c.chat_id.in_(owned)))
            return int(conn.execute(delete(c).where(c.c.session_id == session_id)).rowcount)

    def _owned(self, conn, session_id: str, chat_id: str) -> str:
        """The chat's title; ChatNotFound unless the chat belongs to the session."""
        c = schema.chats
        title = conn.execute(select(c.c.title).where(c.c.id == chat_id, c.c.session_id == session_id)).first()
        if title is None:
            raise ChatNotFound(f"No saved chat {chat_id} in this session.")
        return title[0]


def answer_from_dict(data: dict[str, Any]) -> Answer:
    """Rebuild the typed Answer from `Answer.to_dict()` (what a saved chat stores)."""
    chunk_fields = ("chunk_id", "text", "source", "title", "section", "position", "metadata")
    passages = [Passage(chunk=Chunk(**{k: p[k] for k in chunk_fields if k in p}), score=p.get("score", 0.0),
                        dense_score=p.get("dense_score"), lexical_score=p.get("lexical_score"))
                for p in data.get("passages", [])]
    return Answer(question=data["question"], text=data["answer"],
                  citations=[Citation(**c) for c in data.get("citations", [])], passages=passages,
                  refused=data.get("refused", False), refusal_reason=data.get("refusal_reason"),
                  incomplete=data.get("incomplete", False), error=data.get("error"),
                  uncited_sentences=list(data.get("uncited_sentences", [])),
                  weak_citations=list(data.get("weak_citations", [])),
                  unsupported_sentences=list(data.get("unsupported_sentences", [])),
                  standalone_question=data.get("standalone_question"), mode=data.get("mode", "offline"))


def _message_row(chat_id: str, position: int, message: ChatMessage, now: str) -> dict[str, Any]:
    return {"chat_id": chat_id, "position": position, "role": message.role, "content": message.content,
            "answer": message.answer.to_dict() if message.answer is not None else None, "created_at": now}


def _title(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= TITLE_CHARS else text[:TITLE_CHARS - 1].rstrip() + "…"
