"""Follow-up questions become standalone questions before retrieval: "and what about the second
one?" means nothing to a search engine; "what about operant conditioning?" does.

Offline the rewrite is deterministic: an ordinal ("the second one") picks the item of that rank
from the previous answer's list (numbered or bulleted lines, bold terms) or from a list in the
previous question; a pronoun ("why does that happen?") is replaced by the topic of the previous
question. With an LLM answerer, the same endpoint rewrites instead (`LLMCondenser`), falling back
to the deterministic rewrite. The condenser is chosen once, with the generator (`choose_condenser`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from tutor.models import Turn
from tutor.text import CITATION, content_stems, strip_citations

if TYPE_CHECKING:
    from tutor.answer.generators import Generator
    from tutor.settings import Settings

logger = logging.getLogger(__name__)

# Condensing is a small side step: it gets less time and no retries, and falls back to the question.
CONDENSE_TIMEOUT = 10.0
CONDENSE_MAX_TOKENS = 120


class Condenser(Protocol):
    def condense(self, history: Sequence[Turn], question: str) -> str:
        """`question` as a standalone question, given the conversation so far (oldest turn first)."""
        ...


class OfflineCondenser:
    """The deterministic rewrite: ordinals and pronouns resolved from the previous turns."""

    def condense(self, history: Sequence[Turn], question: str) -> str:
        return condense_offline(history, question)


class LLMCondenser:
    """The model rewrites the follow-up; any failure (unreachable endpoint, an answer instead of a
    question) falls back to the offline rewrite: retrieval still works, just less precisely."""

    def __init__(self, settings: Settings, fallback: Condenser | None = None) -> None:
        from tutor.answer.generators.openai import chat_model  # langchain-openai: only when chosen

        self.fallback = fallback or OfflineCondenser()
        self._model = chat_model(settings, streaming=False, max_tokens=CONDENSE_MAX_TOKENS,
                                 timeout=min(settings.llm_timeout, CONDENSE_TIMEOUT))

    def condense(self, history: Sequence[Turn], question: str) -> str:
        if not history or not question.strip():
            return question
        from tutor.answer.prompts import condense_messages

        try:
            rewritten = standalone_question(self._model.invoke(condense_messages(history, question)).content,
                                            question)
        except Exception as exc:  # an unreachable or confused endpoint must not block the answer
            logger.info("condensing the follow-up failed (%s); using it as asked", type(exc).__name__)
            rewritten = None
        return self.fallback.condense(history, question) if rewritten is None else rewritten


def choose_condenser(settings: Settings, generator: Generator) -> Condenser:
    """The LLM rewrites follow-ups when it also writes the answers; otherwise the offline rewrite."""
    return LLMCondenser(settings) if generator.uses_llm else OfflineCondenser()


def standalone_question(reply: object, question: str) -> str | None:
    """The model's rewrite, or None when the reply is not a plausible question."""
    if not isinstance(reply, str):
        return None
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    if not lines:
        return None
    rewritten = lines[0].removeprefix("Standalone question:").strip().strip('"“”').strip()
    # A long or cited reply is an answer, not a rewritten question.
    if not rewritten or len(rewritten) > max(300, 3 * len(question)) or CITATION.search(rewritten):
        return None
    return rewritten

_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
             "eighth": 8, "ninth": 9, "tenth": 10, "1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "5th": 5,
             "last": -1, "latter": -1, "former": 1}
_ORDINAL_REF = re.compile(
    r"\bthe\s+(" + "|".join(_ORDINALS) + r")(\s+(one|item|point|type|kind|step|stage|example|option|part))?\b",
    re.IGNORECASE)
_PRONOUN_REF = re.compile(r"\b(it|that|this|they|them|those|these|its|their)\b", re.IGNORECASE)
_FOLLOW_UP_START = re.compile(r"^\s*(and|also|what about|how about)\b", re.IGNORECASE)
# Words of asking, not of topic: "can you explain why it happens" still refers back.
_REQUEST_WORDS = frozenset(content_stems("explain describe tell give show list define summarize summarise compare "
                                         "example examples mean meaning happen happens work works more detail"))
_QUESTION_FRAME = re.compile(
    r"^\s*(can you |could you |please )?(tell me |explain |describe |define )?(about )?"
    r"(what|who|which|how|why|when|where)?\s*(is|are|was|were|does|do|did|can|could)?\s*(the |a |an )?",
    re.IGNORECASE)
_NUMBERED_LINE = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+(.+)$", re.MULTILINE)
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CONTEXT_TURNS = 8  # how far back a chain of follow-ups is followed
_SERIES = re.compile(r"([^,:;]+(?:,\s*[^,:;]+)+,?\s+(?:and|or)\s+[^,.;?]+)")


def is_follow_up(question: str, history: Sequence[Turn]) -> bool:
    """A question that leans on the conversation: it continues ("and ...", "what about ..."),
    or it names an item by rank or refers back with a pronoun before naming any topic itself."""
    if not any(turn.role == "user" for turn in history):
        return False
    return bool(_ORDINAL_REF.search(question) or _FOLLOW_UP_START.match(question) or _dangling_pronoun(question))


def _dangling_pronoun(question: str) -> re.Match[str] | None:
    """The first pronoun, if no topic word comes before it ("why does it happen?"); in "what is
    the hippocampus and what does it do?" the pronoun has its antecedent in the question."""
    pronoun = _PRONOUN_REF.search(question)
    if pronoun and not (content_stems(question[:pronoun.start()]) - _REQUEST_WORDS):
        return pronoun
    return None


def condense_offline(history: Sequence[Turn], question: str) -> str:
    """A standalone version of `question`, given the conversation so far (oldest turn first)."""
    if not is_follow_up(question, history):
        return question.strip()
    last_user = max(i for i, turn in enumerate(history) if turn.role == "user")
    # The previous question may itself have been a follow-up: its standalone form names the topic.
    earlier = history[max(0, last_user - _CONTEXT_TURNS):last_user]
    previous_question = condense_offline(earlier, history[last_user].content)
    previous_answer = next((t.content for t in reversed(history) if t.role == "assistant"), "")
    topic = question_topic(previous_question)

    ordinal = _ORDINAL_REF.search(question)
    if ordinal:
        items = list_items(previous_answer) or list_items(previous_question)
        n = _ORDINALS[ordinal.group(1).lower()]
        if items and (n == -1 or n <= len(items)):
            item = items[n - 1] if n > 0 else items[-1]
            rewritten = question[:ordinal.start()] + item + question[ordinal.end():]
            return _tidy(rewritten)

    if topic:
        pronoun = _dangling_pronoun(question)
        if pronoun:
            replacement = f"{topic}'s" if pronoun.group(1).lower() in ("its", "their") else topic
            return _tidy(question[:pronoun.start()] + replacement + question[pronoun.end():])
        return _tidy(f"{question.rstrip(' ?')} ({topic})?")
    return question.strip()


def question_topic(question: str) -> str:
    """What a question is about, without its question frame: "What is the serial position
    effect?" → "the serial position effect"."""
    text = strip_citations(question).rstrip("?.! ")
    match = _QUESTION_FRAME.match(text)
    rest = text[match.end():] if match else text
    article = (match.group(6) or "") if match else ""
    # "what the serial position effect is" → drop the verb left dangling at the end.
    rest = re.sub(r"\s+(is|are|was|were|means?|works?|do|does|happens?|occurs?|matters?)$", "", rest,
                  flags=re.IGNORECASE)
    return f"{article}{rest}".strip()


def list_items(text: str) -> list[str]:
    """The items of the first list in a text: numbered or bulleted lines, else bold terms, else a
    written series ("A, B, and C")."""
    text = strip_citations(text)
    lines = [_item_name(m.group(1)) for m in _NUMBERED_LINE.finditer(text)]
    lines = [line for line in lines if line]
    if len(lines) >= 2:
        return lines
    bold = list(dict.fromkeys(m.group(1).strip(" :") for m in _BOLD.finditer(text)))
    if len(bold) >= 2:
        return bold
    series = _SERIES.search(text)
    if series:
        parts = re.split(r",\s*(?:and\s+|or\s+)?|\s+(?:and|or)\s+", series.group(1))
        parts = [p.strip() for p in parts if p.strip()]
        # The first element carries the words leading into the list ("three types are A"): keep its tail.
        if parts:
            parts[0] = " ".join(parts[0].split()[-3:]) if len(parts[0].split()) > 3 else parts[0]
        return parts
    return []


def _item_name(line: str) -> str:
    """A list line's name: "**Encoding**: putting information in" → "Encoding"."""
    line = line.strip()
    bold = _BOLD.match(line)
    if bold:
        return bold.group(1).strip(" :")
    head = re.split(r"[:—–]|\s-\s|\.\s", line, maxsplit=1)[0]
    return head.strip(" *") if len(head.split()) <= 6 else ""


def _tidy(text: str) -> str:
    text = re.sub(r"^\s*(and|but|so|also|then)\s+", "", text.strip(), flags=re.IGNORECASE)
    text = re.sub(r"\s+", " ", text)
    return text[:1].upper() + text[1:]
