"""Prompts of the LLM judge and the typed JSON they must return (validated with pydantic)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, Field

STATEMENTS_SYSTEM = (
    "You split text into atomic claims for fact-checking. Each claim is one self-contained factual "
    "statement (replace pronouns with what they refer to). Sentences that state nothing checkable "
    "(greetings, 'Here is what the course says:') have no claims. Reply with JSON only, no prose, in "
    'exactly this shape: {"sentences": [{"sentence": 1, "claims": ["..."]}]}'
)

VERDICTS_SYSTEM = (
    "You check claims against numbered passages. A claim is supported only if a passage states it or "
    "it follows directly from a passage; otherwise it is unsupported (do not use outside knowledge). "
    "For a supported claim give the passage number and a quote copied verbatim from that passage that "
    "shows it. Reply with JSON only, no prose, in exactly this shape: "
    '{"verdicts": [{"claim": 1, "verdict": "supported", "passage": 2, "quote": "...", "reason": "..."}]} '
    'using "supported" or "unsupported"; passage and quote are null when unsupported.'
)


class SentenceClaims(BaseModel):
    sentence: int = Field(ge=1)
    claims: list[str]


class StatementsReply(BaseModel):
    sentences: list[SentenceClaims]


class ClaimVerdictReply(BaseModel):
    claim: int = Field(ge=1)
    verdict: Literal["supported", "unsupported"]
    passage: int | None = None
    quote: str | None = None
    reason: str = ""


class VerdictsReply(BaseModel):
    verdicts: list[ClaimVerdictReply]


def statements_prompt(sentences: Sequence[str]) -> str:
    numbered = "\n".join(f"{i}. {s}" for i, s in enumerate(sentences, start=1))
    return f"Split each numbered sentence into claims.\n\nSentences:\n{numbered}"


def verdicts_prompt(claims: Sequence[str], passages: Sequence[str]) -> str:
    numbered_passages = "\n\n".join(f"[{i}] {p}" for i, p in enumerate(passages, start=1))
    numbered_claims = "\n".join(f"{i}. {c}" for i, c in enumerate(claims, start=1))
    return f"Passages:\n{numbered_passages}\n\nClaims:\n{numbered_claims}\n\nGive one verdict per claim."
