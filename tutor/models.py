"""Typed objects that flow through the pipeline. Citations are data from ingest on: every chunk
carries its source file, title, section path and a stable id, and answers refer to chunks by id."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Chunk:
    """A passage of a course document, as indexed."""

    chunk_id: str  # stable: derived from source + section + text, so citations survive unrelated edits
    text: str
    source: str  # file path relative to the corpus root, e.g. "psychology-2e/08-1-how-memory-functions.md"
    title: str
    section: str  # heading path, e.g. "How Memory Functions › Encoding"
    position: int  # order of the chunk within its document
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def heading(self) -> str:
        """What a reader sees above the passage: the section path, or the title when there is none."""
        return self.section or self.title


@dataclass(frozen=True)
class Passage:
    """A chunk retrieved for a question, with the scores that ranked it."""

    chunk: Chunk
    score: float  # fused score used for ranking (higher is better)
    dense_score: float | None = None  # cosine similarity to the question, if dense retrieval saw it
    lexical_score: float | None = None  # BM25 score, if lexical retrieval saw it

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self.chunk)
        data.update(score=self.score, dense_score=self.dense_score, lexical_score=self.lexical_score)
        return data


@dataclass(frozen=True)
class Citation:
    """A numbered reference from an answer to one retrieved passage."""

    n: int  # the number shown in the answer, as [n]
    chunk_id: str
    source: str
    title: str
    section: str
    quote: str  # the sentence(s) of the passage the answer relies on

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Answer:
    """What the tutor says to one question. The CLI and UI only render this."""

    question: str
    text: str
    citations: list[Citation]
    passages: list[Passage]  # everything retrieved for the question, in rank order
    refused: bool = False  # True: the course materials do not answer the question
    refusal_reason: str | None = None
    incomplete: bool = False  # True: generation stopped early (timeout, dropped stream)
    error: str | None = None  # a message for the reader when something went wrong
    uncited_sentences: list[str] = field(default_factory=list)  # LLM sentences that cite nothing
    # Citations whose passage shares too little with every sentence citing it (by number), and the
    # sentences that cite something yet are supported by none of their citations.
    weak_citations: list[int] = field(default_factory=list)
    unsupported_sentences: list[str] = field(default_factory=list)
    standalone_question: str | None = None  # the follow-up rewritten with the chat history
    mode: str = "offline"  # "offline" or the LLM model name

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "refused": self.refused,
            "refusal_reason": self.refusal_reason,
            "incomplete": self.incomplete,
            "error": self.error,
            "uncited_sentences": self.uncited_sentences,
            "weak_citations": self.weak_citations,
            "unsupported_sentences": self.unsupported_sentences,
            "standalone_question": self.standalone_question,
            "mode": self.mode,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict() for p in self.passages],
        }


@dataclass(frozen=True)
class Turn:
    """One message of a conversation, as the chat history the condenser sees."""

    role: str  # "user" or "assistant"
    content: str
