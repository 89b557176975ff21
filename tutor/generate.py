"""The interface every answer generator implements (offline composer, OpenAI-compatible LLM).

A generator turns a question and numbered passages into answer text that cites them as [n], where
n is the 1-based index into `passages`. It streams: callers show text as it arrives. The answering
chain (answer.py) validates citations afterwards; generators need not.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from tutor.errors import GenerationError
from tutor.models import Passage, Turn


class GenerationInterrupted(GenerationError):
    """Generation stopped part-way (timeout, dropped stream, server error after retries).
    Text already yielded is a partial answer; the message says what happened, for the reader."""


class Generator(Protocol):
    name: str  # "offline" or the model name; shown discreetly in the UI

    def stream(self, question: str, passages: Sequence[Passage], history: Sequence[Turn] = ()) -> Iterator[str]:
        """Yield pieces of the answer text. Raise GenerationInterrupted (after yielding what there
        was) when the answer could not be finished, GenerationError when nothing could be produced."""
        ...
