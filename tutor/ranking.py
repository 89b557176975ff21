"""How the rankers' candidates become one ordered list of passages: fusion, section-level
evidence, and diversity. Pure functions over row numbers and scores, so they can be read and
tested apart from how the indexes are loaded (tutor/retrieve.py).

Every constant here is generic (RRF's k=60 from Cormack et al., halving a section's second
passage); none was fitted to one book. Measured per book in benchmarks/retrieval.py.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

Ranking = tuple[float, Sequence[int]]  # (weight, rows best first)


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
