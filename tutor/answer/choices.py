"""A pasted multiple-choice item: which option the passages support, by which sentence, and why
the runner-up is wrong when the passages say so.

Each option is read as the claim it makes (the stem with its blank filled in). An option's support
is its best passage sentence: one that names the option (its content words, stemmed) and says what
the stem says (MiniLM cosine to the claim, plus the share of the stem's words it shares). A key-term
entry ("shaping: rewarding successive approximations…") that names the option and matches the stem
is the strongest evidence the book has. When the two best options are too close, nothing is chosen:
the answer says so rather than guess.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from tutor.answer.shape import Sentence, Similarity, definition_strength
from tutor.text import BLANK, content_stems, option_statement

LETTERS = "ABCDEFGHIJ"
# "Which of the following is not…", "All of the following … except", "…EXCEPT": the odd one out is
# asked for. The "not" has to belong to the question's own verb ("Which … was not", "Which … did the
# North not do"): one inside a clause about the options ("Which is the reason meats do not spoil",
# "a germicide that cannot kill spores") asks for the supported option as usual.
_EMPHASISED = re.compile(r"\bNOT\b|\bEXCEPT\b")
_ALL_EXCEPT = re.compile(r"\b(?:all|each)\b[^?]*\bexcept\b|\bexcept\s+(?:for\s+)?which\b", re.IGNORECASE)
_QUESTION_WORDS = {"which", "what", "who"}
_AUXILIARIES = {"is", "are", "was", "were", "do", "does", "did", "can", "could", "would", "should", "will",
                "might", "may", "has", "have", "had"}
# Words that open a clause of their own: a "not" after them is not the question's.
_CLAUSE_WORDS = {"that", "which", "who", "whom", "whose", "where", "when", "why", "how", "because", "if"}
_NEGATIONS = {"not", "least", "never"}
_CLAUSE_ENDS = {"?", ".", ";", ":"}
_BOTH = re.compile(r"^\s*(?:both|all)\s+(?:of\s+)?(?:(?P<a>[a-d])\s+and\s+(?P<b>[a-d])|the\s+above)\s*$", re.IGNORECASE)
_NEITHER = re.compile(r"^\s*(?:neither|none)\b", re.IGNORECASE)
_ORDINALS = ("first", "second", "third", "fourth", "fifth")
_ORDINAL = re.compile(r"\b(first|second|third|fourth|fifth|last|final)\s+(?:step|stage|phase|part|element)\b", re.IGNORECASE)
_PERSON = re.compile(r"^(?:(?:Sir|Dr\.?)\s+)?(?:[A-Z][a-z’'-]+|[A-Z]\.)(?:\s+(?:[A-Z][a-z’'-]+|[A-Z]\.)){1,3}$")
_NUMBER = re.compile(r"\b\d+(?:[.,]\d+)?\b")


def is_negated(stem: str) -> bool:
    """Whether the stem asks for the option the passages do not support ("Which is not…")."""
    if _EMPHASISED.search(stem) or _ALL_EXCEPT.search(stem):
        return True
    words = re.findall(r"[\w’'-]+|[?.;:,]", stem.lower())
    since_boundary = 0
    for start, word in enumerate(words):
        since_boundary = 0 if word in _CLAUSE_ENDS or word == "," else since_boundary + 1
        # The question's own word opens its clause ("Which…", "During which…", "Of these, who…");
        # one further in ("an interaction in which one population…") begins a relative clause.
        if word not in _QUESTION_WORDS or since_boundary > 2:
            continue
        # The first auxiliary after the question word is the question's verb: its negation follows
        # within three words ("was not", "did the North not do").
        for i in range(start + 1, len(words)):
            later = words[i]
            if later in _CLAUSE_ENDS or later in _CLAUSE_WORDS:
                break
            if later.endswith(("n't", "n’t")) or later == "cannot":
                return True
            if later in _AUXILIARIES:
                if any(w in _NEGATIONS for w in words[i + 1:i + 5]):
                    return True
                break
    return False


def _stems(text: str) -> set[str]:
    """Content stems with hyphenated words split ("amphetamine-like") and numbers kept ("100")."""
    return set(content_stems(text.replace("-", " "))) | set(_NUMBER.findall(text))


@dataclass(frozen=True)
class OptionSupport:
    letter: str
    choice: str
    score: float
    sentence: Sentence | None  # the sentence that supports it best


@dataclass(frozen=True)
class ChoicePick:
    """The chosen option (None when the passages do not settle it) and every option's support."""

    chosen: OptionSupport | None
    runner_up: OptionSupport | None
    options: list[OptionSupport]
    negated: bool  # "Which is NOT…": the least supported option is the answer


class OptionPicker:
    def __init__(self, similarity: Similarity, *, margin: float = 0.02, mention_floor: float = 0.5,
                 stem_weight: float = 0.3, mention_weight: float = 0.3, glossary_bonus: float = 0.15,
                 both_bonus: float = 0.15, rank_prior: float = 0.02, cite_margin: float = 0.1) -> None:
        # Support from a passage retrieval ranked higher counts slightly more (as in the shaper).
        self.rank_prior = rank_prior
        # The sentence cited for an option: among those backing it within this much of its best
        # support, the one from the highest-ranked passage. Retrieval's first passage is the section
        # the question is most likely about, and the student reads that one first.
        self.cite_margin = cite_margin
        self.both_bonus = both_bonus
        self.similarity = similarity
        self.margin = margin
        self.mention_floor = mention_floor
        self.stem_weight = stem_weight
        self.mention_weight = mention_weight
        self.glossary_bonus = glossary_bonus

    def pick(self, stem: str, choices: Sequence[str], sentences: Sequence[Sentence]) -> ChoicePick:
        stem_stems = _stems(BLANK.sub(" ", stem))
        sentence_stems = [_stems(s.text) for s in sentences]
        # What the stem asks is often said in the next sentence ("According to Bandura, learning can
        # occur by watching others… This is known as observational learning."): the stem's words are
        # looked for in a sentence and the one after it.
        by_key = {s.key: i for i, s in enumerate(sentences)}
        context_stems = [stems | sentence_stems[by_key[(s.passage, s.position + 1)]]
                         if (s.passage, s.position + 1) in by_key else stems
                         for s, stems in zip(sentences, sentence_stems)]
        # Rare words weigh more: "amphetamine" says more about a sentence than "common treatment".
        df: dict[str, int] = {}
        for stems in sentence_stems:
            for t in stems:
                df[t] = df.get(t, 0) + 1
        n = len(sentences) or 1

        def weight(t: str) -> float:
            return math.log(1 + n / (1 + df.get(t, 0)))

        stem_weight_total = sum(weight(t) for t in stem_stems) or 1.0
        # Words every option shares ("stimulus" in "neutral/conditioned/unconditioned stimulus") tell
        # them apart no better than the stem does: an option is named by its own words.
        stem_sets = [_stems(c) for c in choices]
        shared = set.intersection(*stem_sets) if len(stem_sets) > 1 else set()
        options: list[OptionSupport] = []
        for letter, choice, own in zip(LETTERS, choices, stem_sets):
            option_stems = (own - stem_stems - shared) or (own - shared) or own
            if _PERSON.match(choice):
                # A person is named by the surname: "Bandura" names "Albert Bandura".
                option_stems = _stems(choice.split()[-1]) or option_stems
            if _BOTH.match(choice) or _NEITHER.match(choice) or not option_stems:
                options.append(OptionSupport(letter, choice, 0.0, None))
                continue
            naming = [i for i, stems in enumerate(sentence_stems)
                      if len(option_stems & stems) / len(option_stems) >= self.mention_floor]
            if not naming:
                options.append(OptionSupport(letter, choice, 0.0, None))
                continue
            cosines = self.similarity(option_statement(stem, choice), [sentences[i].text for i in naming])
            support: dict[int, float] = {}  # sentence → how well it backs this option
            for i, cosine in zip(naming, cosines):
                stems = sentence_stems[i]
                mention = len(option_stems & stems) / len(option_stems)
                stem_share = sum(weight(t) for t in stem_stems & context_stems[i]) / stem_weight_total
                score = (float(cosine) + self.mention_weight * mention + self.stem_weight * stem_share
                         - self.rank_prior * sentences[i].passage)
                if sentences[i].glossary_term and definition_strength(sentences[i], choice) == 1.0:
                    score += self.glossary_bonus  # the book's own definition of this very option
                support[i] = score
            best = max(support.values())
            cited = min((i for i, score in support.items() if score >= best - self.cite_margin),
                        key=lambda i: (sentences[i].passage, -support[i]))
            options.append(OptionSupport(letter, choice, round(best, 4), sentences[cited]))
        options = self._combined(choices, options)
        ordered = self._by_order(choices, sentences) or self._by_ordinal(stem, choices, sentences)
        if ordered is not None:
            options = [OptionSupport(o.letter, o.choice, o.score + (1.0 if o.letter == ordered[0] else 0.0),
                                     ordered[1] if o.letter == ordered[0] else o.sentence) for o in options]
        negated = is_negated(stem)
        # "Which is NOT…": the least supported option is the odd one out.
        ranked = sorted(options, key=lambda o: o.score, reverse=not negated)
        chosen = ranked[0] if ranked else None
        runner_up = ranked[1] if len(ranked) > 1 else None
        if chosen is None or (not negated and chosen.sentence is None):
            return ChoicePick(None, runner_up, options, negated)
        if runner_up is not None and abs(chosen.score - runner_up.score) < self.margin:
            return ChoicePick(None, runner_up, options, negated)
        return ChoicePick(chosen, runner_up, options, negated)

    def _combined(self, choices: Sequence[str], options: list[OptionSupport]) -> list[OptionSupport]:
        """"both a and b" / "all of the above": as strong as its weakest part, plus a bonus, so it wins
        when the options it names are about equally supported."""
        result = list(options)
        for index, choice in enumerate(choices):
            match = _BOTH.match(choice)
            if not match:
                continue
            if match.group("a"):
                parts = [LETTERS.index(match.group(g).upper()) for g in ("a", "b")]
            else:
                parts = [i for i in range(len(choices)) if i != index]
            parts = [i for i in parts if i < len(options) and i != index]
            if not parts or any(options[i].sentence is None for i in parts):
                continue
            weakest = min(parts, key=lambda i: options[i].score)
            result[index] = OptionSupport(options[index].letter, choice, round(options[weakest].score + self.both_bonus, 4),
                                          options[weakest].sentence)
        return result

    def _by_ordinal(self, stem: str, choices: Sequence[str], sentences: Sequence[Sentence]) -> tuple[str, Sentence] | None:
        """"the first step in…": the option at that place of a list naming every option."""
        match = _ORDINAL.search(stem)
        if not match:
            return None
        wanted = match.group(1).lower()
        for sentence in sentences:
            text = sentence.text.lower()
            places = [text.find(c.lower()) for c in choices]
            if any(p < 0 for p in places):
                continue
            order = sorted(range(len(choices)), key=lambda i: places[i])
            index = -1 if wanted in ("last", "final") else _ORDINALS.index(wanted)
            return LETTERS[order[index]], sentence
        return None

    def _by_order(self, choices: Sequence[str], sentences: Sequence[Sentence]) -> tuple[str, Sentence] | None:
        """Options that list the same items in different orders ("attention, retention, …"): the one
        in the order a passage sentence gives them."""
        lists = [[item.strip().lower() for item in re.split(r",\s*(?:and\s+)?|\s+and\s+", c) if item.strip()]
                 for c in choices]
        if len(lists) < 2 or any(len(items) < 3 for items in lists) or len({frozenset(i) for i in lists}) != 1:
            return None
        for sentence in sentences:
            text = sentence.text.lower()
            positions = [text.find(item) for item in lists[0]]
            if any(p < 0 for p in positions):
                continue
            in_order = sorted(lists[0], key=lambda item: text.find(item))
            for letter, items in zip(LETTERS, lists):
                if items == in_order:
                    return letter, sentence
        return None
