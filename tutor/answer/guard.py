"""The grounding guard: decides whether the course materials can answer a question at all.

The graph's guard node calls `check`; each signal (the policy, the injection classifier, the
relevance threshold) is one function here returning a reason or None, combined in `check`.

Three checks. A small explicit policy catches requests that retrieval similarity alone would let
through because the book touches the topic (a dosage question lands near the chapter on drug
therapies; "ignore your instructions" is not a course question however similar it looks). The
injection classifier (tutor/answer/injection.py) catches attacks on the tutor in words and languages
the policy does not know, and obfuscated ones (base64, leetspeak, spaced letters), whose decoded
readings also meet the policy. Then a relevance threshold: if even the best passage is not close to
the question, the answer is not in the course. Thresholds were calibrated on the whole book and the
dev set (see benchmarks/answering.py; the classifier's in benchmarks/guard.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from tutor.answer.injection import InjectionClassifier, views
from tutor.models import Answer, Passage
from tutor.text import heading_label

RefusalReason = Literal["prompt_injection", "medical_advice", "coding_request", "not_in_course"]

_POLICY: list[tuple[RefusalReason, re.Pattern[str]]] = [
    ("prompt_injection", re.compile(
        r"\b(system|hidden|initial|developer|original)\s+(prompt|message|instructions?)\b"
        r"|\b(ignore|disregard|forget|override)\b.{0,40}\b(instructions?|prompts?|rules|guidelines|directions)\b"
        r"|\b(ignore|disregard)\s+(all|everything|the above|previous|prior)\b"
        r"|\byour\s+(instructions|rules|prompt|guidelines|configuration)\b"
        r"|\b(jailbreak|developer mode|DAN mode)\b|\byou are now\b|\bact as (an? )?(unrestricted|different)\b",
        re.IGNORECASE)),
    ("medical_advice", re.compile(
        r"\b\d+(\.\d+)?\s*(mg|milligrams?|mcg|micrograms?|ml)\b"
        r"|\b(mg|milligrams?|dosage|doses?)\b.{0,60}\b(I|me|my)\b|\b(I|me|my)\b.{0,60}\b(mg|milligrams?|dosage|doses?)\b"
        r"|\b(should|can|could|may|must)\s+I\s+(take|stop taking|start taking|increase|decrease|double|combine|mix)\b"
        r"|\bhow (much|many)\b.{0,40}\b(should|can)\s+I\s+take\b",
        re.IGNORECASE)),
    ("coding_request", re.compile(
        r"\b(write|implement|code|create|generate|give me|show me|fix|debug)\b.{0,30}"
        r"\b(function|script|program|code|snippet|class|regex|algorithm|method|query)\b"
        r"|\b(python|javascript|typescript|java|c\+\+|c#|golang|rust|ruby|php|sql|bash|html|css)\b.{0,40}"
        r"\b(function|script|program|code|snippet|class|list|array|loop)\b"
        r"|\b(function|script|program|code|snippet|class|list|array|loop)\b.{0,40}"
        r"\b(in|using)\s+(python|javascript|typescript|java|c\+\+|c#|golang|rust|ruby|php|sql|bash)\b",
        re.IGNORECASE)),
]

_MESSAGES: dict[RefusalReason, str] = {
    "not_in_course": "That is not in the course materials, so I can't answer it from them.",
    "medical_advice": ("Personal medication or dosage advice is not in the course materials, and I can't give it: "
                       "please ask a doctor or pharmacist."),
    "coding_request": "Programming help is not in the course materials: I can only answer questions about the course.",
    "prompt_injection": ("That is not in the course materials: I can only answer questions about the course, "
                         "and I don't share or change my instructions."),
}


@dataclass(frozen=True)
class GuardDecision:
    refused: bool
    reason: RefusalReason | None = None
    message: str | None = None  # the reply to show instead of an answer


@dataclass(frozen=True)
class GuardConfig:
    # Relevance (the best cosine of a passage to the question or to one of its sentences, see
    # tutor/relevance.py) below which nothing in the course is about the question. An index carries
    # its own floor, calibrated at ingest (TutorService._guard_config); this default serves an index
    # built before floors were: short on-topic dev questions score 0.38 and up, short off-topic
    # ones ("capital of France", "who wrote Hamlet", "rules of chess") 0.06–0.33.
    min_top_relevance: float = 0.34
    nearest_sections: int = 3
    # A refusal names a section only when it is really near the question (cosine). Measured on
    # corpus/: "who won the World Cup" 0.06, "capital of France" 0.12, "system prompt" 0.17, "stages
    # of sleep" 0.32, "a joke about memory" 0.57; short on-topic dev questions score 0.38 and up
    # against the section that answers them, so a term the course lacks lists only sections above this.
    near_section_relevance: float = 0.45


def policy_reason(question: str) -> RefusalReason | None:
    """The explicit policy: which kind of request this is, if it is one the tutor never answers."""
    for reason, pattern in _POLICY:
        if pattern.search(question):
            return reason
    return None


def injection_reason(question: str, classifier: InjectionClassifier | None) -> RefusalReason | None:
    """"prompt_injection" when a decoded reading of the question meets the policy, or the
    classifier scores the question as an attack on the tutor."""
    decoded = views(question)[1:]  # the first reading is the question as written: the policy saw it
    if any(policy_reason(reading) == "prompt_injection" for reading in decoded):
        return "prompt_injection"
    if classifier is not None and classifier.is_attack(question):
        return "prompt_injection"
    return None


def relevance_reason(relevance: float | None, passages: Sequence[Passage], config: GuardConfig) -> RefusalReason | None:
    """"not_in_course" when no passage is evidence for the question, or the question's relevance
    (Retriever.relevance) is below the floor."""
    if not passages or (relevance is not None and relevance < config.min_top_relevance):
        return "not_in_course"
    return None


def check(question: str, passages: Sequence[Passage], nearest: Sequence[Passage],
          config: GuardConfig = GuardConfig(), *, typed: str | None = None,
          injection: InjectionClassifier | None = None, relevance: float | None = None) -> GuardDecision:
    """Refuse by policy, as an attack on the tutor, or when the course is not near enough to the
    question; otherwise let it through. `passages` are those above the retriever's threshold,
    `nearest` the best regardless of it; `relevance` is the question's (Retriever.relevance; by
    default the best passage's cosine); `typed` is what the student wrote when `question` is a
    condensed rewrite of it (the classifier reads what the student wrote: the rewrite is ours)."""
    if relevance is None:
        relevance = max((p.dense_score for p in passages if p.dense_score is not None), default=None)
    reason = (policy_reason(question) or (policy_reason(typed) if typed else None)
              or injection_reason(typed or question, injection)
              or relevance_reason(relevance, passages, config))
    if reason is None:
        return GuardDecision(refused=False)
    return GuardDecision(refused=True, reason=reason, message=refusal_message(reason, nearest, config.nearest_sections))


def near_passages(nearest: Sequence[Passage], config: GuardConfig = GuardConfig()) -> list[Passage]:
    """The nearest passages that are near enough to offer after a refusal (none for a question the
    course is nowhere near)."""
    return [p for p in nearest if p.dense_score is not None and p.dense_score >= config.near_section_relevance]


def refusal_headline(answer: Answer) -> str:
    """The refusal's reason, without the list of sections (which a page shows as its own controls)."""
    if answer.refusal_reason in _MESSAGES:
        return _MESSAGES[answer.refusal_reason]  # type: ignore[index]
    return answer.text.split("\n\n", 1)[0]


def refusal_message(reason: RefusalReason, nearest: Sequence[Passage], limit: int = 3,
                    config: GuardConfig = GuardConfig()) -> str:
    """The refusal, naming the nearest sections (if any is near) so the student knows where the course does go."""
    lines = [_MESSAGES[reason]]
    headings = list(dict.fromkeys(_heading(p) for p in near_passages(nearest, config)))[:limit]
    if headings:
        lines.append("")
        lines.append("The nearest sections of the course are:")
        lines.extend(f"- {h}" for h in headings)
    return "\n".join(lines)


def _heading(passage: Passage) -> str:
    chunk = passage.chunk
    return f"{heading_label(chunk.title, chunk.section)} ({chunk.source})"
