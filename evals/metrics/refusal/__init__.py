"""Refusal accuracy: the tutor should refuse exactly the questions the course does not answer."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Outcome = Literal["answered", "refused_correctly", "answered_unanswerable", "refused_answerable"]


@dataclass(frozen=True)
class RefusalScore:
    correct: bool
    outcome: Outcome

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def score_refusal(answerable: bool, refused: bool) -> RefusalScore:
    if answerable:
        return RefusalScore(not refused, "refused_answerable" if refused else "answered")
    return RefusalScore(refused, "refused_correctly" if refused else "answered_unanswerable")
