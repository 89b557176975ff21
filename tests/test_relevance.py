"""The relevance floor: calibrated on the corpus at ingest, stored with the index, used at query
time by the retriever and the guard's refusal."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from tutor.answer.guard import GuardConfig
from tutor.relevance import (OFF_COURSE_LONG, OFF_COURSE_SHORT, RelevanceFloor, calibrate, in_course_probes,
                             question_views, stored_floor)
from tutor.service import TutorService
from tutor.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def build(tmp_path: Path, embedder) -> TutorService:
    corpus = tmp_path / "corpus"
    (corpus / "book").mkdir(parents=True)
    for seed in ("000_224ce50211750157.txt", "001_e2ce60a967ffc981.txt"):
        shutil.copy(REPO / "corpus" / seed, corpus / seed)
    for section in ("08-1-how-memory-functions.md", "08-4-ways-to-enhance-memory.md"):
        shutil.copy(REPO / "corpus" / "psychology-2e" / section, corpus / "book" / section)
    service = TutorService(Settings(data_dir=tmp_path / "data", corpus_dir=corpus), embedder=embedder)
    assert service.ingest(quiet=True).exit_code == 0
    return service


def test_the_floor_is_computed_at_ingest_and_stored_with_the_index(tmp_path, embedder) -> None:
    service = build(tmp_path, embedder)
    floor = stored_floor(service.store)
    assert floor is not None
    # It sits between how close off-course questions come and how close the course's own sentences do.
    assert floor.off_course <= floor.question <= max(floor.in_course, floor.off_course)
    assert floor.off_course < floor.in_course
    assert 0.0 < floor.passage <= floor.question
    # Another process opening the same data directory reads the same floor: it lives in the index.
    reopened = TutorService(service.settings, embedder=embedder)
    assert reopened.retriever.relevance_floor == floor
    # The guard uses it as it is (no constant caps it), and the retriever drops passages below its passage floor.
    assert reopened.answer_graph.guard.min_top_relevance == floor.question
    assert reopened.retriever.passage_floor == floor.passage
    # An instructor sees it in `tutor status`.
    from click.testing import CliRunner

    from tutor.cli import main

    assert reopened.status()["relevance_floor"]["question"] == round(floor.question, 4)
    shown = CliRunner().invoke(main, ["status"], obj={"service": reopened}, catch_exceptions=False).output
    assert f"relevance floor  {floor.question:.3f} (questions), {floor.passage:.3f} (passages)" in shown


def test_the_floor_follows_the_corpus(tmp_path, embedder) -> None:
    service = build(tmp_path, embedder)
    before = stored_floor(service.store)
    service.remove(["book/08-4-ways-to-enhance-memory.md"])
    after = stored_floor(service.store)
    assert after is not None and after != before


def test_the_stored_floor_decides_refusals_at_query_time(tmp_path, embedder) -> None:
    service = build(tmp_path, embedder)
    question = "What are the three stages of memory processing: encoding, storage and retrieval?"
    assert not service.ask(question).refused
    assert service.ask("What time does the bakery open on Sundays?").refused

    # The same index with a very low stored floor: the off-course question now finds passages and
    # passes the relevance check, so the stored floor (not a constant) decides at query time.
    metadata = dict(service.store.collection.metadata or {})
    metadata.update(RelevanceFloor(question=0.01, passage=0.01).to_metadata())
    service.store.collection.modify(metadata=metadata)
    fresh = TutorService(service.settings, embedder=embedder)
    assert fresh.answer_graph.guard.min_top_relevance == 0.01
    assert fresh.retriever.search("What time does the bakery open on Sundays?") != []


def test_calibration_separates_course_sentences_from_off_course_probes(embedder) -> None:
    from tutor.chunking import chunk_document
    from tutor.documents import load_document

    chunks = chunk_document(load_document(REPO / "corpus" / "psychology-2e" / "08-1-how-memory-functions.md"),
                            "08-1.md")
    probes = in_course_probes(chunks)
    assert probes and all(8 <= len(text.split()) <= 30 for _, text in probes)
    vectors = np.asarray(embedder.embed_documents([c.text for c in chunks]), dtype=np.float32)
    floor = calibrate(chunks, vectors, embedder.embed_documents)
    assert floor is not None
    # No off-course probe is judged on less than its whole text; 90% of them (by their best
    # sentence) stay under the floor.
    probes = list(OFF_COURSE_SHORT + OFF_COURSE_LONG)
    best_off = [max((np.asarray(embedder.embed_documents(question_views(p))) @ vectors.T).max(axis=1)) for p in probes]
    assert np.quantile(best_off, 0.9) <= floor.question + 1e-6
    assert floor.off_course < floor.question < floor.in_course
    assert calibrate(chunks[:2], vectors[:2], embedder.embed_documents) is None  # too little to measure


def test_a_question_is_judged_as_a_whole_and_by_each_of_its_sentences() -> None:
    assert question_views("What is  encoding?") == ["What is encoding?"]
    scenario = ("Cara is 17 years old. Her parents drink every night but tell her not to. "
                "Which kind of learning explains why she drinks at a party? Ok.")
    views = question_views(scenario)
    assert views[0] == " ".join(scenario.split())
    assert views[1:] == ["Cara is 17 years old.", "Her parents drink every night but tell her not to.",
                         "Which kind of learning explains why she drinks at a party?"]  # "Ok." is too short alone


def test_a_long_scenario_on_the_course_is_answered_and_a_long_story_off_it_refused(tmp_path, embedder) -> None:
    """A scenario of several sentences is diluted as a whole; the sentence the course answers lifts
    its relevance, and it is answered. An off-course story of the same length meets nothing."""
    service = build(tmp_path, embedder)
    floor = stored_floor(service.store)
    scenario = ("You and a friend stayed up all night going over your notes for tomorrow's psychology exam. You "
                "feel ready, but you want to go over everything once more an hour before the test. Your friend "
                "thinks that is a waste of time. What would you say to convince them?")
    passages = service.retriever.search(scenario)
    whole = max(p.dense_score for p in passages)
    relevance = service.retriever.relevance(scenario, passages)
    assert relevance > whole and relevance >= floor.question
    assert not service.ask(scenario).refused
    story = ("We are driving to the mountains for a week in the summer with two teenagers and a dog. The car is "
             "small and the roof box is old. Which trails are good for beginners, and should we rent a cabin "
             "or take a tent for the week?")
    assert service.ask(story).refused


def test_a_multiple_choice_item_is_about_the_course_when_one_of_its_options_is(tmp_path, embedder) -> None:
    """A vague stem with four names run together reads like nothing in the course; the claim one of
    its options makes ("…proposed by Baddeley and Hitch") is the book's own, and the item is answered.
    An off-course item of the same shape meets nothing."""
    service = build(tmp_path, embedder)
    floor = stored_floor(service.store)
    item = "A model was proposed by ________.\nA. Glenn Weiser\nB. Baddeley and Hitch\nC. Patsy Mink\nD. Jerry Rubin"
    passages = service.retriever.search(item)
    whole = max((p.dense_score for p in passages if p.dense_score is not None), default=0.0)
    assert whole < floor.question  # the options run together: not about the course on its own
    assert service.retriever.relevance(item, passages) >= floor.question
    answer = service.ask(item)
    assert not answer.refused and answer.text.startswith("**B. "), answer.text
    pizza = "The best pizza topping is ________.\nA. pepperoni\nB. mushrooms\nC. pineapple\nD. olives"
    assert service.ask(pizza).refused
