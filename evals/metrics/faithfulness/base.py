"""The faithfulness scorer interface: both scorers (offline, LLM judge) judge sentences against
numbered passages and say, for each sentence, whether the passages support it and why not."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ClaimVerdict:
    """One atomic claim of a sentence (the LLM judge splits sentences into claims)."""

    claim: str
    supported: bool
    passage: int | None = None  # 1-based passage number holding the evidence
    quote: str | None = None  # verbatim evidence, checked to exist in that passage
    reason: str = ""


@dataclass(frozen=True)
class SentenceVerdict:
    """Whether the passages support one sentence, with a score in [0, 1] and the evidence."""

    sentence: str
    score: float  # probability-like support score; `supported` is score >= the scorer's threshold
    supported: bool
    passage: int | None = None  # 1-based number of the passage that supports it best
    evidence: str | None = None  # the passage sentence (offline) or verbatim quote (LLM) relied on
    flags: tuple[str, ...] = ()  # hard failures: "number 1953 not in the passages", ...
    claims: tuple[ClaimVerdict, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["flags"] = list(self.flags)
        data["claims"] = [asdict(c) for c in self.claims]
        return data


class FaithfulnessScorer(Protocol):
    name: str  # "offline" or "llm:<model>"
    threshold: float  # a sentence is supported when its score reaches this

    def describe(self) -> dict[str, Any]:
        """Settings that change the scores (recorded in reports so two runs can be compared)."""
        ...

    def judge(self, sentences: Sequence[str], passages: Sequence[str]) -> list[SentenceVerdict]:
        """One verdict per sentence, in order, against the passages (numbered from 1)."""
        ...
