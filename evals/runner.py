"""`eval run`: ask every question of a set through the real answering chain and score the answer.

Per question: faithfulness of the answer to the passages it cited, ALCE citation recall/precision,
retrieval against the gold files, context precision of the cited passages, correctness against the
reference answer (and the option picked, for multiple choice), and whether it refused correctly.
Refused answers abstain from faithfulness and citation scores (counted and flagged, never NaN);
they score 0 for correctness, since the student got no answer.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from langchain_core.embeddings import Embeddings

import tutor
from evals import EVALS_VERSION
from evals.data import Question, QuestionSet
from evals.metrics.citations import score_citations
from evals.metrics.correctness import detect_choice, semantic_similarity, token_f1
from evals.metrics.faithfulness import FaithfulnessScorer, is_claim, score_faithfulness
from evals.metrics.faithfulness.offline import OfflineScorer
from evals.metrics.refusal import score_refusal
from evals.metrics.teaching import score_first_sentence, score_key_facts
from evals.metrics.retrieval import score_retrieval
from evals.report.model import EvalReport, QuestionResult
from evals.summary import summarise
from tutor.text import cited_numbers, split_sentences
from tutor.errors import CorpusNotIndexed
from tutor.models import Answer
from tutor.settings import Settings


class Answerer(Protocol):
    """What the runner needs of TutorService (tests pass a scripted stand-in)."""

    settings: Settings

    @property
    def embedder(self) -> Embeddings: ...

    def ask(self, question: str) -> Answer: ...


def _used_passages(answer: Answer) -> tuple[dict[int, str], list[str], bool]:
    """Passages the answer used: {shown number: text} of its citations, their sources, and whether
    it cited anything (uncited answers are judged against every retrieved passage, and flagged)."""
    by_id = {p.chunk.chunk_id: p.chunk for p in answer.passages}
    cited = {c.n: by_id[c.chunk_id].text if c.chunk_id in by_id else c.quote for c in answer.citations}
    if cited:
        return cited, [c.source for c in answer.citations], True
    return {i: p.chunk.text for i, p in enumerate(answer.passages, start=1)}, [], False


def score_answer(question: Question, answer: Answer, scorer: FaithfulnessScorer, choice_scorer: OfflineScorer,
                 embed: Callable[[list[str]], list[list[float]]]) -> dict[str, Any]:
    """Every metric for one answered question, as plain data for the report."""
    flags: list[str] = []
    sentences = [s for s in split_sentences(answer.text) if is_claim(s)]
    passages, used_sources, cited_any = _used_passages(answer)
    faithfulness = citations = None
    if answer.refused:
        flags.append("refused: faithfulness and citations abstain")
    else:
        if not cited_any:
            flags.append("cites nothing: faithfulness judged against every retrieved passage")
        faithfulness = score_faithfulness(sentences, list(passages.values()), scorer)
        if faithfulness is None:
            flags.append("nothing to judge: faithfulness abstains")
        if sentences:
            citations = score_citations(sentences, [cited_numbers(s) for s in sentences], passages,
                                        lambda s, texts: all(v.supported for v in scorer.judge([s], list(texts))))
    retrieval = None
    if question.answerable and question.gold_sources:
        retrieval = score_retrieval([p.chunk.source for p in answer.passages], used_sources, question.gold_sources)
    correctness: dict[str, Any] | None = None
    if question.answerable and (question.reference_answer or question.is_multiple_choice):
        correctness = {}
        if question.reference_answer:
            refused = answer.refused or not answer.text.strip()
            correctness["token_f1"] = 0.0 if refused else round(token_f1(answer.text, question.reference_answer), 6)
            correctness["semantic_similarity"] = 0.0 if refused else round(
                semantic_similarity(answer.text, question.reference_answer, embed), 6)
        if question.is_multiple_choice:
            if answer.refused:
                correctness["choice"] = {"letter": None, "method": "refused", "support": {}}
            else:
                correctness["choice"] = detect_choice(answer.text, question.question, question.choices,
                                                      choice_scorer.support).to_dict()
            correctness["choice_correct"] = correctness["choice"]["letter"] == question.answer
            if correctness["choice"]["letter"] is None:
                flags.append(f"multiple choice: no option picked ({correctness['choice']['method']}), counted wrong")
    if answer.refused and question.answerable:
        flags.append("refused an answerable question: correctness 0")
    if answer.incomplete or answer.error:
        flags.append(f"answer incomplete: {answer.error or 'generation stopped early'}")
    teaching = None
    if question.answerable and (question.key_facts or question.is_multiple_choice):
        facts = score_key_facts(answer.text, question.key_facts, answer.refused)
        first = score_first_sentence(answer.text, question.key_facts, answer.refused,
                                     question.answer if question.is_multiple_choice else None)
        teaching = {"key_fact_coverage": facts.coverage, "missing_facts": facts.missing,
                    "first_sentence_answers": first.answers, "first_sentence": first.first_sentence,
                    "letter_stated_correct": first.answers if question.is_multiple_choice else None}
    return {
        "id": question.id,
        "question": question.prompt,
        "answerable": question.answerable,
        "gold_sources": list(question.gold_sources),
        "reference_answer": question.reference_answer,
        "right_choice": question.answer,
        "answer": answer.text,
        "refused": answer.refused,
        "refusal_reason": answer.refusal_reason,
        "mode": answer.mode,
        "citations": [{"n": c.n, "source": c.source, "section": c.section, "quote": c.quote} for c in answer.citations],
        "retrieved": [{"rank": i, "source": p.chunk.source, "section": p.chunk.section, "score": round(p.score, 6)}
                      for i, p in enumerate(answer.passages, start=1)],
        "faithfulness": faithfulness.to_dict() if faithfulness else None,
        "citation_quality": citations.to_dict() if citations else None,
        "retrieval": retrieval.to_dict() if retrieval else None,
        "correctness": correctness,
        "refusal": score_refusal(question.answerable, answer.refused).to_dict(),
        "teaching": teaching,
        "kind": question.kind,
        "flags": flags,
    }


@dataclass
class RunOptions:
    dataset: QuestionSet
    corpus: Path | None = None  # recorded in the report when the run indexed its own corpus
    limit: int | None = None
    on_progress: Callable[[int, int], None] | None = None


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def index_header(service: Any) -> dict[str, Any]:
    """What the answers were drawn from: enough to tell whether two reports used the same index."""
    documents = service.documents() if hasattr(service, "documents") else []
    store = getattr(service, "store", None)
    return {
        "fingerprint": store.fingerprint() if store is not None else None,
        "embedding_model": getattr(store, "embedding_model", None),
        "corpus_dir": str(service.settings.corpus_dir),
        "store": service.settings.store_location,
        "collection": service.settings.collection,
        "documents": len(documents),
        "chunks": sum(d.chunks for d in documents),
        "manifest": [{"source": d.source, "chunks": d.chunks} for d in documents],
    }


def retrieval_by_mode(service: Any, questions: list[Question], k: int) -> dict[str, dict[str, Any]]:
    """Recall@k and MRR of each retrieval mode alone (no relevance threshold), on the same questions:
    tells whether a change helped dense, lexical or only the fusion."""
    retriever = getattr(service, "retriever", None)
    if retriever is None:
        return {}
    from tutor.retrieve import MODES

    scored = [q for q in questions if q.answerable and q.gold_sources]
    by_mode: dict[str, dict[str, Any]] = {}
    for mode in MODES:
        scores = [score_retrieval([p.chunk.source for p in retriever.search(q.prompt, k=k, mode=mode,
                                                                            apply_threshold=False)],
                                  [], q.gold_sources) for q in scored]
        by_mode[mode] = {
            "recall_at_k": round(sum(s.recall_at_k for s in scores) / len(scores), 4) if scores else 0.0,
            "mrr": round(sum(s.reciprocal_rank for s in scores) / len(scores), 4) if scores else 0.0,
            "n": len(scores), "k": k,
        }
    return by_mode


def run(service: Answerer, scorer: FaithfulnessScorer, options: RunOptions) -> EvalReport:
    """Ask, score and summarise into the typed report (evals/report/model.py)."""
    questions = options.dataset.questions[:options.limit] if options.limit else options.dataset.questions
    if hasattr(service, "store") and service.store.count() == 0:
        raise CorpusNotIndexed("Nothing is indexed: run `tutor ingest`, or pass --corpus DIR to index a corpus "
                               "for this evaluation.")
    choice_scorer = scorer if isinstance(scorer, OfflineScorer) else OfflineScorer(service.embedder)
    started = time.monotonic()
    results = []
    for done, question in enumerate(questions, start=1):
        answer = service.ask(question.prompt)
        results.append(QuestionResult.model_validate(score_answer(question, answer, scorer, choice_scorer,
                                                                  choice_scorer.cache.embedder.embed_documents)))
        if options.on_progress:
            options.on_progress(done, len(questions))
    settings = service.settings
    return EvalReport.model_validate({
        "kind": "tutor-eval-report",
        "evals_version": EVALS_VERSION,
        "tutor_version": tutor.__version__,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - started, 1),
        "dataset": {"path": str(options.dataset.path), "sha256": _file_sha256(options.dataset.path),
                    "items": len(questions)},
        "index": {**index_header(service), "eval_corpus": str(options.corpus) if options.corpus else None},
        "answerer": {"mode": getattr(results[0], "mode", None) if results else None, "llm_model": settings.llm_model
                     if settings.llm_enabled else None, "top_k": settings.top_k, "chunk_size": settings.chunk_size,
                     "chunk_overlap": settings.chunk_overlap},
        "knobs": tuning_knobs(service),
        "scorer": scorer.describe(),
        "metrics": summarise(results),
        "retrieval_modes": retrieval_by_mode(service, questions, settings.top_k),
        "questions": results,
    })


def tuning_knobs(service: Any) -> dict[str, dict[str, Any]]:
    """Every knob the answers depend on, by stage, so `eval compare` names what was turned."""
    knobs: dict[str, dict[str, Any]] = {}
    retriever = getattr(service, "retriever", None)
    if retriever is not None:
        knobs["retrieval"] = asdict(retriever.config)
    graph = getattr(service, "answer_graph", None)
    if graph is not None:
        knobs["guard"] = asdict(graph.guard)
        generator_knobs = getattr(graph.generator, "knobs", None)
        if callable(generator_knobs):
            knobs["composer"] = generator_knobs()
    return knobs
