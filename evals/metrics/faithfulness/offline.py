"""The offline faithfulness scorer: no LLM, deterministic, seconds per answer.

Steps: `_prepare_evidence` (split the passages into sentences; embed them with MiniLM; collect
their words, stems, bigrams, numbers, months and names) → `_features` (for each answer sentence:
word overlap, content-word and bigram coverage, best MiniLM similarity to any passage sentence, and
counts of numbers/names the passages never mention, first-person and question form) → `_score` (a
logistic regression over those features, fitted on ../shared/evalsets/faithfulness/; calibration.json
says how) → `_hard_flags` (a number, month or year absent from the passages makes a sentence
unsupported whatever its score: a wrong figure is the error students copy).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from evals.metrics.faithfulness.base import SentenceVerdict
from evals.text import (FIRST_PERSON, content_stems, months, names, numbers, split_sentences, stems,
                        strip_citations, words)

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
FEATURES = ("word_overlap", "content_coverage", "bigram_coverage", "max_similarity", "novel_numbers",
            "novel_names", "first_person", "is_question", "content_words")


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
    vectors: np.ndarray

    @cached_property
    def words(self) -> set[str]:
        return set(words(self.text))

    @cached_property
    def stems(self) -> set[str]:
        return set(stems(words(self.text)))

    @cached_property
    def bigrams(self) -> set[tuple[str, str]]:
        tokens = stems(words(self.text))
        return set(zip(tokens, tokens[1:]))

    @cached_property
    def numbers(self) -> set[str]:
        return numbers(self.text)

    @cached_property
    def months(self) -> set[str]:
        return months(self.text)


class OfflineScorer:
    """Sentence-level support from lexical coverage and MiniLM similarity, plus hard flags."""

    name = "offline"

    def __init__(self, embedder: Embeddings, calibration: Calibration | None = None) -> None:
        self.calibration = calibration or Calibration.load()  # the fitted one, unless a test or calibrate.py passes its own
        self.threshold = self.calibration.threshold
        self.cache = EmbeddingCache(embedder)
        self.embedding_model = getattr(embedder, "name", type(embedder).__name__)

    def describe(self) -> dict[str, Any]:
        return {"scorer": "offline", "embedding_model": self.embedding_model, "threshold": self.threshold,
                "features": list(self.calibration.features), "weights": list(self.calibration.weights),
                "calibration": self.calibration.derivation}

    def judge(self, sentences: Sequence[str], passages: Sequence[str]) -> list[SentenceVerdict]:
        evidence = self._prepare_evidence(passages)
        return [self._verdict(sentence, evidence) for sentence in sentences]

    def score_text(self, text: str, passages: Sequence[str]) -> float:
        """One score for a whole response (several sentences judged as one unit): used by `eval judge`."""
        return self._verdict(text, self._prepare_evidence(passages)).score

    def features(self, text: str, passages: Sequence[str]) -> dict[str, float]:
        """The feature values of one unit (what calibrate.py fits the regression on)."""
        return self._features(text, self._prepare_evidence(passages))[0]

    def support(self, statements: Sequence[str], text: str) -> list[float]:
        """How well `text` supports each statement (used to read which option an answer chose)."""
        evidence = self._prepare_evidence([text])
        return [self._verdict(s, evidence).score for s in statements]

    # --- the steps -----------------------------------------------------------------------------

    def _prepare_evidence(self, passages: Sequence[str]) -> _Evidence:
        sentences, passage_of = [], []
        for number, passage in enumerate(passages, start=1):
            for sentence in split_sentences(passage) or [passage]:
                sentences.append(sentence)
                passage_of.append(number)
        return _Evidence("\n".join(passages), sentences, passage_of, self.cache.vectors(sentences))

    def _features(self, unit: str, evidence: _Evidence) -> tuple[dict[str, float], int | None, str | None]:
        text = strip_citations(unit)
        unit_words = words(text)
        unit_stems = content_stems(text)
        all_stems = stems(unit_words)
        bigrams = list(zip(all_stems, all_stems[1:]))
        best_passage, best_sentence, similarity = None, None, 0.0
        unit_sentences = [strip_citations(s) for s in split_sentences(text)] or [text]
        if evidence.sentences and text:
            scores = self.cache.vectors(unit_sentences) @ evidence.vectors.T
            per_sentence_best = scores.max(axis=1)
            similarity = float(per_sentence_best.min())
            best = int(scores[int(per_sentence_best.argmin())].argmax())
            best_passage, best_sentence = evidence.passage_of[best], evidence.sentences[best]
        values = {
            "word_overlap": sum(w in evidence.words for w in unit_words) / len(unit_words) if unit_words else 0.0,
            "content_coverage": sum(s in evidence.stems for s in unit_stems) / len(unit_stems) if unit_stems else 1.0,
            "bigram_coverage": sum(b in evidence.bigrams for b in bigrams) / len(bigrams) if bigrams else 1.0,
            "max_similarity": similarity,
            "novel_numbers": float(min(3, len(numbers(text) - evidence.numbers))),
            "novel_names": float(min(3, len(self._novel_names(text, evidence)))),
            "first_person": float(any(w in FIRST_PERSON for w in unit_words)),
            "is_question": float(text.rstrip().endswith("?")),
            "content_words": math.log1p(len(unit_stems)),
        }
        return values, best_passage, best_sentence

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
        values, passage, sentence = self._features(unit, evidence)
        score = round(self.calibration.probability(values), 6)
        flags = self._hard_flags(unit, evidence)
        supported = score >= self.threshold and not flags
        return SentenceVerdict(unit, score, supported, passage if supported or not flags else None, sentence, flags)
