"""ALCE-style citation quality (Gao et al. 2023, "Enabling Large Language Models to Generate Text
with Citations"), with our faithfulness scorer standing in for their NLI model.

Steps: `_cited_passages` maps each answer sentence's [n] markers to passage texts →
`_sentence_recall` (do its cited passages, together, support the sentence?) → `_citation_precision`
(is each citation needed: it supports the sentence alone, or dropping it loses the support?) →
`score_citations` averages: recall over sentences, precision over citations. As in ALCE, a sentence
that cites nothing has recall 0, and the citations of an unsupported sentence are all imprecise.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

Supports = Callable[[str, Sequence[str]], bool]


@dataclass(frozen=True)
class CitationIssue:
    sentence: str
    citation: int | None  # the [n] at fault; None when the sentence cites nothing
    problem: str  # "cites nothing" | "cited passages do not support it" | "citation not needed" | "unknown citation"


@dataclass(frozen=True)
class CitationScore:
    recall: float
    precision: float | None  # None: the answer cites nothing, so there is no citation to be precise
    sentences: int
    citations: int
    issues: tuple[CitationIssue, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["issues"] = [asdict(i) for i in self.issues]
        return data


def _cited_passages(cited: Sequence[int], passages: Mapping[int, str]) -> tuple[list[int], list[int]]:
    known = [n for n in cited if n in passages]
    return known, [n for n in cited if n not in passages]


def _sentence_recall(sentence: str, cited: Sequence[int], passages: Mapping[int, str], supports: Supports) -> bool:
    return bool(cited) and supports(sentence, [passages[n] for n in cited])


def _citation_precision(sentence: str, cited: Sequence[int], passages: Mapping[int, str],
                        supports: Supports) -> list[int]:
    """The citations of a supported sentence that are not needed."""
    if len(cited) == 1:
        return []
    needless = []
    for n in cited:
        if supports(sentence, [passages[n]]):
            continue
        rest = [passages[m] for m in cited if m != n]
        if supports(sentence, rest):
            needless.append(n)
    return needless


def score_citations(sentences: Sequence[str], cited_numbers: Sequence[Sequence[int]],
                    passages: Mapping[int, str], supports: Supports) -> CitationScore:
    """sentences with, for each, the [n] numbers it cites; passages maps n to the passage text."""
    issues: list[CitationIssue] = []
    recalled = precise = total_citations = 0
    for sentence, numbers in zip(sentences, cited_numbers):
        known, unknown = _cited_passages(numbers, passages)
        total_citations += len(numbers)
        issues.extend(CitationIssue(sentence, n, "unknown citation") for n in unknown)
        if not numbers:
            issues.append(CitationIssue(sentence, None, "cites nothing"))
            continue
        if not _sentence_recall(sentence, known, passages, supports):
            issues.extend(CitationIssue(sentence, n, "cited passages do not support it") for n in known)
            continue
        recalled += 1
        needless = _citation_precision(sentence, known, passages, supports)
        issues.extend(CitationIssue(sentence, n, "citation not needed") for n in needless)
        precise += len(known) - len(needless)
    count = len(sentences)
    return CitationScore(
        recall=recalled / count if count else 0.0,
        precision=precise / total_citations if total_citations else None,
        sentences=count,
        citations=total_citations,
        issues=tuple(issues),
    )
