"""Answers that teach (issue 8): question kinds, answer shape, multiple-choice letters, honest scope,
hint and quiz modes — over the real course corpus and the real MiniLM model."""

from __future__ import annotations

import json

import pytest

from evals.metrics.teaching import score_first_sentence, score_key_facts, split_of
from tutor.answer.shape import Sentence, definition_strength, is_navigation, needs_antecedent
from tutor.answer.choices import is_negated
from tutor.answer.definitions import DefinitionFinder, unsupported_terms, with_definitions
from tutor.answer.generators.offline import OfflineComposer
from tutor.answer.questions import classify
from tutor.answer.tutoring import (build_quiz, check_attempt, grade, make_hint, previous_hint, quiz_sources,
                            wants_reveal)
from tutor.models import Turn


@pytest.fixture(scope="module")
def composer(indexed_service):
    return OfflineComposer(indexed_service.retriever.queries)


@pytest.fixture(scope="module")
def finder(indexed_service):
    return DefinitionFinder(indexed_service.retriever.chunks_mentioning)


def _answer(indexed_service, composer, finder, question: str) -> tuple[str, list]:
    shape = classify(question)
    passages = indexed_service.retriever.search(question, k=5)
    terms = shape.terms if shape.kind in ("definition", "example", "comparison") else ()
    passages = with_definitions(terms, passages, finder)
    return "".join(composer.stream(question, passages)), passages


@pytest.mark.parametrize("question, kind, terms", [
    ("What is learning?", "definition", ("learning",)),
    ("What does spontaneous recovery mean?", "definition", ("spontaneous recovery",)),
    ("What is extinction in classical conditioning?", "definition", ("extinction",)),
    ("What are steps in the modeling process?", "steps", ()),
    ("Why do I forget things I learned for an exam a week later?", "cause", ()),
    ("What is the difference between positive and negative reinforcement?", "comparison",
     ("positive reinforcement", "negative reinforcement")),
    ("Compare and contrast classical and operant conditioning. How are they alike?", "comparison",
     ("classical conditioning", "operant conditioning")),
    ("What is the difference between a reflex and a learned behavior?", "comparison", ("reflex", "learned behavior")),
    ("Give an example of negative reinforcement.", "example", ("negative reinforcement",)),
    ("Does negative reinforcement decrease a behavior?", "yesno", ()),
    ("Time-out is an example of ________.\nA. positive reinforcement\nB. negative punishment", "mcq", ()),
    ("How does the method of loci work?", "definition", ("method of loci",)),
])
def test_question_kinds_and_terms(question, kind, terms):
    shape = classify(question)
    assert shape.kind == kind
    assert shape.terms == terms


def test_explain_with_an_example_leads_with_the_definition():
    shape = classify("Explain operant conditioning simply with an example.")
    assert (shape.kind, shape.terms, shape.example_first) == ("example", ("operant conditioning",), False)
    assert classify("What is an example of proactive interference?").example_first


def test_sentence_filters():
    assert is_navigation("These learning processes will be discussed in detail later in the chapter.")
    assert is_navigation("Now that you know how learning works, let's take a look at memory.")
    assert is_navigation("The previous section of this chapter focused on classical conditioning.")
    assert needs_antecedent("These steps include attention, retention, reproduction, and motivation.")
    assert needs_antecedent("This is known as observational learning.")
    assert not needs_antecedent("Learning is a relatively permanent change in behavior.")


def test_defining_sentences_are_told_from_sentences_that_use_the_term():
    strong = ["Extinction is the decrease in the conditioned response.",
              "Beginning with Karl Lashley, researchers have been searching for the engram, which is the physical "
              "trace of memory.",
              "But unlike instincts and reflexes, learned behaviors involve change and experience: learning is a "
              "relatively permanent change in behavior or knowledge that results from experience."]
    weak = ["Shaping is often used in teaching a complex behavior.", "Shaping is needed because it is unlikely.",
            "The encoding of words and their meaning is known as semantic encoding."]
    terms = ["extinction", "engram", "learning"]
    assert [definition_strength(Sentence(0, 0, s), t) for s, t in zip(strong, terms)] == [1.0, 1.0, 1.0]
    assert [definition_strength(Sentence(0, 0, s), t) for s, t in zip(weak, ["shaping", "shaping", "encoding"])] \
        == [0.5, 0.5, 0.5]


def _first(text: str) -> str:
    from evals.metrics.teaching import first_sentence

    return first_sentence(text)


def test_definition_leads_with_the_defining_sentence(indexed_service, composer, finder):
    text, _ = _answer(indexed_service, composer, finder, "What is spontaneous recovery?")
    first = _first(text).lower()
    assert "return" in first and "extinguished" in first
    assert not text.startswith("Here is what")


def test_definition_found_outside_the_retrieved_passages(indexed_service, composer, finder):
    # The key-term entry sits in the section's "Key terms" chunk, which retrieval does not rank first.
    text, passages = _answer(indexed_service, composer, finder, "What is classical conditioning?")
    assert "[" in _first(text)
    assert score_first_sentence(text, ["associate | paired", "stimulus | stimuli"]).answers


def test_steps_lead_with_the_list(indexed_service, composer, finder):
    text, _ = _answer(indexed_service, composer, finder, "What are steps in the modeling process?")
    first = _first(text).lower()
    assert all(step in first for step in ("attention", "retention", "reproduction", "motivation"))


def test_comparison_gives_a_sentence_for_each_side(indexed_service, composer, finder):
    text, _ = _answer(indexed_service, composer, finder,
                      "What is the difference between positive and negative reinforcement?")
    from tutor.text import split_sentences

    first_two = " ".join(split_sentences(text)[:2]).lower()
    assert "positive reinforcement" in first_two and "negative reinforcement" in first_two


def test_example_is_given_when_asked(indexed_service, composer, finder):
    text, _ = _answer(indexed_service, composer, finder, "Give an example of negative reinforcement.")
    assert "for example" in _first(text).lower() or "seatbelt" in _first(text).lower()


def test_cause_answer_is_about_the_asked_thing(indexed_service, composer, finder):
    text, _ = _answer(indexed_service, composer, finder, "Why is gambling behavior so resistant to extinction?")
    assert score_key_facts(text, ["variable ratio", "extinction"]).coverage == 1.0


def test_yes_no_answer_states_the_fact(indexed_service, composer, finder):
    text, _ = _answer(indexed_service, composer, finder, "Does negative reinforcement decrease a behavior?")
    assert "increase" in _first(text).lower()


def test_answers_contain_no_navigation_or_dangling_sentences(indexed_service, composer, finder):
    from tutor.text import split_sentences, strip_citations

    for question in ("What is learning?", "What is observational learning?", "What is memory?"):
        text, _ = _answer(indexed_service, composer, finder, question)
        for sentence in split_sentences(text):
            plain = strip_citations(sentence).replace("**", "")
            assert not is_navigation(plain), (question, plain)
            assert not plain.endswith("?"), (question, plain)


@pytest.mark.parametrize("stem, negated", [
    ("Which of these is not a mammal?", True),
    ("Which of the following did the committee not recommend?", True),
    ("Who was not present at the signing?", True),
    ("During which phase is DNA not copied?", True),
    ("Which one isn't a primary colour?", True),
    ("Which of the following is NOT a vertebrate?", True),
    ("All of the following are prime numbers except:", True),
    # The "not" of a clause about the options, not of the question's own verb.
    ("Which of the following is the reason meat does not spoil?", False),
    ("Which of the following explains why bread does not go stale?", False),
    ("Which bacteria can grow where oxygen is not present?", False),
    ("Which term names a relationship in which one partner is not affected?", False),
    ("A stimulus that does not elicit a response is a(n) ________.", False),
    ("Which of the following is a mammal?", False),
])
def test_a_stem_asking_for_the_exception_is_told_from_one_that_mentions_a_negation(stem, negated):
    assert is_negated(stem) is negated


@pytest.mark.parametrize("stem, choices, letter", [
    ("Slot machines reward gamblers on a ________ schedule.",
     ["fixed interval", "fixed ratio", "variable interval", "variable ratio"], "D"),
    ("Which of the following is the first step in Bandura's modeling process?",
     ["motivation", "attention", "reproduction", "retention"], "B"),
    ("Which is the correct order of steps in the modeling process?",
     ["attention, retention, reproduction, motivation", "motivation, attention, reproduction, retention",
      "attention, motivation, retention, reproduction", "motivation, attention, retention, reproduction"], "A"),
    ("Rewarding successive approximations toward a target behavior is ________.",
     ["shaping", "extinction", "positive reinforcement", "negative reinforcement"], "A"),
    # "Which is not…": the option the passages leave out, whatever the case of the "not".
    ("Which of the following is not a schedule of reinforcement?",
     ["fixed ratio", "variable interval", "spontaneous recovery", "fixed interval"], "C"),
    ("All of the following are parts of Bandura's modeling process except:",
     ["attention", "retention", "extinction", "motivation"], "C"),
])
def test_multiple_choice_states_the_letter_first(indexed_service, composer, finder, stem, choices, letter):
    question = "\n".join([stem, *(f"{'ABCD'[i]}. {c}" for i, c in enumerate(choices))])
    text, _ = _answer(indexed_service, composer, finder, question)
    assert text.startswith(f"**{letter}. "), text
    assert score_first_sentence(text, [], right_letter=letter).answers
    assert "[1]" in text or "[2]" in text  # the supporting sentence is cited


@pytest.mark.parametrize("question", [
    "What is the serial position effect?", "What is habituation?", "What is the Premack principle?",
    "How does the method of loci work?", "What is iconic memory?", "Explain the Zeigarnik effect.",
])
def test_near_domain_terms_the_course_lacks_are_unsupported(indexed_service, finder, question):
    shape = classify(question)
    # Passages near the question exist (psychology is the field): the term check is what refuses.
    passages = indexed_service.retriever.search(question, k=5, apply_threshold=False)
    assert passages
    assert unsupported_terms(shape.terms, passages, finder) == list(shape.terms)


@pytest.mark.parametrize("question", [
    "What is latent learning?", "What is a flashbulb memory?", "What is chunking in memory?",
    "What is the Atkinson Shiffrin model?", "What are conditioned stimuli?",
])
def test_course_terms_are_supported(indexed_service, finder, question):
    shape = classify(question)
    assert unsupported_terms(shape.terms, indexed_service.retriever.search(question, k=5), finder) == []


def test_hint_withholds_the_answer_and_checks_an_attempt(indexed_service, composer, finder):
    question = "What is latent learning?"
    shape = classify(question)
    passages = with_definitions(shape.terms, indexed_service.retriever.search(question, k=5), finder)
    shaped = composer.shaper.shape(question, shape, passages)
    hint = make_hint(shaped.sentences[0], shaped.texts[0], shape.terms[0])
    assert hint.hidden and hint.hidden not in hint.shown
    assert "latent learning" in hint.shown.lower()
    assert check_attempt("it is not evident until there is a reason to demonstrate it", hint.hidden,
                         hint.shown).correct
    assert not check_attempt("learning by watching a model on television", hint.hidden, hint.shown).correct


def test_hint_turns_are_recognised_in_the_history():
    history = [Turn("user", "What is shaping?"), Turn("assistant", "Hint: look at **Shaping** [1]. …")]
    assert previous_hint(history) == ("What is shaping?", history[1].content)
    assert previous_hint([*history, Turn("user", "x"), Turn("assistant", "Shaping is…")]) is None
    assert wants_reveal("I don't know") and wants_reveal("show me") and not wants_reveal("rewarding steps")


def test_quiz_items_are_grounded_in_their_cited_quotes(indexed_service):
    chunks = indexed_service.retriever.indexed_chunks()[1]
    quiz = build_quiz("chapter 8", quiz_sources("chapter 8", [], chunks), chunks, count=5)
    assert len(quiz.items) == 5
    texts = {c.source: [] for c in chunks}
    for c in chunks:
        texts[c.source].append(c.text.replace("**", ""))
    for item in quiz.items:
        assert item.citations and all(c.source.startswith("psychology-2e/08-") for c in item.citations)
        quote = item.citations[0].quote
        assert any(quote in t for t in texts[item.citations[0].source]), quote
        if item.choices:
            assert len(item.choices) == 4 and item.answer in "ABCD"
            right = item.choices["ABCD".index(item.answer)]
            assert right.lower() in quote.lower()  # the key is the term the quoted entry defines
            assert grade(item, item.answer).correct and grade(item, right).correct
            wrong = next(letter for letter in "ABCD" if letter != item.answer)
            assert not grade(item, wrong).correct
        else:
            assert "________" in item.question and item.answer.lower() in quote.lower()
            assert grade(item, item.answer).correct and not grade(item, "the hippocampus").correct
    assert any(i.choices for i in quiz.items) and any(not i.choices for i in quiz.items)
    json.dumps(quiz.to_dict())  # the CLI's --json shape is plain data


def test_quiz_on_a_topic_draws_from_matching_sections(indexed_service):
    chunks = indexed_service.retriever.indexed_chunks()[1]
    ranked = [p.chunk.source for p in indexed_service.retriever.search("reinforcement", k=8)]
    quiz = build_quiz("reinforcement", quiz_sources("reinforcement", ranked, chunks), chunks, count=3)
    assert len(quiz.items) == 3
    assert "reinforce" in (quiz.items[0].question + " ".join(quiz.items[0].choices or [])).lower()


def test_key_fact_and_first_sentence_metrics():
    answer = "**shaping**: rewarding successive approximations toward a target behavior [1]. It is used with pets [2]."
    assert score_key_facts(answer, ["successive approximations", "target behavior"]).coverage == 1.0
    assert score_key_facts(answer, ["successive approximations", "extinction"]).missing == ["extinction"]
    assert score_key_facts(answer, ["x"], refused=True).coverage == 0.0
    assert score_key_facts(answer, []).coverage is None
    assert score_first_sentence(answer, ["reinforcer | approximations"]).answers
    assert not score_first_sentence("It is used with pets [2]. Shaping rewards approximations [1].",
                                    ["approximations"]).answers
    assert score_first_sentence("**B. attention** — Bandura described steps [1].", [], right_letter="B").answers
    assert not score_first_sentence("**C. retention** — …", [], right_letter="B").answers
    assert split_of("t-def-learning") in ("tune", "held") and split_of("x") == split_of("x")


def test_passages_of_key_term_entries_only_still_give_an_answer(composer):
    """A question whose retrieved passages are nothing but key-term lists (a book's glossary section)
    is answered from the entries; it used to crash the shaper (max() of no sentence)."""
    from tutor.models import Chunk, Passage

    glossary = Chunk(chunk_id="g1", source="book/03-2.md", title="Cells of the Nervous System",
                     section="Cells of the Nervous System › Key terms", position=9,
                     text="- **agonist**: drug that mimics or strengthens the effects of a neurotransmitter\n\n"
                          "- **antagonist**: drug that blocks or impedes the normal activity of a given neurotransmitter")
    for question in ("Why do some drugs block neurotransmitters?", "How do drugs act on neurotransmitters?"):
        answer = "".join(composer.stream(question, [Passage(chunk=glossary, score=1.0)]))
        assert "neurotransmitter" in answer and "[1]" in answer, answer


def test_a_steps_answer_does_not_lead_with_a_list_from_a_passage_about_something_else(composer):
    """"The two types of interference": a list sentence about sound (timbre: frequency, amplitude, and
    timing) is a list, but not of what was asked; the passage that names interference answers."""
    from tutor.models import Chunk, Passage

    def passage(n: int, text: str, section: str) -> Passage:
        return Passage(Chunk(f"c{n}", text, f"book/{n}.md", "Book", section, 0), score=1.0 - n / 10)

    memory = passage(0, "Interference is one reason we forget. Retroactive interference happens when information "
                        "learned more recently hinders the recall of older information. During proactive "
                        "interference, previously learned information interferes with the ability to learn "
                        "new information.", "Forgetting › Interference")
    sound = passage(1, "Different instruments can play the same note and still sound different. Timbre refers "
                       "to a sound's purity, and it is affected by the complex interplay of frequency, "
                       "amplitude, and timing of sound waves.", "Sound Waves")
    question = "Compare and contrast the two types of interference."
    shape = classify(question)
    assert shape.kind == "steps"
    shaped = composer.shaper.shape(question, shape, [memory, sound])
    assert "interference" in shaped.texts[0].lower(), shaped.texts
