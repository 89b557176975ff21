"""Follow-up questions become standalone questions before retrieval: "and what about the second
one?" means nothing to a search engine; "what about operant conditioning?" does.

Offline the rewrite is deterministic: an ordinal ("the second one") picks the item of that rank
from the previous answer's list (numbered or bulleted lines, bold terms) or from a list in the
previous question; a pronoun ("why does that happen?") is replaced by the topic of the previous
question. With an LLM configured, the model rewrites instead (tutor.llm.condense_with_llm).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tutor.compose import CITATION, content_stems
from tutor.models import Turn

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
_CITATION = re.compile(r"\s*" + CITATION.pattern)  # with the space before it
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
    text = _CITATION.sub("", question).strip().rstrip("?.! ")
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
    text = _CITATION.sub("", text)
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
