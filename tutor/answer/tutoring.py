"""Tutoring modes beyond a plain answer, offline and deterministic.

- hint: a Socratic turn. It points to the section that answers ([n] cited) and asks the student to
  finish the passage's own answer sentence, shown up to its key part. The next message is either a
  request to see the answer ("I don't know", "show me") or an attempt, which is checked against
  the hidden part of the sentence; either way the answer is then revealed, cited.
- quiz: questions on the key terms of the sections that best match a topic ("chapter 8",
  "reinforcement"): cloze items from the book's defining sentences and multiple-choice items from
  its key-term entries, whose distractors are sibling key terms of the same chapter. Every item
  carries its answer key quoted from the passage it cites.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from tutor.answer.shape import (Sentence, _term_pattern, definition_strength, needs_antecedent, passage_sentences,
                                tidy_sentence)
from tutor.text import content_stems, split_sentences
from tutor.models import Chunk, Passage, Turn

Mode = Literal["explain", "hint", "quiz"]
MODES: tuple[Mode, ...] = ("explain", "hint", "quiz")
HINT_PREFIX = "Hint:"
LETTERS = "ABCD"

_REVEAL = re.compile(r"^\s*(?:i\s+(?:don'?t|do not)\s+know|idk|no idea|(?:just\s+)?(?:tell|show|give)\s+me"
                     r"(?:\s+the\s+answer)?|(?:what(?:'s| is)\s+)?the\s+answer\??|reveal|answer|i give up|"
                     r"(?:another|more|again)(?:\s+hint)?|not sure|pass|skip)\W*$", re.IGNORECASE)


# --- hint ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Hint:
    passage: int  # 0-based passage the hint points to
    shown: str  # the part of the answer sentence shown to the student
    hidden: str  # the part the student is asked to supply
    sentence: str  # the whole answer sentence (the key)
    choice_letter: str | None = None  # a multiple-choice hint: the letter that fills the blank


def choice_hint(sentence: Sentence, text: str, choice: str, letter: str) -> Hint:
    """A multiple-choice hint: the supporting sentence with the right option blanked out."""
    plain = text.replace("**", "")
    blanked = _term_pattern(choice).sub("________", plain)
    if "________" not in blanked:
        blanked = plain
    return Hint(sentence.passage, blanked, choice, plain, letter)


def make_hint(lead: Sentence, lead_text: str, term: str | None = None) -> Hint:
    """Cut the answer sentence where its answer begins: after "term is/are/refers to", after a colon
    that opens a list, else after its first third."""
    text = lead_text.replace("**", "")
    cut = None
    if term:
        match = re.search(_term_pattern(term).pattern + r"\s*(?:\([^)]*\)\s*)?(?::|,?\s*(?:which|that)?\s*(?:is|are|was|were|"
                          r"refers? to|means|describes|occurs when|happens when)\b)", text, re.IGNORECASE)
        if match:
            cut = match.end()
    if cut is None:
        colon = text.find(":")
        if 0 < colon < len(text) - 10:
            cut = colon + 1
    if cut is None:
        words = text.split()
        keep = max(3, len(words) // 3)
        cut = len(" ".join(words[:keep]))
    shown, hidden = text[:cut].rstrip(), text[cut:].strip()
    return Hint(lead.passage, shown, hidden, text)


def hint_text(hint: Hint, heading: str) -> str:
    """The hint turn: where to look, and the sentence to finish. Cites the passage as [n]."""
    where = f"{HINT_PREFIX} look at **{heading}** [{hint.passage + 1}]."
    if hint.choice_letter:
        return (f"{where} It says: “{hint.shown}” — which option fills the blank? Reply with a letter, "
                f"or say \"show me\" to see the answer.")
    return (f"{where} The course puts it like this: “{hint.shown} …” — how would you finish that sentence? "
            f"Reply with your answer, or say \"show me\" to see it.")


def previous_hint(history: Sequence[Turn]) -> tuple[str, str] | None:
    """(the question the hint was for, the hint) when the last assistant turn was a hint."""
    for i in range(len(history) - 1, -1, -1):
        turn = history[i]
        if turn.role == "assistant":
            if not turn.content.startswith(HINT_PREFIX):
                return None
            question = next((t.content for t in reversed(history[:i]) if t.role == "user"), None)
            return (question, turn.content) if question else None
    return None


def wants_reveal(message: str) -> bool:
    return bool(_REVEAL.match(message))


@dataclass(frozen=True)
class AttemptCheck:
    correct: bool
    coverage: float  # share of the hidden part's content words the attempt contains


def check_attempt(attempt: str, hidden: str, shown: str = "", threshold: float = 0.34) -> AttemptCheck:
    """Is the student's answer what the passage says? Share of the hidden part's content words
    (those the hint did not already show) that the attempt uses; a paraphrase keeps a few."""
    wanted = set(content_stems(hidden)) - set(content_stems(shown))
    if not wanted:
        return AttemptCheck(True, 1.0)
    got = set(content_stems(attempt))
    coverage = len(wanted & got) / len(wanted)
    return AttemptCheck(coverage >= threshold, round(coverage, 3))


# --- quiz ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuizCitation:
    source: str
    section: str
    quote: str


@dataclass(frozen=True)
class QuizItem:
    question: str
    choices: list[str] | None  # None: a cloze item, answered with the term
    answer: str  # the letter for multiple choice, else the term
    citations: list[QuizCitation]
    term: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("term")
        return data


@dataclass(frozen=True)
class Quiz:
    topic: str
    items: list[QuizItem] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "items": [item.to_dict() for item in self.items]}


@dataclass(frozen=True)
class KeyTerm:
    term: str
    definition: str
    chunk: Chunk
    line: str  # the entry as the passage has it, for the quote


_GLOSSARY = re.compile(r"^\s*[-*]\s+\*\*(?P<term>[^*]{2,80})\*\*\s*:\s*(?P<definition>\S.*)$", re.MULTILINE)
_CHAPTER_TOPIC = re.compile(r"\bchapter\s+(\d+)\b", re.IGNORECASE)
_SECTION_NUMBER = re.compile(r"\b(\d+)\.(\d+)\b")


def key_terms(chunks: Sequence[Chunk]) -> list[KeyTerm]:
    found = []
    for chunk in chunks:
        for match in _GLOSSARY.finditer(chunk.text):
            found.append(KeyTerm(match.group("term").strip(), match.group("definition").strip(), chunk,
                                 match.group(0).strip()))
    return found


def chapter_of(chunk: Chunk) -> str:
    """The chapter a chunk belongs to: its front matter's chapter, else its file's number prefix."""
    chapter = chunk.metadata.get("chapter") if chunk.metadata else None
    if chapter:
        return str(chapter)
    name = chunk.source.rsplit("/", 1)[-1]
    return name.split("-", 1)[0] if "-" in name else chunk.source


def chapter_number(chunk: Chunk) -> int | None:
    match = _SECTION_NUMBER.search(chunk.title)
    if match:
        return int(match.group(1))
    name = chunk.source.rsplit("/", 1)[-1]
    prefix = name.split("-", 1)[0]
    return int(prefix) if prefix.isdigit() else None


def _stable_order(values: Sequence[str], salt: str) -> list[str]:
    return sorted(values, key=lambda v: hashlib.sha256(f"{salt}|{v}".encode()).hexdigest())


def _citation(chunk: Chunk, quote: str) -> QuizCitation:
    return QuizCitation(chunk.source, chunk.section, re.sub(r"^\s*[-*]\s+", "", quote.replace("**", "")).strip())


def build_quiz(topic: str, sources: Sequence[str], all_chunks: Sequence[Chunk], count: int = 4) -> Quiz:
    """Items on the key terms of `sources` (files, best match first), alternating multiple choice and
    cloze; distractors are other key terms of the same chapter, never a synonym of the answer."""
    terms_by_source: dict[str, list[KeyTerm]] = {}
    everything = key_terms(all_chunks)
    for entry in everything:
        terms_by_source.setdefault(entry.chunk.source, []).append(entry)
    chosen: list[KeyTerm] = []
    # Round-robin over the matched sections, so a quiz on a chapter samples each of its sections.
    queues = [list(terms_by_source.get(source, [])) for source in dict.fromkeys(sources)]
    queues = [_order_terms(q, topic) for q in queues if q]
    while len(chosen) < count and any(queues):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(queue.pop(0))
    chunks_by_source: dict[str, list[Chunk]] = {}
    for chunk in all_chunks:
        chunks_by_source.setdefault(chunk.source, []).append(chunk)
    items = []
    for i, entry in enumerate(chosen):
        siblings = [e for e in everything if chapter_of(e.chunk) == chapter_of(entry.chunk)
                    and e.term.lower() != entry.term.lower()
                    and not (set(content_stems(e.term)) & set(content_stems(entry.term)))]
        cloze = _cloze(entry, chunks_by_source.get(entry.chunk.source, [])) if i % 2 == 1 else None
        if cloze is not None:
            items.append(cloze)
        elif len(siblings) >= 3:
            items.append(_multiple_choice(entry, siblings))
        else:
            items.append(_cloze(entry, chunks_by_source.get(entry.chunk.source, [])) or _entry_cloze(entry))
    return Quiz(topic, items)


def _order_terms(entries: list[KeyTerm], topic: str) -> list[KeyTerm]:
    """Terms the topic names first, then the rest in a stable shuffled order."""
    topic_stems = set(content_stems(topic))
    shuffled = {e.term: e for e in entries}
    order = _stable_order(list(shuffled), topic)
    return sorted((shuffled[t] for t in order), key=lambda e: -len(set(content_stems(e.term)) & topic_stems))


def _multiple_choice(entry: KeyTerm, siblings: Sequence[KeyTerm]) -> QuizItem:
    distractors = _stable_order([s.term for s in siblings], entry.term)[:3]
    options = _stable_order([entry.term, *distractors], entry.definition)
    letter = LETTERS[options.index(entry.term)]
    definition = entry.definition.rstrip(".")
    return QuizItem(f"Which term means: “{definition}”?", options, letter,
                    [_citation(entry.chunk, entry.line)], entry.term)


def _cloze(entry: KeyTerm, chunks: Sequence[Chunk]) -> QuizItem | None:
    """A blank where the term stands in the book's own defining sentence."""
    pattern = _term_pattern(entry.term)
    best: tuple[float, Sentence, Chunk] | None = None
    for chunk in chunks:
        if chunk.chunk_id == entry.chunk.chunk_id and "Key terms" in chunk.section:
            continue
        for sentence in passage_sentences([Passage(chunk, 0.0)]):
            if (sentence.glossary_term or not pattern.search(sentence.text) or len(sentence.text) > 300
                    or len(sentence.text.split()) < 8 or needs_antecedent(sentence.text)):
                continue
            strength = definition_strength(sentence, entry.term)
            if strength >= 0.8 and (best is None or strength > best[0]):
                best = (strength, sentence, chunk)
    if best is None:
        return None
    _, sentence, chunk = best
    # The quote is the passage's own sentence, as written (figure pointers and all).
    quote = next((raw for raw in split_sentences(chunk.text) if tidy_sentence(raw) == sentence.text), sentence.text)
    blanked = pattern.sub("________", sentence.text, count=1)
    if "________" not in blanked:
        return None
    return QuizItem(f"Fill in the blank: {blanked}", None, entry.term, [_citation(chunk, quote)], entry.term)


def _entry_cloze(entry: KeyTerm) -> QuizItem:
    return QuizItem(f"Fill in the blank: ________ — {entry.definition}", None, entry.term,
                    [_citation(entry.chunk, entry.line)], entry.term)


def quiz_sources(topic: str, ranked_sources: Sequence[str], all_chunks: Sequence[Chunk]) -> list[str]:
    """The files a quiz draws from: every file of "chapter N", else the retrieval's best files."""
    match = _CHAPTER_TOPIC.search(topic)
    if match:
        wanted = int(match.group(1))
        files = sorted({c.source for c in all_chunks if chapter_number(c) == wanted})
        if files:
            return files
    return list(dict.fromkeys(ranked_sources))


@dataclass(frozen=True)
class Grade:
    correct: bool
    expected: str  # "B. shaping" or the term
    citation: QuizCitation


def grade(item: QuizItem, response: str) -> Grade:
    """Right or wrong: a letter (or the option's text) for multiple choice, the term for a cloze."""
    reply = response.strip()
    if item.choices:
        expected = f"{item.answer}. {item.choices[LETTERS.index(item.answer)]}"
        letter = re.match(r"^\W*([A-Da-d])\b", reply)
        if letter and (len(reply) <= 3 or re.match(r"^\W*[A-Da-d][.):]", reply)):
            return Grade(letter.group(1).upper() == item.answer, expected, item.citations[0])
        named = [LETTERS[i] for i, c in enumerate(item.choices) if _term_pattern(c).search(reply)]
        return Grade(named == [item.answer], expected, item.citations[0])
    correct = bool(_term_pattern(item.answer).search(reply)) or (
        bool(content_stems(reply)) and set(content_stems(reply)) == set(content_stems(item.answer)))
    return Grade(correct, item.answer, item.citations[0])


_QUIZ_FRAME = re.compile(r"^\s*(?:please\s+)?(?:quiz|test)\s+me\s*(?:on|about|in)?\s*(?P<topic>.*?)\s*[?.!]*\s*$",
                         re.IGNORECASE)


def quiz_request(message: str) -> str | None:
    """The topic of a "Quiz me on chapter 8" message ("" for a bare "quiz me"), else None."""
    match = _QUIZ_FRAME.match(message)
    return match.group("topic") if match else None


def quiz_topic_covered(topic: str, finder) -> bool:
    """Is the topic in the course at all: a "chapter N", or a word of it named in the index."""
    if _CHAPTER_TOPIC.search(topic):
        return True
    words = [w for w in re.findall(r"[\w’'-]{4,}", topic)]
    return finder is None or not words or any(finder.lookup(w).named for w in words)


def item_text(item: QuizItem, number: int, total: int) -> str:
    """A quiz question as the student sees it: numbered, options lettered."""
    lines = [f"Question {number} of {total}: {item.question}"]
    if item.choices:
        lines.extend(f"{LETTERS[i]}. {choice}" for i, choice in enumerate(item.choices))
    return "\n".join(lines)


@dataclass
class QuizSession:
    """A quiz being taken, one item at a time: plain data, so the app can keep it in session_state."""

    quiz: Quiz
    position: int = 0
    score: int = 0

    @property
    def done(self) -> bool:
        return self.position >= len(self.quiz.items)

    @property
    def current(self) -> QuizItem | None:
        return None if self.done else self.quiz.items[self.position]

    def prompt(self) -> str:
        item = self.current
        return item_text(item, self.position + 1, len(self.quiz.items)) if item else self.summary()

    def answer(self, reply: str) -> tuple[Grade, str]:
        """Grade the reply to the current item; returns the grade and the feedback line (right or
        wrong, the key, and the passage it is quoted from)."""
        item = self.current
        if item is None:
            raise ValueError("the quiz is over")
        result = grade(item, reply)
        self.score += result.correct
        self.position += 1
        verdict = "Right" if result.correct else f"Not quite — the answer is {result.expected}"
        where = f"{result.citation.source} — {result.citation.section}"
        return result, f"{verdict}. The course says: “{result.citation.quote}” ({where})"

    def summary(self) -> str:
        return f"Quiz finished: {self.score} of {len(self.quiz.items)} right."
