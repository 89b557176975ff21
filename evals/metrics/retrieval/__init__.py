"""Retrieval against gold source files: Recall@k, reciprocal rank and context precision.

Gold sources are file names relative to the corpus root the dataset was written for; the index may
name the same file with a longer path ("psychology-2e/08-1-how-memory-functions.md" when the corpus
is the repository's corpus/), so a source matches a gold name when it ends with it at a path
boundary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


def source_matches(source: str, gold: str) -> bool:
    source, gold = source.replace("\\", "/").strip("/"), gold.replace("\\", "/").strip("/")
    return source == gold or source.endswith("/" + gold)


def is_gold(source: str, gold_sources: Sequence[str]) -> bool:
    return any(source_matches(source, gold) for gold in gold_sources)


@dataclass(frozen=True)
class RetrievalScore:
    recall_at_k: float  # share of gold files among the top-k passages' files
    reciprocal_rank: float  # 1 / rank of the first passage from a gold file; 0 when none
    context_precision: float | None  # share of the passages the answer used that come from a gold file
    k: int
    gold_ranks: tuple[int, ...]  # 1-based ranks of passages from gold files

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def score_retrieval(ranked_sources: Sequence[str], used_sources: Sequence[str],
                    gold_sources: Sequence[str]) -> RetrievalScore:
    """ranked_sources: the source of every retrieved passage, best first (k = their number);
    used_sources: the sources of the passages the answer cited. gold_sources must not be empty."""
    found = {gold for gold in gold_sources if any(source_matches(s, gold) for s in ranked_sources)}
    ranks = tuple(rank for rank, source in enumerate(ranked_sources, start=1) if is_gold(source, gold_sources))
    precision = (sum(is_gold(s, gold_sources) for s in used_sources) / len(used_sources)) if used_sources else None
    return RetrievalScore(
        recall_at_k=len(found) / len(set(gold_sources)),
        reciprocal_rank=1.0 / ranks[0] if ranks else 0.0,
        context_precision=precision,
        k=len(ranked_sources),
        gold_ranks=ranks,
    )
