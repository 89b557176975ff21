"""Starter questions for an empty chat, drawn from the indexed course itself.

A student facing a blank box does not know what the tutor covers. Section headings say it: each
becomes a question ("Encoding" -> "What is encoding?"), a document titled with a question is used as
it stands, and the picks are spread across documents so the suggestions show the breadth of the course.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from tutor.chunking import SECTION_SEPARATOR
from tutor.models import Chunk

# Headings that organise a chapter rather than name a topic a student would ask about.
_GENERIC = re.compile(
    r"^(summary|key terms|introduction|overview|references|review questions|critical thinking questions|"
    r"personal application questions|learning objectives|exercises|glossary|figure.*|table.*|page \d+|"
    r"chapter \d+.*|conclusion|further reading|notes?)$",
    re.IGNORECASE,
)
_QUESTION_WORDS = {"how", "what", "why", "when", "where", "who", "which", "can", "do", "does", "is", "are", "should"}
_PREPOSITIONS = {"in", "of", "for", "with", "over", "on", "to", "about", "between", "during", "from", "by"}
_MAX_HEADING_CHARS = 70


def starter_questions(chunks: Sequence[Chunk], limit: int = 4) -> list[str]:
    """Up to `limit` questions, at most one per document, spread evenly over the documents."""
    lowercase_words = _lowercase_vocabulary(chunks)
    per_document: dict[str, dict[str, int]] = {}
    for chunk in chunks:
        candidates = per_document.setdefault(chunk.source, {})
        for question in _candidates(chunk, lowercase_words):
            # More text under a heading means the tutor has more to answer it with.
            candidates[question] = candidates.get(question, 0) + len(chunk.text)
    best = [max(c.items(), key=lambda item: (item[1], item[0]))[0]
            for _, c in sorted(per_document.items()) if c]
    if len(best) <= limit:
        return best
    step = len(best) / limit
    return [best[int(i * step)] for i in range(limit)]


def _candidates(chunk: Chunk, lowercase_words: set[str]) -> list[str]:
    found: list[str] = []
    # "Learning 6.1 — What Is Learning?": the question is the part after the chapter label.
    title = re.split(r"\s[—–:-]\s", " ".join(chunk.title.split()))[-1]
    if title.endswith("?") and len(title) <= 2 * _MAX_HEADING_CHARS:
        found.append(question_from_heading(title, lowercase_words))
    heading = chunk.section.split(SECTION_SEPARATOR)[-1].strip() if chunk.section else ""
    if heading and len(heading) <= _MAX_HEADING_CHARS and not _GENERIC.match(heading):
        found.append(question_from_heading(heading, lowercase_words))
    return found


def question_from_heading(heading: str, lowercase_words: set[str] | None = None) -> str:
    """'Reinforcement Schedules' -> 'What are reinforcement schedules?'."""
    heading = heading.strip().rstrip(".:;!?")
    words = heading.split()
    if words and words[0].lower() in _QUESTION_WORDS:
        return " ".join([words[0], *(_sentence_case(w, lowercase_words) for w in words[1:])]) + "?"
    phrase = " ".join(_sentence_case(w, lowercase_words) for w in words)
    if " and " in f" {phrase} " or "," in phrase:
        return f"What should I know about {phrase}?"
    return f"What {'are' if _looks_plural(_head_noun(words)) else 'is'} {phrase}?"


def _sentence_case(word: str, lowercase_words: set[str] | None) -> str:
    """Title-case words become lowercase unless the course never writes them so (names: 'Pavlov')."""
    if not (word[:1].isupper() and word[1:] == word[1:].lower()):
        return word  # 'DNA', 'iPhone', already lowercase
    lowered = word.lower()
    core = re.sub(r"\W+$", "", lowered)
    if lowercase_words is None or core in lowercase_words or core.split("-")[0] in lowercase_words:
        return lowered
    return word


def _head_noun(words: list[str]) -> str:
    """The noun a heading is about: the word before its first preposition ('Steps in the ...')."""
    for before, word in zip(words, words[1:]):
        if word.lower() in _PREPOSITIONS:
            return before
    return words[-1]


def _looks_plural(word: str) -> bool:
    word = word.lower().strip(")")
    return word.endswith("s") and not word.endswith(("ss", "us", "is", "sis", "ics"))


def _lowercase_vocabulary(chunks: Sequence[Chunk]) -> set[str]:
    words: set[str] = set()
    for chunk in chunks:
        words.update(re.findall(r"\b[a-z][a-z'-]*\b", chunk.text))
    return words
