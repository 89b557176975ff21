"""The offline faithfulness scorer: no LLM, deterministic, seconds per answer.

Steps: `_prepare_evidence` (split the passages into sentences; collect their words, stems,
numbers, months and names) → `_features` (for each answer sentence: word overlap, content-word
coverage, count of content words, numbers and names the passages never mention, a negation the
passages lack, first-person and question form) → `_verdict` (a logistic regression over those
features, fitted on ../shared/evalsets/faithfulness/ — calibration.json says how — and hard flags:
a number, month or name absent from the passages makes a sentence unsupported whatever its score,
since a wrong figure or name is the error students copy) → `_locate_evidence` (the passage sentence
closest to the answer sentence by MiniLM cosine, shown in reports as the evidence).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from evals.metrics.faithfulness.base import SentenceVerdict
from tutor.text import (FIRST_PERSON, claim_stems, months, names, numbers, split_sentences, stems,
                        strip_citations, words)

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
# MiniLM similarity was a candidate feature too: leave-one-dataset-out, it lowered AUROC on BEGIN-WoW
# (it rewards fluent paraphrases that add unsupported content), so the score does not use it; MiniLM
# locates the evidence sentence shown in reports instead. calibration.json has the figures.
FEATURES = ("word_overlap", "content_coverage", "novel_content", "novel_numbers", "novel_names",
            "negation_mismatch", "first_person", "is_question")
_NEGATIONS = frozenset({"not", "no", "never", "nor", "none", "nothing", "nobody", "cannot", "don't", "doesn't",
                        "didn't", "isn't", "aren't", "wasn't", "weren't", "can't", "won't", "wouldn't"})


def word_overlap(response: str, context: str) -> float:
    """The plain baseline: share of the response's words that occur anywhere in the context."""
    response_words = words(response)
    if not response_words:
        return 0.0
    context_words = set(words(context))
    return sum(w in context_words for w in response_words) / len(response_words)


@dataclass(frozen=True)
class Calibration:
    """A logistic regression over standardised features, and the decision threshold."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float
    threshold: float
    derivation: str

    @classmethod
    def load(cls, path: Path = CALIBRATION_FILE) -> Calibration:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(tuple(data["features"]), tuple(data["mean"]), tuple(data["scale"]), tuple(data["weights"]),
                   float(data["bias"]), float(data["threshold"]), data["derivation"])

    def probability(self, values: dict[str, float]) -> float:
        z = self.bias + sum(w * (values[f] - m) / s for f, m, s, w in zip(self.features, self.mean, self.scale,
                                                                            self.weights))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


class EmbeddingCache:
    """MiniLM vectors by text, embedded in length-sorted batches (padding dominates the cost otherwise)."""

    def __init__(self, embedder: Embeddings) -> None:
        self.embedder = embedder
        self._vectors: dict[str, np.ndarray] = {}

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        missing = sorted({t for t in texts if t not in self._vectors}, key=len)
        for start in range(0, len(missing), 128):
            batch = missing[start:start + 128]
            for text, vector in zip(batch, self.embedder.embed_documents(batch)):
                self._vectors[text] = np.asarray(vector, dtype=np.float32)
        if not texts:
            return np.zeros((0, 1), dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts])


@dataclass
class _Evidence:
    text: str
    sentences: list[str]
    passage_of: list[int]  # 1-based passage number of each sentence

    @cached_property
    def words(self) -> set[str]:
        found = set(words(self.text))
        return found | {w[:-2] for w in found if w.endswith("'s")}  # "Pavlov's" also vouches for "Pavlov"

    @cached_property
    def stems(self) -> set[str]:
        return set(stems(words(self.text)))

    @cached_property
    def numbers(self) -> set[str]:
        return numbers(self.text)

    @cached_property
    def months(self) -> set[str]:
        return months(self.text)


class OfflineScorer:
    """Sentence-level support from lexical coverage features (fitted regression) plus hard flags;
    MiniLM locates the passage sentence shown as evidence and reads multiple-choice picks."""

    name = "offline"

    def __init__(self, embedder: Embeddings, calibration: Calibration | None = None) -> None:
        # The fitted calibration, unless calibrate.py (or a test) passes its own.
        self.calibration = calibration or Calibration.load()
        self.threshold = self.calibration.threshold
        self.cache = EmbeddingCache(embedder)
        self.embedding_model = getattr(embedder, "name", type(embedder).__name__)

    def describe(self) -> dict[str, Any]:
        return {"scorer": "offline", "embedding_model": self.embedding_model, "threshold": self.threshold,
                "features": list(self.calibration.features), "weights": list(self.calibration.weights),
                "calibration": self.calibration.derivation}

    def judge(self, sentences: Sequence[str], passages: Sequence[str]) -> list[SentenceVerdict]:
        evidence = self._prepare_evidence(passages)
        verdicts = [self._verdict(sentence, evidence) for sentence in sentences]
        located = self._locate_evidence(sentences, evidence)
        return [replace(v, passage=p if v.supported else None, evidence=e) for v, (p, e) in zip(verdicts, located)]

    def judge_unit(self, text: str, passages: Sequence[str]) -> SentenceVerdict:
        """A whole response judged as one unit, without locating evidence (`eval judge`: fast, no MiniLM)."""
        return self._verdict(text, self._prepare_evidence(passages))

    def features(self, text: str, passages: Sequence[str]) -> dict[str, float]:
        """The feature values of one unit (what calibrate.py fits the regression on)."""
        return self._features(text, self._prepare_evidence(passages))

    def support(self, statements: Sequence[str], text: str) -> list[float]:
        """How well `text` supports each statement, in [0, 1] (used to read which option an answer
        chose): the best single sentence of the text, by support score averaged with MiniLM cosine.
        Sentence by sentence, because an answer that quotes several definitions contains every
        option's words somewhere; only the sentence about the right one contains them together."""
        sentences = [strip_citations(s) for s in split_sentences(text)] or [text]
        evidence = [self._prepare_evidence([sentence]) for sentence in sentences]
        cosine = self.cache.vectors(list(statements)) @ self.cache.vectors(sentences).T
        return [max((self._verdict(statement, e).score + float(cosine[i, j])) / 2 for j, e in enumerate(evidence))
                for i, statement in enumerate(statements)]

    # --- the steps -----------------------------------------------------------------------------

    def _prepare_evidence(self, passages: Sequence[str]) -> _Evidence:
        sentences, passage_of = [], []
        for number, passage in enumerate(passages, start=1):
            for sentence in split_sentences(passage) or [passage]:
                sentences.append(sentence)
                passage_of.append(number)
        return _Evidence("\n".join(passages), sentences, passage_of)

    def _features(self, unit: str, evidence: _Evidence) -> dict[str, float]:
        text = strip_citations(unit)
        unit_words = words(text)
        unit_stems = claim_stems(text)
        novel_content = sum(s not in evidence.stems for s in unit_stems)
        return {
            "word_overlap": sum(w in evidence.words for w in unit_words) / len(unit_words) if unit_words else 0.0,
            "content_coverage": 1 - novel_content / len(unit_stems) if unit_stems else 1.0,
            "novel_content": math.log1p(novel_content),
            "novel_numbers": float(min(3, len(numbers(text) - evidence.numbers))),
            "novel_names": float(min(3, len(self._novel_names(text, evidence)))),
            "negation_mismatch": float(any(w in _NEGATIONS for w in unit_words)
                                       and not evidence.words & _NEGATIONS),
            "first_person": float(any(w in FIRST_PERSON for w in unit_words)),
            "is_question": float(text.rstrip().endswith("?")),
        }

    def _locate_evidence(self, units: Sequence[str], evidence: _Evidence) -> list[tuple[int | None, str | None]]:
        """For each unit, the passage sentence MiniLM finds closest to it (shown as the evidence)."""
        if not evidence.sentences:
            return [(None, None)] * len(units)
        scores = self.cache.vectors([strip_citations(u) for u in units]) @ self.cache.vectors(evidence.sentences).T
        best = scores.argmax(axis=1)
        return [(evidence.passage_of[int(i)], evidence.sentences[int(i)]) for i in best]

    def _hard_flags(self, unit: str, evidence: _Evidence) -> tuple[str, ...]:
        text = strip_citations(unit)
        flags = [f"number {n} is not in the passages" for n in sorted(numbers(text) - evidence.numbers)]
        flags += [f"month {m.title()} is not in the passages" for m in sorted(months(text) - evidence.months)]
        flags += [f"name {n.title()} is not in the passages" for n in sorted(self._novel_names(text, evidence))]
        return tuple(flags)

    @staticmethod
    def _novel_names(text: str, evidence: _Evidence) -> set[str]:
        return {n for n in names(text) if n not in evidence.words and stems([n])[0] not in evidence.stems}

    def _verdict(self, unit: str, evidence: _Evidence) -> SentenceVerdict:
        score = round(self.calibration.probability(self._features(unit, evidence)), 6)
        flags = self._hard_flags(unit, evidence)
        return SentenceVerdict(unit, score, score >= self.threshold and not flags, flags=flags)
