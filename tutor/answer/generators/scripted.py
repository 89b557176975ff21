"""Generator "scripted": replies queued by a test, as simonw/llm's MockModel. It stands in for an
LLM that follows the tutor's prompt, so it is chosen through the same registry as the real ones
(`TUTOR_ANSWERER=scripted`) and tests reach it as `service.generator`."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from tutor.answer.prompts import declined
from tutor.models import Passage, Turn


@dataclass
class ScriptedReply:
    pieces: list[str]  # streamed one by one, as an LLM's deltas
    error: Exception | None = None  # raised after the pieces (GenerationInterrupted, GenerationError)


@dataclass
class ScriptedGenerator:
    name: str = "scripted"
    uses_llm: bool = False  # follow-ups are condensed offline: a test scripts answers, not rewrites
    replies: deque[ScriptedReply] = field(default_factory=deque)
    seen_passages: list[Passage] = field(default_factory=list)  # what the last stream was given
    seen_questions: list[str] = field(default_factory=list)
    seen_modes: list[str] = field(default_factory=list)

    def enqueue(self, pieces: Sequence[str] | str, error: Exception | None = None) -> None:
        """Queue one reply: its text (one piece, or the deltas in order), then optionally an error."""
        self.replies.append(ScriptedReply([pieces] if isinstance(pieces, str) else list(pieces), error))

    def stream(self, question: str, passages: Sequence[Passage], history: Sequence[Turn] = (), *,
               mode: str = "explain", reply: str | None = None) -> Iterator[str]:
        self.seen_passages = list(passages)
        self.seen_modes.append(mode)
        self.seen_questions.append(question)
        if not self.replies:
            raise AssertionError("ScriptedGenerator: no reply queued (call enqueue() before asking)")
        reply = self.replies.popleft()
        yield from reply.pieces
        if reply.error:
            raise reply.error

    def declined(self, text: str) -> bool:
        return declined(text)
