"""Hand-made cases where the right score is known: a fully supported answer, an invented sentence, a
wrong number, a wrong citation, a needless citation, a refusal; plus retrieval, correctness and the
never-NaN summary."""

from __future__ import annotations

import math

import pytest

from evals.data import Question
from evals.metrics.citations import score_citations
from evals.metrics.correctness import detect_choice, option_statement, token_f1
from evals.metrics.faithfulness import score_faithfulness
from evals.metrics.faithfulness.offline import OfflineScorer, word_overlap
from evals.metrics.retrieval import score_retrieval, source_matches
from evals.runner import score_answer
from evals.report import MetricValue, QuestionResult
from evals.summary import check_thresholds, summarise
from tutor.text import cited_numbers, split_sentences
from tutor.models import Answer, Chunk, Citation, Passage

EBBINGHAUS = ("In 1885, German psychologist Hermann Ebbinghaus analyzed the process of memorization. He memorized "
              "lists of nonsense syllables and then measured how much he forgot over time.")
PAVLOV = ("Ivan Pavlov was a Russian physiologist. His area of interest was the digestive system, and his dogs "
          "learned to salivate at the sound of a tone that had been paired with food.")


@pytest.fixture(scope="module")
def scorer(embedder) -> OfflineScorer:
    return OfflineScorer(embedder)


def _supports(scorer: OfflineScorer):
    return lambda sentence, texts: all(v.supported for v in scorer.judge([sentence], list(texts)))


def test_sentences_keep_their_citation_markers() -> None:
    text = "Here is what the course says:\n\nEncoding comes first [1]. H. M. lost it, e.g. later. [2] Then storage [1, 3]."
    assert split_sentences(text) == ["Here is what the course says:", "Encoding comes first [1].",
                                     "H. M. lost it, e.g. later. [2]", "Then storage [1, 3]."]
    assert [cited_numbers(s) for s in split_sentences(text)] == [[], [1], [2], [1, 3]]


def test_a_fully_supported_answer_scores_one(scorer: OfflineScorer) -> None:
    sentences = ["In 1885, Hermann Ebbinghaus analyzed the process of memorization [1].",
                 "Pavlov's area of interest was the digestive system [2]."]
    faithfulness = score_faithfulness(sentences, [EBBINGHAUS, PAVLOV], scorer)
    assert faithfulness is not None and faithfulness.score == 1.0 and faithfulness.unsupported == []
    assert [v.passage for v in faithfulness.verdicts] == [1, 2]  # MiniLM located the evidence
    citations = score_citations(sentences, [cited_numbers(s) for s in sentences], {1: EBBINGHAUS, 2: PAVLOV},
                                _supports(scorer))
    assert (citations.recall, citations.precision, citations.issues) == (1.0, 1.0, ())


def test_an_invented_sentence_is_listed_as_unsupported(scorer: OfflineScorer) -> None:
    invented = "Ebbinghaus later won a Nobel Prize for discovering the neurotransmitter dopamine [1]."
    sentences = ["In 1885, Hermann Ebbinghaus analyzed the process of memorization [1].", invented]
    faithfulness = score_faithfulness(sentences, [EBBINGHAUS], scorer)
    assert faithfulness is not None
    assert faithfulness.score == 0.5 and faithfulness.unsupported == [invented]


def test_a_wrong_number_is_a_hard_flag(scorer: OfflineScorer) -> None:
    wrong = "In 1895, German psychologist Hermann Ebbinghaus analyzed the process of memorization [1]."
    verdict = scorer.judge([wrong], [EBBINGHAUS])[0]
    assert not verdict.supported
    assert verdict.flags == ("number 1895 is not in the passages",)
    assert verdict.score > scorer.threshold  # the words all match: only the flag catches it


def test_a_name_absent_from_the_passages_is_flagged(scorer: OfflineScorer) -> None:
    verdict = scorer.judge(["In 1885, Sigmund Freud analyzed the process of memorization."], [EBBINGHAUS])[0]
    assert not verdict.supported and "name Freud is not in the passages" in verdict.flags
    possessive = scorer.judge(["Pavlov studied the digestive system."], [PAVLOV.replace("Ivan Pavlov", "Pavlov's work")])
    assert possessive[0].flags == ()


def test_a_wrong_citation_fails_citation_recall_but_not_faithfulness(scorer: OfflineScorer) -> None:
    sentences = ["Pavlov's area of interest was the digestive system [1]."]  # the evidence is passage 2
    passages = {1: EBBINGHAUS, 2: PAVLOV}
    faithfulness = score_faithfulness(sentences, list(passages.values()), scorer)
    assert faithfulness is not None and faithfulness.score == 1.0
    citations = score_citations(sentences, [[1]], passages, _supports(scorer))
    assert citations.recall == 0.0 and citations.precision == 0.0
    assert [(i.citation, i.problem) for i in citations.issues] == [(1, "cited passages do not support it")]


def test_a_needless_citation_lowers_precision_only(scorer: OfflineScorer) -> None:
    sentences = ["In 1885, Hermann Ebbinghaus analyzed the process of memorization [1, 2]."]
    citations = score_citations(sentences, [[1, 2]], {1: EBBINGHAUS, 2: PAVLOV}, _supports(scorer))
    assert citations.recall == 1.0 and citations.precision == 0.5
    assert [(i.citation, i.problem) for i in citations.issues] == [(2, "citation not needed")]


def test_a_sentence_citing_nothing_has_zero_recall_and_no_precision(scorer: OfflineScorer) -> None:
    citations = score_citations(["Ebbinghaus analyzed memorization."], [[]], {1: EBBINGHAUS}, _supports(scorer))
    assert citations.recall == 0.0 and citations.precision is None


def _chunk(source: str, text: str, n: int = 0) -> Chunk:
    return Chunk(chunk_id=f"{source}-{n}", text=text, source=source, title=source, section="", position=n)


def test_a_refusal_abstains_from_faithfulness_and_counts_for_refusal_accuracy(scorer: OfflineScorer) -> None:
    question = Question(id="q", question="Who won the 2018 World Cup?", answerable=False)
    refusal = Answer(question=question.question, text="The course materials do not cover this.", citations=[],
                     passages=[Passage(_chunk("psychology-2e/08-1.md", EBBINGHAUS), 0.1)], refused=True,
                     refusal_reason="not_in_course")
    row = score_answer(question, refusal, scorer, scorer, scorer.cache.embedder.embed_documents)
    assert row["faithfulness"] is None and row["citation_quality"] is None
    assert row["refusal"] == {"correct": True, "outcome": "refused_correctly"}
    metrics = summarise([QuestionResult.model_validate(row)])
    assert metrics["faithfulness"] == MetricValue(value=0.0, n=0, abstained=1, note="no items to score")
    assert metrics["refusal_accuracy"].value == 1.0


def test_an_answered_question_is_scored_end_to_end(scorer: OfflineScorer) -> None:
    chunks = [_chunk("psychology-2e/08-3-problems-with-memory.md", EBBINGHAUS), _chunk("psychology-2e/06-2.md", PAVLOV)]
    question = Question(id="q", question="In 1885, the German psychologist ________ analyzed memorization.",
                        answerable=True, gold_sources=("08-3-problems-with-memory.md",),
                        reference_answer="Hermann Ebbinghaus", choices=("Hermann Ebbinghaus", "Ivan Pavlov"), answer="A")
    answer = Answer(question=question.prompt, text="Here is what the course materials say:\n\nIn 1885, German "
                    "psychologist Hermann Ebbinghaus analyzed the process of memorization [1].",
                    citations=[Citation(1, chunks[0].chunk_id, chunks[0].source, "", "", "")],
                    passages=[Passage(c, 1.0 - i / 10) for i, c in enumerate(chunks)])
    row = score_answer(question, answer, scorer, scorer, scorer.cache.embedder.embed_documents)
    assert row["faithfulness"]["score"] == 1.0 and row["faithfulness"]["total"] == 1  # the lead-in is no claim
    assert row["retrieval"]["recall_at_k"] == 1.0 and row["retrieval"]["reciprocal_rank"] == 1.0
    assert row["retrieval"]["context_precision"] == 1.0
    assert row["correctness"]["choice"]["letter"] == "A" and row["correctness"]["choice_correct"] is True
    assert question.prompt.endswith("A. Hermann Ebbinghaus\nB. Ivan Pavlov")


def test_retrieval_matches_gold_files_on_a_path_suffix() -> None:
    assert source_matches("psychology-2e/08-1-how-memory-functions.md", "08-1-how-memory-functions.md")
    assert not source_matches("psychology-2e/108-1-how-memory-functions.md", "08-1-how-memory-functions.md")
    score = score_retrieval(["a/x.md", "a/gold.md", "b/gold2.md", "a/gold.md"], ["a/x.md", "a/gold.md"],
                            ["gold.md", "gold2.md", "missing.md"])
    assert score.recall_at_k == pytest.approx(2 / 3) and score.reciprocal_rank == 0.5
    assert score.context_precision == 0.5 and score.gold_ranks == (2, 3, 4)


def test_answer_correctness() -> None:
    assert token_f1("The hypothalamus [1].", "hypothalamus") == 1.0
    assert token_f1("the thalamus", "hypothalamus") == 0.0
    assert option_statement("The clock is in the ________.", "hypothalamus") == "The clock is in the hypothalamus."


def test_choice_detection_reads_a_stated_letter_then_option_text_then_support(scorer: OfflineScorer) -> None:
    stem, choices = "The body's biological clock is located in the ________.", ["hippocampus", "hypothalamus"]
    assert detect_choice("The answer is B [1].", stem, choices, scorer.support).method == "letter"
    picked = detect_choice("It sits in the hypothalamus [1].", stem, choices, scorer.support)
    assert (picked.letter, picked.method) == ("B", "text")
    both = "The hippocampus stores memories; the biological clock is located in the hypothalamus [1]."
    assert detect_choice(both, stem, choices, scorer.support).letter == "B"
    definitions = ("negative reinforcement: taking away an undesirable stimulus to increase a behavior [1]. "
                   "negative punishment: taking away a pleasant stimulus to decrease or stop a behavior [1].")
    picked = detect_choice(definitions, "________ is when you take away a pleasant stimulus to stop a behavior.",
                           ["negative reinforcement", "negative punishment"], scorer.support)
    assert (picked.letter, picked.method) == ("B", "support")  # both named: the sentence that fits decides
    undecided = detect_choice("Sleep is regulated by many things [1].", stem, choices,
                              lambda statements, text: [0.5 for _ in statements])
    assert (undecided.letter, undecided.method) == (None, "tie")


def test_metrics_are_never_nan_and_empty_metrics_fail_thresholds() -> None:
    metrics = summarise([])
    assert all(not math.isnan(m.value) and m.n == 0 for m in metrics.values())
    assert check_thresholds(metrics, {"faithfulness": 0.5}) == [
        "faithfulness: nothing was scored (no items to score), minimum 0.5"]
    assert check_thresholds({"mrr": MetricValue(value=0.4, n=3, abstained=0)}, {"mrr": 0.5}) == [
        "mrr: 0.400 is below the minimum 0.5"]


def test_the_word_overlap_baseline() -> None:
    assert word_overlap("Pavlov studied dogs", "Pavlov studied dogs and bells") == 1.0
    assert word_overlap("", "anything") == 0.0
