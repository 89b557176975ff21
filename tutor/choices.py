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

import re
from collections.abc import Sequence
from dataclasses import dataclass

from tutor.answer_shape import Sentence, Similarity, definition_strength
from tutor.compose import content_stems

LETTERS = "ABCDEFGHIJ"
_BLANK = re.compile(r"_{3,}")
_NEGATED = re.compile(r"\b(?:not|except|least|false)\b", re.IGNORECASE)
_BOTH = re.compile(r"^\s*(?:both|all|neither|none)\b.*\b(?:above|[a-d]\s+(?:and|nor)\s+[a-d])\b", re.IGNORECASE)


def option_statement(stem: str, choice: str) -> str:
    """The claim an option makes: the stem with its blank(s) filled in, or stem + option."""
    parts = [p.strip() for p in choice.split(";")] if len(_BLANK.findall(stem)) > 1 else [choice]
    if _BLANK.search(stem):
        for part in parts:
            stem = _BLANK.sub(part, stem, count=1)
        return stem
    return f"{stem.rstrip()} {choice}"


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
                 stem_weight: float = 0.3, mention_weight: float = 0.3, glossary_bonus: float = 0.15) -> None:
        self.similarity = similarity
        self.margin = margin
        self.mention_floor = mention_floor
        self.stem_weight = stem_weight
        self.mention_weight = mention_weight
        self.glossary_bonus = glossary_bonus

    def pick(self, stem: str, choices: Sequence[str], sentences: Sequence[Sentence]) -> ChoicePick:
        stem_stems = set(content_stems(_BLANK.sub(" ", stem)))
        sentence_stems = [set(content_stems(s.text)) for s in sentences]
        options: list[OptionSupport] = []
        # Words every option shares ("stimulus" in "neutral/conditioned/unconditioned stimulus") tell
        # them apart no better than the stem does: an option is named by its own words.
        stem_sets = [set(content_stems(c)) for c in choices]
        shared = set.intersection(*stem_sets) if len(stem_sets) > 1 else set()
        for letter, choice, own in zip(LETTERS, choices, stem_sets):
            option_stems = (own - stem_stems - shared) or (own - shared) or own
            if _BOTH.match(choice) or not option_stems:
                options.append(OptionSupport(letter, choice, 0.0, None))
                continue
            naming = [i for i, stems in enumerate(sentence_stems)
                      if len(option_stems & stems) / len(option_stems) >= self.mention_floor]
            if not naming:
                options.append(OptionSupport(letter, choice, 0.0, None))
                continue
            cosines = self.similarity(option_statement(stem, choice), [sentences[i].text for i in naming])
            best: tuple[float, int] | None = None
            for i, cosine in zip(naming, cosines):
                stems = sentence_stems[i]
                mention = len(option_stems & stems) / len(option_stems)
                stem_share = len(stem_stems & stems) / (len(stem_stems) or 1)
                score = float(cosine) + self.mention_weight * mention + self.stem_weight * stem_share
                if sentences[i].glossary_term and definition_strength(sentences[i], choice) == 1.0:
                    score += self.glossary_bonus  # the book's own definition of this very option
                if best is None or score > best[0]:
                    best = (score, i)
            assert best is not None
            options.append(OptionSupport(letter, choice, round(best[0], 4), sentences[best[1]]))
        negated = bool(_NEGATED.search(stem))
        # "Which is NOT…": the least supported option is the odd one out.
        ranked = sorted(options, key=lambda o: o.score, reverse=not negated)
        chosen = ranked[0] if ranked else None
        runner_up = ranked[1] if len(ranked) > 1 else None
        if chosen is None or (not negated and chosen.sentence is None):
            return ChoicePick(None, runner_up, options, negated)
        if runner_up is not None and abs(chosen.score - runner_up.score) < self.margin:
            return ChoicePick(None, runner_up, options, negated)
        return ChoicePick(chosen, runner_up, options, negated)
