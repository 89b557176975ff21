"""The LLM judge: RAGAS-style faithfulness against an OpenAI-compatible chat endpoint.

Written here rather than taken from ragas: ragas pulls heavy extra dependencies and tries to download
tokenizer data at import, which fails on offline campus machines; the method itself is four steps.

Steps: `_create_statements` (split sentences into atomic claims) → `_create_verdicts` (one verdict
per claim against the numbered passages, with a verbatim quote) → `_check_quotes` (a verdict whose
quote is not in the passage it names is downgraded: the judge may not invent evidence) →
`_compute_score` (a sentence's score is the share of its claims supported; it is supported only when
every claim is). Requests run at temperature 0; a reply that is not the JSON asked for is retried
with the parse error shown to the model, a bounded number of times.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, TypeVar

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ValidationError

from evals.metrics.faithfulness.base import ClaimVerdict, SentenceVerdict
from evals.metrics.faithfulness.prompts import (STATEMENTS_SYSTEM, VERDICTS_SYSTEM, StatementsReply, VerdictsReply,
                                                statements_prompt, verdicts_prompt)
from tutor.errors import ConfigurationError, GenerationError
from tutor.settings import Settings

# Every claim must hold for a sentence to count as supported ("fully attributable"): a fixed rule,
# not a fitted value, so it needs no calibration run against a model.
LLM_THRESHOLD = 1.0
JSON_ATTEMPTS = 3
MAX_JUDGE_TOKENS = 2048
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.MULTILINE)

Reply = TypeVar("Reply", bound=BaseModel)


class JudgeError(GenerationError):
    """The judge endpoint failed, or never returned the JSON asked for."""


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


class LLMJudge:
    """Faithfulness by an LLM; needs OPENAI_API_KEY (and OPENAI_BASE_URL for a local server)."""

    threshold = LLM_THRESHOLD

    def __init__(self, settings: Settings) -> None:
        if not settings.openai_api_key:
            raise ConfigurationError("The LLM judge needs an endpoint: set OPENAI_API_KEY (and OPENAI_BASE_URL "
                                     "for a local server), or use --scorer offline.")
        from tutor.answer.generators.openai import chat_model  # langchain-openai: only when the judge is used

        self.settings = settings
        self.model = chat_model(settings, streaming=False, max_tokens=MAX_JUDGE_TOKENS)
        self.name = f"llm:{settings.llm_model}"
        self._cache: dict[tuple[tuple[str, ...], tuple[str, ...]], list[SentenceVerdict]] = {}

    def describe(self) -> dict[str, Any]:
        return {"scorer": "llm", "model": self.settings.llm_model, "base_url": self.settings.openai_base_url,
                "temperature": 0, "threshold": self.threshold, "json_attempts": JSON_ATTEMPTS}

    def judge(self, sentences: Sequence[str], passages: Sequence[str]) -> list[SentenceVerdict]:
        key = (tuple(sentences), tuple(passages))
        if key not in self._cache:
            claims_per_sentence = self._create_statements(sentences)
            flat = [claim for claims in claims_per_sentence for claim in claims]
            verdicts = self._check_quotes(self._create_verdicts(flat, passages), passages) if flat else []
            self._cache[key] = self._compute_score(sentences, claims_per_sentence, verdicts)
        return self._cache[key]

    # --- the steps -----------------------------------------------------------------------------

    def _create_statements(self, sentences: Sequence[str]) -> list[list[str]]:
        reply = self._ask(STATEMENTS_SYSTEM, statements_prompt(sentences), StatementsReply)
        claims: list[list[str]] = [[] for _ in sentences]
        for item in reply.sentences:
            if item.sentence <= len(sentences):
                claims[item.sentence - 1].extend(c.strip() for c in item.claims if c.strip())
        return claims

    def _create_verdicts(self, claims: Sequence[str], passages: Sequence[str]) -> list[ClaimVerdict]:
        reply = self._ask(VERDICTS_SYSTEM, verdicts_prompt(claims, passages), VerdictsReply)
        by_claim = {v.claim: v for v in reply.verdicts}
        verdicts = []
        for number, claim in enumerate(claims, start=1):
            v = by_claim.get(number)
            if v is None:  # a claim the judge skipped is not supported
                verdicts.append(ClaimVerdict(claim, False, reason="no verdict given"))
            else:
                verdicts.append(ClaimVerdict(claim, v.verdict == "supported", v.passage, v.quote, v.reason))
        return verdicts

    def _check_quotes(self, verdicts: Sequence[ClaimVerdict], passages: Sequence[str]) -> list[ClaimVerdict]:
        checked = []
        for v in verdicts:
            if not v.supported:
                checked.append(v)
                continue
            valid_passage = v.passage is not None and 1 <= v.passage <= len(passages)
            quote = _normalise(v.quote or "")
            if valid_passage and quote and quote in _normalise(passages[v.passage - 1]):
                checked.append(v)
            else:
                where = f"passage {v.passage}" if valid_passage else "any numbered passage"
                checked.append(ClaimVerdict(v.claim, False, v.passage, v.quote,
                                            f"judge said supported, but its quote is not in {where}"))
        return checked

    def _compute_score(self, sentences: Sequence[str], claims: Sequence[Sequence[str]],
                       verdicts: Sequence[ClaimVerdict]) -> list[SentenceVerdict]:
        results, position = [], 0
        for sentence, sentence_claims in zip(sentences, claims):
            own = list(verdicts[position:position + len(sentence_claims)])
            position += len(sentence_claims)
            if not own:  # nothing checkable in it ("Here is what the course says:")
                results.append(SentenceVerdict(sentence, 1.0, True, flags=("no claims",)))
                continue
            score = sum(v.supported for v in own) / len(own)
            best = next((v for v in own if v.supported), None)
            flags = tuple(f"unsupported claim: {v.claim}" for v in own if not v.supported)
            results.append(SentenceVerdict(sentence, score, score >= self.threshold,
                                           best.passage if best else None, best.quote if best else None,
                                           flags, tuple(own)))
        return results

    # --- strict JSON with retries ----------------------------------------------------------------

    def _ask(self, system: str, prompt: str, shape: type[Reply]) -> Reply:
        messages: list[BaseMessage] = [SystemMessage(system), HumanMessage(prompt)]
        problem = ""
        for _ in range(JSON_ATTEMPTS):
            try:
                reply = self.model.invoke(messages)
            except Exception as exc:  # transport errors of any client version: say what, no traceback
                problem = f"request failed: {exc}"
                continue
            text = reply.content if isinstance(reply.content, str) else json.dumps(reply.content)
            try:
                return shape.model_validate_json(_json_object(text))
            except (ValidationError, ValueError) as exc:
                problem = f"reply was not the JSON asked for: {str(exc).splitlines()[0]}"
                messages = [*messages, AIMessage(text),
                            HumanMessage(f"That reply was not valid ({problem}). Reply with the JSON object only.")]
        raise JudgeError(f"The faithfulness judge at {self.settings.openai_base_url or 'OpenAI'} failed "
                         f"{JSON_ATTEMPTS} times; last: {problem}")


def _json_object(text: str) -> str:
    """The JSON object in a reply, tolerating a Markdown fence or a sentence around it."""
    text = _FENCE.sub("", text.strip())
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ValueError("no JSON object in the reply")
    return text[start:end + 1]
