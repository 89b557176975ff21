"""Answer correctness against the reference answer, and the chosen option of a multiple-choice item.

Steps: `_normalise` (SQuAD-style: lower case, no punctuation or articles) → `token_f1`;
`semantic_similarity` (MiniLM cosine, clipped at 0); `detect_choice` finds which option the answer
picked: a stated letter ("The answer is C"), else the one option whose text the answer contains,
else — for answers that never name an option, like the offline composer's extracts — the option whose
statement (the stem with the blank filled in) the answer supports best, by the offline faithfulness
scorer (best single answer sentence, lexical support averaged with MiniLM cosine) plus the share of
its word trigrams the answer contains; a near tie is an abstention, flagged, and counts as wrong.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from evals.data import LETTERS
from tutor.text import option_statement, strip_citations

# Two options whose support differs by less than this are a tie: the answer does not choose. (Chosen
# on the chapter 6/8 dev items: wider margins turned right picks into ties, none into wrong ones.)
CHOICE_MARGIN = 0.01
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_STATED_LETTER = re.compile(
    r"(?:\b(?:answer|option|choice)\b[^.\n]{0,20}?\b(?:is|:)\s*\(?\**([A-J])\**\)?(?![\w'])"
    r"|^\s*\**\(?([A-J])\)?[.):]\s)",
    re.IGNORECASE | re.MULTILINE,
)


def _normalise(text: str) -> list[str]:
    text = strip_citations(text).lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    return _ARTICLES.sub(" ", text).split()


def token_f1(prediction: str, reference: str) -> float:
    predicted, gold = _normalise(prediction), _normalise(reference)
    common = Counter(predicted) & Counter(gold)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(predicted), overlap / len(gold)
    return 2 * precision * recall / (precision + recall)


def semantic_similarity(prediction: str, reference: str, embed: Callable[[list[str]], list[list[float]]]) -> float:
    """Cosine of the two texts' (normalised) MiniLM vectors, clipped to [0, 1]."""
    a, b = embed([strip_citations(prediction), reference])
    return max(0.0, min(1.0, float(sum(x * y for x, y in zip(a, b)))))


@dataclass(frozen=True)
class ChoiceDetection:
    letter: str | None  # None: the answer does not pick an option (abstention)
    method: str  # "letter" | "text" | "support" | "tie" | "refused"
    support: dict[str, float]  # per option letter, when measured by support

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _trigram_coverage(statement: str, text: str) -> float:
    def trigrams(value: str) -> list[tuple[str, ...]]:
        tokens = _normalise(value)
        return [tuple(tokens[i:i + 3]) for i in range(len(tokens) - 2)]

    wanted, present = trigrams(statement), set(trigrams(text))
    return sum(t in present for t in wanted) / len(wanted) if wanted else 0.0


def detect_choice(answer: str, stem: str, choices: Sequence[str],
                  support: Callable[[list[str], str], list[float]]) -> ChoiceDetection:
    """Which option the answer picked. `support(statements, text)` gives each statement's support by
    the text in [0, 1] (the offline faithfulness scorer)."""
    letters = LETTERS[:len(choices)]
    stated = {(m.group(1) or m.group(2)).upper() for m in _STATED_LETTER.finditer(answer)}
    stated &= set(letters)
    if len(stated) == 1:
        return ChoiceDetection(stated.pop(), "letter", {})
    plain = " ".join(_normalise(answer))
    named = [letter for letter, choice in zip(letters, choices)
             if _normalise(choice) and re.search(rf"\b{re.escape(' '.join(_normalise(choice)))}\b", plain)]
    if len(named) == 1:
        return ChoiceDetection(named[0], "text", {})
    statements = [option_statement(stem, c) for c in choices]
    scores = support(statements, answer)  # with its [n] markers: they help find sentence ends
    # Bag-of-words support cannot tell "clock ... hypothalamus; ... hippocampus" apart: word order can,
    # so the share of each statement's word trigrams found in the answer is added.
    by_letter = {letter: round(float(s) + _trigram_coverage(statement, answer), 4)
                 for letter, s, statement in zip(letters, scores, statements)}
    ranked = sorted(by_letter.items(), key=lambda item: item[1], reverse=True)
    if len(ranked) > 1 and ranked[0][1] - ranked[1][1] < CHOICE_MARGIN:
        return ChoiceDetection(None, "tie", by_letter)
    return ChoiceDetection(ranked[0][0], "support", by_letter)
