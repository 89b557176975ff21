"""Faithfulness: the share of an answer's sentences that the passages it used support.

Two scorers behind one interface (base.FaithfulnessScorer): `offline` (default; a logistic regression
fitted over lexical coverage features, plus hard flags; MiniLM only locates the evidence sentence) and `llm` (a RAGAS-style judge on an
OpenAI-compatible endpoint).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.embeddings import Embeddings

from evals.metrics.faithfulness.base import ClaimVerdict, FaithfulnessScorer, SentenceVerdict
from tutor.text import strip_citations, words
from tutor.settings import Settings

ScorerKind = Literal["offline", "llm"]
__all__ = ["ClaimVerdict", "FaithfulnessScore", "FaithfulnessScorer", "SentenceVerdict", "build_scorer",
           "is_claim", "score_faithfulness"]


def is_claim(sentence: str) -> bool:
    """Lead-ins ("Here is what the course materials say:"), questions (the book's rhetorical ones,
    quoted) and fragments state nothing to check."""
    text = strip_citations(sentence).strip()
    return not text.endswith((":", "?")) and len(words(text)) >= 3


@dataclass(frozen=True)
class FaithfulnessScore:
    score: float  # supported claim sentences / claim sentences
    supported: int
    total: int
    verdicts: tuple[SentenceVerdict, ...] = field(default_factory=tuple)

    @property
    def unsupported(self) -> list[str]:
        return [v.sentence for v in self.verdicts if not v.supported]

    def to_dict(self) -> dict[str, Any]:
        return {"score": self.score, "supported": self.supported, "total": self.total,
                "unsupported": self.unsupported, "verdicts": [v.to_dict() for v in self.verdicts]}


def score_faithfulness(sentences: Sequence[str], passages: Sequence[str],
                       scorer: FaithfulnessScorer) -> FaithfulnessScore | None:
    """None when there is nothing to judge (no claim sentences, or no passages): an abstention."""
    claims = [s for s in sentences if is_claim(s)]
    if not claims or not passages:
        return None
    verdicts = scorer.judge(claims, passages)
    supported = sum(v.supported for v in verdicts)
    return FaithfulnessScore(supported / len(verdicts), supported, len(verdicts), tuple(verdicts))


def build_scorer(kind: ScorerKind, settings: Settings, embedder: Embeddings) -> FaithfulnessScorer:
    if kind == "llm":
        from evals.metrics.faithfulness.llm import LLMJudge

        return LLMJudge(settings)
    from evals.metrics.faithfulness.offline import OfflineScorer

    return OfflineScorer(embedder)
