"""Aggregate per-question scores into the report's metrics. Every metric is a number with the count
it averages over and the count that abstained; a metric with nothing to average is 0.0 with n = 0
and a note, never NaN (thresholds on it fail, so a gate cannot pass on an empty set)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from evals.report.model import MetricValue, QuestionResult

# name → (what it means, for the reports)
METRICS: dict[str, str] = {
    "faithfulness": "share of answer sentences the cited passages support (mean over answers)",
    "citation_recall": "share of answer sentences whose citations, together, support them (ALCE)",
    "citation_precision": "share of citations that are needed for their sentence (ALCE)",
    "recall_at_k": "share of gold files among the retrieved passages' files",
    "mrr": "mean reciprocal rank of the first passage from a gold file",
    "context_precision": "share of cited passages that come from a gold file",
    "answer_f1": "token F1 of the answer against the reference answer",
    "answer_similarity": "MiniLM cosine between the answer and the reference answer",
    "mcq_accuracy": "share of multiple-choice items where the answer picked the right option",
    "refusal_accuracy": "share of questions refused exactly when the course does not answer them",
    "key_fact_coverage": "share of an answer's key facts it contains (teaching sets with key_facts)",
    "first_sentence_answers": "share of answers whose first sentence already answers (a key fact, or the right "
                              "letter of a multiple-choice item)",
    "mcq_letter_accuracy": "share of multiple-choice items whose answer states the right letter first",
    "unanswerable_refused": "share of unanswerable questions refused",
    "answerable_answered": "share of answerable questions answered (not refused)",
}

Row = QuestionResult


def _metric(rows: Sequence[Row], eligible: Callable[[Row], bool], value: Callable[[Row], float | None],
            note: str = "") -> MetricValue:
    candidates = [r for r in rows if eligible(r)]
    values = [v for v in (value(r) for r in candidates) if v is not None]
    abstained = len(candidates) - len(values)
    mean = round(sum(values) / len(values), 4) if values else 0.0
    if not values:
        return MetricValue(value=mean, n=0, abstained=abstained, note=note or "no items to score")
    return MetricValue(value=mean, n=len(values), abstained=abstained)


def summarise(rows: Sequence[Row]) -> dict[str, MetricValue]:
    # Refused answers are counted as abstentions of the answer-quality metrics, not left out.
    def every(r: Row) -> bool:
        return True

    def has_gold(r: Row) -> bool:
        return r.retrieval is not None

    def faithfulness(r: Row) -> float | None:
        return r.faithfulness.score if r.faithfulness else None

    def correctness(field: str) -> Callable[[Row], Any]:
        return lambda r: getattr(r.correctness, field) if r.correctness else None

    return {
        "faithfulness": _metric(rows, every, faithfulness),
        "citation_recall": _metric(rows, every, lambda r: r.citation_quality.recall if r.citation_quality else None),
        "citation_precision": _metric(rows, every,
                                      lambda r: r.citation_quality.precision if r.citation_quality else None),
        "recall_at_k": _metric(rows, has_gold, lambda r: r.retrieval.recall_at_k),
        "mrr": _metric(rows, has_gold, lambda r: r.retrieval.reciprocal_rank),
        "context_precision": _metric(rows, has_gold, lambda r: r.retrieval.context_precision),
        "answer_f1": _metric(rows, lambda r: correctness("token_f1")(r) is not None, correctness("token_f1")),
        "answer_similarity": _metric(rows, lambda r: correctness("semantic_similarity")(r) is not None,
                                     correctness("semantic_similarity")),
        "mcq_accuracy": _metric(rows, lambda r: correctness("choice")(r) is not None,
                                lambda r: float(bool(r.correctness.choice_correct))),
        "refusal_accuracy": _metric(rows, every, lambda r: float(r.refusal.correct)),
        "key_fact_coverage": _metric(rows, lambda r: r.teaching is not None,
                                     lambda r: r.teaching.key_fact_coverage, "no items with key facts"),
        "first_sentence_answers": _metric(rows, lambda r: r.teaching is not None,
                                          lambda r: None if r.teaching.first_sentence_answers is None
                                          else float(r.teaching.first_sentence_answers), "no items with key facts"),
        "mcq_letter_accuracy": _metric(rows, lambda r: r.teaching is not None
                                       and r.teaching.letter_stated_correct is not None,
                                       lambda r: float(r.teaching.letter_stated_correct), "no multiple-choice items"),
        "unanswerable_refused": _metric(rows, lambda r: not r.answerable, lambda r: float(r.refused),
                                        "no unanswerable questions in the set"),
        "answerable_answered": _metric(rows, lambda r: r.answerable, lambda r: float(not r.refused),
                                       "no answerable questions in the set"),
    }


def check_thresholds(metrics: dict[str, MetricValue], minimums: dict[str, float]) -> list[str]:
    """Failures, one line each, for metrics below their minimum (or with nothing scored)."""
    failures = []
    for name, minimum in sorted(minimums.items()):
        metric = metrics[name]
        if metric.n == 0:
            failures.append(f"{name}: nothing was scored ({metric.note or 'no items'}), minimum {minimum}")
        elif metric.value < minimum:
            failures.append(f"{name}: {metric.value:.3f} is below the minimum {minimum}")
    return failures
