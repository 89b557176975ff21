"""How the rankers' candidates become one ordered list of passages: fusion, section-level
evidence, and diversity. Pure functions over row numbers and scores, so they can be read and
tested apart from how the indexes are loaded (tutor/retrieve.py).

Two fusions. `score_fusion` (the default) puts each ranker's scores on its own scale for this
question — 1 for its best passage, 0 for the passage at the depth both rankers were read to — and
adds them: a ranker whose top passage stands far above the rest (a rare term BM25 finds in one
section) counts for more than one whose top scores are all alike, which ranks alone cannot tell
(Bruch et al. 2023, "An analysis of fusion functions for hybrid retrieval"). `reciprocal_rank_fusion`
(Cormack et al. 2009) is kept to measure against. No constant here was fitted to one book; the
benchmark (benchmarks/retrieval.py) shows each variant per book.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

Ranking = tuple[float, Sequence[int]]  # (weight, rows best first)


@dataclass(frozen=True)
class RankerScores:
    """One ranker's raw scores of the candidates, with the two points of its scale for this
    question: `best`, its top score over the whole corpus, and `depth`, its score at the depth the
    rankers were read to (the N-th best)."""

    weight: float
    scores: Mapping[Hashable, float]
    best: float
    depth: float

    def normalised(self, row: Hashable) -> float:
        """0 at (or below) the depth, 1 at the best; a row this ranker did not score counts 0."""
        score = self.scores.get(row)
        if score is None or self.best <= self.depth:
            return 0.0
        return min(1.0, max(0.0, (score - self.depth) / (self.best - self.depth)))


def score_fusion(rankers: Sequence[RankerScores]) -> dict[Hashable, float]:
    """Weighted sum of each ranker's normalised score, over every row any ranker scored."""
    rows = dict.fromkeys(row for ranker in rankers for row in ranker.scores)
    return {row: sum(r.weight * r.normalised(row) for r in rankers) for row in rows}


def reciprocal_rank_fusion(rankings: Sequence[Ranking], k: int = 60) -> dict[int, float]:
    """Sum of weight / (k + rank) over the rankings a row appears in (Cormack et al. 2009): ranks,
    not scores, so a cosine and a BM25 score never have to be calibrated against each other."""
    fused: dict[int, float] = {}
    for weight, rows in rankings:
        for rank, row in enumerate(rows):
            fused[row] = fused.get(row, 0.0) + weight / (k + rank + 1)
    return fused


def section_evidence(fused: dict[int, float], section_of: Callable[[int], Hashable],
                     second_weight: float = 0.5) -> dict[Hashable, float]:
    """A section's evidence: its best passage's fused score plus half its second best. A question
    about a section usually matches more than one of its passages; a stray match in a
    neighbouring section matches one."""
    best: dict[Hashable, list[float]] = {}
    for row, score in fused.items():
        scores = best.setdefault(section_of(row), [])
        scores.append(score)
    return {section: (sorted(scores, reverse=True)[0]
                      + second_weight * (sorted(scores, reverse=True)[1] if len(scores) > 1 else 0.0))
            for section, scores in best.items()}


def order_by_sections(fused: dict[int, float], section_of: Callable[[int], Hashable],
                      second_weight: float = 0.5) -> list[int]:
    """Rows ordered section by section (strongest evidence first), each section's passages by
    their own score; ties broken by row number so the order is deterministic."""
    evidence = section_evidence(fused, section_of, second_weight)
    return sorted(fused, key=lambda row: (-evidence[section_of(row)], -fused[row], row))


def diversify(ordered: Sequence[int], fused: dict[int, float], section_of: Callable[[int], Hashable],
              k: int, keep: Callable[[int, list[int]], bool] = lambda row, picked: True) -> list[int]:
    """At most k rows. A further passage of a section already shown waits until no other
    section's best passage scores higher (instead of a fixed per-file cap), so a result spreads
    over sections exactly when other sections have comparable evidence. `keep(row, picked)`
    filters (relevance, near-duplicates)."""
    picked: list[int] = []
    shown: set[Hashable] = set()
    waiting: list[int] = []
    pending = [row for row in ordered]
    while pending and len(picked) < k:
        row = pending.pop(0)
        section = section_of(row)
        if section in shown:
            rival = next((r for r in pending if section_of(r) not in shown), None)
            if rival is not None and fused[rival] > fused[row]:
                waiting.append(row)
                continue
        if keep(row, picked):
            picked.append(row)
            shown.add(section)
    for row in waiting:
        if len(picked) >= k:
            break
        if keep(row, picked):
            picked.append(row)
    return picked
