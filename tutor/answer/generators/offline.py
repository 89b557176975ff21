"""The offline generator: answers with the passages' own sentences, so it cannot say anything the
course does not, and shapes them to teach. It decides what the question asks (questions.py), leads
with the sentence that answers it — the defining sentence, the list of steps, the causes, a sentence
for each side of a comparison, the example — and follows with a few supporting sentences that read on
their own (shape.py); a pasted multiple-choice item gets the chosen letter first, its supporting
sentence, and why the runner-up is wrong when the passages say so (choices.py). Every sentence is
cited [n]; its only words of its own are the letter line and the "Not C (…)" line.

Sentence vectors are cached by text: the passages of a conversation's follow-ups, or of a question
asked twice, are embedded once.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence

import numpy as np

from tutor.answer.choices import OptionPicker, OptionSupport
from tutor.answer.questions import QuestionShape, classify
from tutor.answer.shape import AnswerShaper, ShapedAnswer, Sentence, definition_strength, passage_sentences, \
    readable, render_glossary
from tutor.answer.tutoring import Hint, check_attempt, choice_hint, hint_text, make_hint, wants_reveal
from tutor.models import Passage, Turn
from tutor.retrieve import QueryEmbeddingCache
from tutor.text import cite, heading_label

# Kept for answers written before the shaped composer (and recognised as no claim by the validator).
LEAD_IN = "Here is what the course materials say:"


class OfflineComposer:
    """Generator "offline": shaped by the question's kind, deterministic, every sentence cited."""

    name = "offline"
    uses_llm = False

    def __init__(self, queries: QueryEmbeddingCache, *, max_sentences: int = 4, embed_words: int = 40,
                 redundancy: float = 0.8) -> None:
        self.queries = queries
        self.max_sentences = max_sentences
        self.embed_words = embed_words
        self.redundancy = redundancy
        self.shaper = AnswerShaper(self.similarity, max_sentences=max_sentences, redundancy=redundancy)
        self.picker = OptionPicker(self.similarity)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = 4096
        self._lock = threading.Lock()

    def similarity(self, query: str, texts: Sequence[str]) -> list[float]:
        """MiniLM cosine of the query to each text (a sentence's first `embed_words` words carry its
        topic and bound the encoder's work)."""
        if not texts:
            return []
        vectors = self._sentence_vectors([" ".join(t.split()[:self.embed_words]) for t in texts])
        return [float(v) for v in vectors @ np.asarray(self.queries.embed_query(query))]

    def shape(self, question: str, passages: Sequence[Passage]) -> ShapedAnswer:
        """The explain-mode answer's sentences (hint mode cuts the first one)."""
        return self.shaper.shape(question, classify(question), passages)

    def stream(self, question: str, passages: Sequence[Passage], history: Sequence[Turn] = (), *,
               mode: str = "explain", reply: str | None = None) -> Iterator[str]:
        if mode == "hint":
            yield from self._hint(question, passages, reply)
            return
        yield from self._explain(question, passages)

    def _explain(self, question: str, passages: Sequence[Passage]) -> Iterator[str]:
        shape = classify(question)
        if shape.is_multiple_choice:
            yield from self._multiple_choice(shape, passages)
            return
        shaped = self.shaper.shape(question, shape, passages)
        previous = None
        for sentence, text in zip(shaped.sentences, shaped.texts):
            if previous is not None:
                # A new paragraph when the answer moves to another passage keeps sources visually apart.
                yield "\n\n" if sentence.passage != previous else " "
            previous = sentence.passage
            yield cite(text, sentence.passage + 1)

    def _hint(self, question: str, passages: Sequence[Passage], reply: str | None) -> Iterator[str]:
        """A Socratic turn: point to the section and have the student finish the answer sentence; on
        the next message, check the attempt (or honour "show me") and reveal the answer."""
        hint = self.hint_for(question, passages)
        if hint is None:
            return
        if reply is None:
            chunk = passages[hint.passage].chunk
            yield hint_text(hint, heading_label(chunk.title, chunk.section))
            return
        if wants_reveal(reply):
            yield "Here is the answer from the course. "
        elif hint.choice_letter:
            letter = re.match(r"^\W*([A-Ja-j])\b", reply)
            right = bool(letter and letter.group(1).upper() == hint.choice_letter) or (
                hint.hidden.lower() in reply.lower())
            yield "Yes — that is what the course says. " if right else "Not quite. "
        else:
            check = check_attempt(reply, hint.hidden, hint.shown)
            yield "Yes — that matches the course. " if check.correct else "Not quite: here is what the course says. "
        yield from self._explain(question, passages)

    def hint_for(self, question: str, passages: Sequence[Passage]) -> Hint | None:
        """The hint for a question: deterministic, so the turn that checks an attempt rebuilds it."""
        shape = classify(question)
        if shape.is_multiple_choice:
            sentences = [s for s in passage_sentences(passages, max_passages=len(passages)) if readable(s)]
            pick = self.picker.pick(shape.stem, shape.choices, sentences)
            if pick.chosen is None or pick.chosen.sentence is None or pick.negated:
                return None
            return choice_hint(pick.chosen.sentence, _text(pick.chosen.sentence), pick.chosen.choice,
                               pick.chosen.letter)
        shaped = self.shaper.shape(question, shape, passages)
        if not shaped.sentences:
            return None
        return make_hint(shaped.sentences[0], shaped.texts[0], shape.terms[0] if shape.terms else None)

    def _multiple_choice(self, shape: QuestionShape, passages: Sequence[Passage]) -> Iterator[str]:
        sentences = [s for s in passage_sentences(passages, max_passages=len(passages))
                     if readable(s) or (s.evidence_only and len(s.text.split()) >= 3)]
        pick = self.picker.pick(shape.stem, shape.choices, sentences)
        if pick.chosen is None and pick.negated:
            # "Which is not…" and two options are about equally unsupported: name them, and show
            # what the passages do say about the others.
            close = sorted(pick.options, key=lambda o: o.score)[:2]
            names = " and ".join(f"{o.letter} ({o.choice})" for o in close)
            yield ("The course passages do not clearly settle which option is the exception; the least "
                   f"supported are {names}.")
            if support := _other_options_support(pick.options, exclude={o.letter for o in close}):
                yield " They do say: " + support
            return
        if pick.chosen is None:
            close = [o for o in sorted(pick.options, key=lambda o: -o.score)[:2]]
            names = " and ".join(f"{o.letter} ({o.choice})" for o in close)
            yield f"The course passages do not clearly settle which option is right; the closest are {names}."
            for option in close:
                if option.sentence is not None:
                    yield " " + cite(_text(option.sentence), option.sentence.passage + 1)
            return
        chosen = pick.chosen
        if pick.negated:
            yield f"**{chosen.letter}. {chosen.choice}** — the passages support the other options, not this one"
            support = _other_options_support(pick.options, exclude={chosen.letter})
            yield ": " + support if support else "."
            return
        assert chosen.sentence is not None
        yield f"**{chosen.letter}. {chosen.choice}** — " + cite(_text(chosen.sentence), chosen.sentence.passage + 1)
        runner = pick.runner_up
        if runner is not None and runner.sentence is not None and runner.sentence.key != chosen.sentence.key \
                and _defines(runner.sentence, runner.choice):
            yield (f"\n\nNot {runner.letter} ({runner.choice}): "
                   + cite(_text(runner.sentence), runner.sentence.passage + 1))


    def _sentence_vectors(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            fresh = self.queries.embed_documents(missing)
            with self._lock:
                self._cache.update(zip(missing, fresh))
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        with self._lock:
            return np.stack([self._cache[t] for t in texts])

    def knobs(self) -> dict[str, float | int]:
        """Its tuning knobs, recorded in eval reports."""
        picker = self.picker
        return {"max_sentences": self.max_sentences, "embed_words": self.embed_words, "redundancy": self.redundancy,
                "choice_margin": picker.margin, "choice_stem_weight": picker.stem_weight,
                "choice_mention_weight": picker.mention_weight, "choice_both_bonus": picker.both_bonus}

    def declined(self, text: str) -> bool:
        return False  # it answers with passage sentences or not at all (an empty answer)


def _text(sentence: Sentence) -> str:
    if sentence.glossary_term:
        return render_glossary(sentence, sentence.glossary_term)
    return sentence.text


def _other_options_support(options: Sequence[OptionSupport], exclude: set[str], limit: int = 3) -> str:
    """The cited sentences backing the options a "Which is not…" answer leaves out, from the
    highest-ranked passage first (the section the question is most likely about), each sentence
    once; empty when the passages back none of them."""
    backed = sorted((o for o in options if o.letter not in exclude and o.sentence is not None),
                    key=lambda o: (o.sentence.passage, -o.score))
    sentences = list({o.sentence.key: o.sentence for o in backed}.values())[:limit]
    return " ".join(cite(_text(s), s.passage + 1) for s in sentences)


def _defines(sentence: Sentence, choice: str) -> bool:
    return definition_strength(sentence, choice) >= 0.8
