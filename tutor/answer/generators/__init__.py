"""Answer generators and the registry that chooses one from the settings.

A generator turns a question and numbered passages into answer text that cites them as [n], where
n is the 1-based index into `passages`. It streams: callers show text as it arrives. The graph's
validate step checks citations afterwards; generators need not. Teaching modes (explain, hint,
quiz) are further generators registered here, or nodes in `tutor/answer/graph.py`.

`TUTOR_ANSWERER` picks one by name (`offline`, `openai`, `scripted`); unset, it is `openai` when an
API key is configured, else `offline` — like simonw/llm, the test double is registered and chosen
by the same path as the real ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

from tutor.errors import ConfigurationError
from tutor.models import Passage, Turn

if TYPE_CHECKING:
    from tutor.retrieve import QueryEmbeddingCache
    from tutor.settings import Settings


class Generator(Protocol):
    name: str  # "offline", "scripted" or the model name; shown discreetly in the UI
    uses_llm: bool  # True: it follows the LLM prompt, so follow-ups are condensed by the same endpoint

    def stream(self, question: str, passages: Sequence[Passage], history: Sequence[Turn] = (), *,
               mode: str = "explain", reply: str | None = None) -> Iterator[str]:
        """Yield pieces of the answer text, for the tutoring mode ("explain" or "hint"; `reply` is the
        student's answer to a previous hint). Raise GenerationInterrupted (after yielding what there
        was) when the answer could not be finished, GenerationError when nothing could be produced."""
        ...

    def declined(self, text: str) -> bool:
        """True when `text` is this generator's way of saying the passages do not answer."""
        ...


def _offline(settings: Settings, queries: QueryEmbeddingCache) -> Generator:
    from tutor.answer.generators.offline import OfflineComposer

    return OfflineComposer(queries)


def _openai(settings: Settings, queries: QueryEmbeddingCache) -> Generator:
    from tutor.answer.generators.openai import OpenAICompatibleGenerator  # langchain-openai: only when chosen

    return OpenAICompatibleGenerator(settings)


def _scripted(settings: Settings, queries: QueryEmbeddingCache) -> Generator:
    from tutor.answer.generators.scripted import ScriptedGenerator

    return ScriptedGenerator()


# name → factory. A new answerer is one entry here and one module beside this one.
ANSWERERS: dict[str, Callable[[Settings, QueryEmbeddingCache], Generator]] = {
    "offline": _offline,
    "openai": _openai,
    "scripted": _scripted,
}


def answerer_name(settings: Settings) -> str:
    """The answerer the settings ask for: TUTOR_ANSWERER, else openai with a key, else offline."""
    if settings.answerer:
        return settings.answerer
    return "openai" if settings.openai_api_key else "offline"


def build_generator(settings: Settings, queries: QueryEmbeddingCache) -> Generator:
    name = answerer_name(settings)
    try:
        factory = ANSWERERS[name]
    except KeyError:
        raise ConfigurationError(f"TUTOR_ANSWERER={name!r} is not an answerer; use one of "
                                 f"{', '.join(sorted(ANSWERERS))}") from None
    if name == "openai" and not settings.openai_api_key:
        raise ConfigurationError("TUTOR_ANSWERER=openai needs OPENAI_API_KEY (any value for a local server)")
    return factory(settings, queries)
