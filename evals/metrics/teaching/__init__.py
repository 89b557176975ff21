"""Does the answer teach: does it contain the key facts a good answer must have, and does its first
sentence already answer?

Steps: `_fact_alternatives` (a key fact is written "phrase | other phrase": any alternative will do)
→ `_covers` (every content word of an alternative, stemmed, is in the text) → `score_key_facts`
(share of facts covered) and `score_first_sentence` (the first sentence covers at least one key
fact; for a multiple-choice item, it states the right letter). Lexical on purpose: key facts are
short phrases from the course ("successive approximations"), and a paraphrase that drops the
course's term is worth flagging for a tutor anyway.

Refused answers score 0 on answerable questions (the student got nothing) and are flagged; items
without key facts abstain (None), never NaN.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from tutor.text import content_stems, split_sentences, strip_citations

Split = Literal["tune", "held"]

# A stated letter at the start of the answer: "**B. attention** — …", "B. attention", "(B)", "Answer: B".
_LEAD_LETTER = re.compile(r"^\W*(?:(?:the\s+)?answer(?:\s+is)?\s*:?\s*)?\**\(?([A-J])\)?[.):\s—-]", re.IGNORECASE)


def split_of(item_id: str, held_share: int = 3) -> Split:
    """Deterministic split by a hash of the id: one item in `held_share` is held aside (never tuned on)."""
    digest = hashlib.sha256(item_id.encode("utf-8")).digest()
    return "held" if digest[0] % held_share == 0 else "tune"


def _fact_alternatives(fact: str) -> list[list[str]]:
    return [stems for stems in (content_stems(alt) for alt in fact.split("|")) if stems]


def _covers(fact: str, stems: set[str]) -> bool:
    return any(all(s in stems for s in alternative) for alternative in _fact_alternatives(fact))


@dataclass(frozen=True)
class KeyFactScore:
    coverage: float | None  # share of key facts the answer contains; None: no key facts to check
    covered: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def score_key_facts(answer: str, key_facts: Sequence[str], refused: bool = False) -> KeyFactScore:
    if not key_facts:
        return KeyFactScore(None)
    if refused:
        return KeyFactScore(0.0, [], list(key_facts))
    stems = set(content_stems(strip_citations(answer)))
    covered = [f for f in key_facts if _covers(f, stems)]
    missing = [f for f in key_facts if f not in covered]
    return KeyFactScore(round(len(covered) / len(key_facts), 6), covered, missing)


@dataclass(frozen=True)
class FirstSentenceScore:
    answers: bool | None  # None: nothing to check against
    first_sentence: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def first_sentence(answer: str) -> str:
    sentences = split_sentences(answer)
    return sentences[0] if sentences else ""


def score_first_sentence(answer: str, key_facts: Sequence[str], refused: bool = False,
                         right_letter: str | None = None) -> FirstSentenceScore:
    """Does the first sentence answer: state the right letter (multiple choice), or contain a key fact."""
    first = first_sentence(answer)
    if refused:
        return FirstSentenceScore(False, first, "refused")
    if right_letter:
        match = _LEAD_LETTER.match(strip_citations(first))
        letter = match.group(1).upper() if match else None
        if letter is None:
            return FirstSentenceScore(False, first, "no letter stated first")
        return FirstSentenceScore(letter == right_letter.upper(), first,
                                  "right letter" if letter == right_letter.upper() else f"letter {letter} stated")
    if not key_facts:
        return FirstSentenceScore(None, first, "no key facts")
    stems = set(content_stems(strip_citations(first)))
    hit = [f for f in key_facts if _covers(f, stems)]
    return FirstSentenceScore(bool(hit), first, f"covers: {hit[0]}" if hit else "covers no key fact")
