"""The offline generator that teaches: it decides what the question asks (tutor/questions.py),
leads with the sentence that answers it (tutor/answer_shape.py) or, for a pasted multiple-choice
item, with the chosen letter (tutor/choices.py), and cites every sentence [n]. Deterministic; its
only words of its own are the letter line and the "why not" line of a multiple-choice answer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from tutor.answer_shape import AnswerShaper, Sentence, definition_strength, passage_sentences, readable, render_glossary
from tutor.choices import OptionPicker
from tutor.compose import OfflineComposer, _cite
from tutor.models import Passage, Turn
from tutor.questions import QuestionShape, classify
from tutor.retrieve import QueryEmbeddingCache


class TeachingComposer(OfflineComposer):
    """Generator "offline": shaped by the question's kind, every sentence cited."""

    name = "offline"

    def __init__(self, queries: QueryEmbeddingCache, **options) -> None:
        super().__init__(queries, **options)
        self.shaper = AnswerShaper(self.similarity, max_sentences=self.max_sentences)
        self.picker = OptionPicker(self.similarity)

    def similarity(self, query: str, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        vectors = self._sentence_vectors([" ".join(t.split()[:40]) for t in texts])
        return [float(v) for v in vectors @ np.asarray(self.queries.embed_query(query))]

    def stream(self, question: str, passages: Sequence[Passage], history: Sequence[Turn] = ()) -> Iterator[str]:
        shape = classify(question)
        if shape.is_multiple_choice:
            yield from self._multiple_choice(shape, passages)
            return
        shaped = self.shaper.shape(question, shape, passages)
        previous = None
        for sentence, text in zip(shaped.sentences, shaped.texts):
            if previous is not None:
                yield "\n\n" if sentence.passage != previous else " "
            previous = sentence.passage
            yield _cite(text, sentence.passage + 1)

    def _multiple_choice(self, shape: QuestionShape, passages: Sequence[Passage]) -> Iterator[str]:
        sentences = [s for s in passage_sentences(passages, max_passages=len(passages))
                     if readable(s) or (s.evidence_only and len(s.text.split()) >= 3)]
        pick = self.picker.pick(shape.stem, shape.choices, sentences)
        if pick.chosen is None:
            close = [o for o in sorted(pick.options, key=lambda o: -o.score)[:2]]
            names = " and ".join(f"{o.letter} ({o.choice})" for o in close)
            yield f"The course passages do not clearly settle which option is right; the closest are {names}."
            for option in close:
                if option.sentence is not None:
                    yield " " + _cite(_text(option.sentence), option.sentence.passage + 1)
            return
        chosen = pick.chosen
        if pick.negated:
            support = next((o for o in sorted(pick.options, key=lambda o: -o.score) if o.sentence), None)
            yield f"**{chosen.letter}. {chosen.choice}** — the passages support the other options, not this one"
            if support and support.sentence:
                yield ": " + _cite(_text(support.sentence), support.sentence.passage + 1)
            else:
                yield "."
            return
        assert chosen.sentence is not None
        yield f"**{chosen.letter}. {chosen.choice}** — " + _cite(_text(chosen.sentence), chosen.sentence.passage + 1)
        runner = pick.runner_up
        if runner is not None and runner.sentence is not None and runner.sentence.key != chosen.sentence.key \
                and _defines(runner.sentence, runner.choice):
            yield (f"\n\nNot {runner.letter} ({runner.choice}): "
                   + _cite(_text(runner.sentence), runner.sentence.passage + 1))


def _text(sentence: Sentence) -> str:
    if sentence.glossary_term:
        return render_glossary(sentence, sentence.glossary_term)
    return sentence.text


def _defines(sentence: Sentence, choice: str) -> bool:
    return definition_strength(sentence, choice) >= 0.8
