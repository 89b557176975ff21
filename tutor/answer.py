"""The answering chain, a LangChain runnable pipeline:

    condense → retrieve → guard → generate → validate

condense rewrites a follow-up into a standalone question; retrieve finds passages; guard refuses
what the course does not answer; generate streams text from the offline composer or an LLM;
validate keeps only citations [n] that point at a retrieved passage, renumbers them compactly as
the text streams by, attaches the quoted sentence(s) to each and flags sentences that cite nothing.

The chain streams two kinds of items: text deltas (str) and, last, the finished `Answer`.
`AnswerStream` separates them for callers (`st.write_stream(stream)`, then `stream.answer`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.runnables import Runnable, RunnableGenerator, RunnableLambda, RunnablePassthrough

from tutor.compose import CITATION, LEAD_IN, content_stems, split_sentences
from tutor.errors import GenerationError
from tutor.generate import GenerationInterrupted, Generator
from tutor.guard import GuardConfig, GuardDecision, check, refusal_message
from tutor.models import Answer, Citation, Passage, Turn
from tutor.prompts import NOT_IN_MATERIALS
from tutor.retrieve import Retriever

# A tail that may still become a citation once the next delta arrives: "[", "[1", "[1, ".
_OPEN_CITATION = re.compile(r"\[[\d,\s]*$")

Condenser = Callable[[Sequence[Turn], str], str]


@dataclass
class _Started:
    """Opens a generation: the validate step needs the passage count before the first delta."""

    passage_count: int


@dataclass
class _Draft:
    """What generation produced, handed from the generate step to the validate step."""

    state: dict[str, Any]
    incomplete: bool = False
    error: str | None = None


@dataclass
class _Retrieved:
    passages: list[Passage]  # above the relevance threshold: what the generator may cite
    nearest: list[Passage]  # the best regardless of threshold: named in a refusal


class CitationRewriter:
    """Rewrites citations in streamed text: [n] of a retrieved passage becomes its compact number
    (in order of first use), any other [n] is dropped. Holds back a possible partial "[1" until
    the next delta shows whether it is a citation."""

    def __init__(self, passage_count: int) -> None:
        self.passage_count = passage_count
        self.compact: dict[int, int] = {}  # passage number (1-based) → number shown
        self._pending = ""

    def feed(self, delta: str) -> str:
        text = self._pending + delta
        open_tail = _OPEN_CITATION.search(text)
        cut = open_tail.start() if open_tail else len(text)
        self._pending = text[cut:]
        return CITATION.sub(self._replace, text[:cut])

    def flush(self) -> str:
        """The held-back tail at the end of the text: a "[1" never closed (a cut stream) is dropped."""
        text, self._pending = self._pending, ""
        return _OPEN_CITATION.sub("", text)

    def _replace(self, match: re.Match[str]) -> str:
        shown = []
        for number in (int(n) for n in match.group(1).split(",")):
            if 1 <= number <= self.passage_count:
                shown.append(self.compact.setdefault(number, len(self.compact) + 1))
        return "".join(f"[{n}]" for n in dict.fromkeys(shown))


class AnswerChain:
    """Builds and runs the runnable pipeline for one retriever, generator and condenser."""

    def __init__(self, retriever: Retriever, generator: Generator, condenser: Condenser, *, top_k: int = 5,
                 guard: GuardConfig = GuardConfig()) -> None:
        self.retriever = retriever
        self.generator = generator
        self.condenser = condenser
        self.top_k = top_k
        self.guard = guard
        self.runnable: Runnable = (
            RunnablePassthrough.assign(standalone=RunnableLambda(self._condense, name="condense"))
            | RunnablePassthrough.assign(retrieved=RunnableLambda(self._retrieve, name="retrieve"))
            | RunnablePassthrough.assign(decision=RunnableLambda(self._guard, name="guard"))
            | RunnableGenerator(self._generate, name="generate")
            | RunnableGenerator(self._validate, name="validate")
        )

    def stream(self, question: str, history: Sequence[Turn] = ()) -> AnswerStream:
        return AnswerStream(self.runnable.stream({"question": question, "history": list(history)}))

    def invoke(self, question: str, history: Sequence[Turn] = ()) -> Answer:
        stream = self.stream(question, history)
        for _ in stream:
            pass
        assert stream.answer is not None  # validate always ends with the Answer
        return stream.answer

    # --- steps ------------------------------------------------------------------------------------

    def _condense(self, state: dict[str, Any]) -> str:
        history: list[Turn] = state["history"]
        return self.condenser(history, state["question"]) if history else state["question"].strip()

    def _retrieve(self, state: dict[str, Any]) -> _Retrieved:
        question = state["standalone"]
        passages = self.retriever.search(question, k=self.top_k)
        nearest = passages or self.retriever.search(question, k=self.guard.nearest_sections, apply_threshold=False)
        return _Retrieved(passages, nearest)

    def _guard(self, state: dict[str, Any]) -> GuardDecision:
        retrieved: _Retrieved = state["retrieved"]
        # The policy also reads what the student typed: a rewrite must not hide a request.
        return check(state["standalone"], retrieved.passages, retrieved.nearest, self.guard, typed=state["question"])

    def _generate(self, chunks: Iterator[dict[str, Any]]) -> Iterator[str | _Started | _Draft]:
        # Streaming RunnablePassthrough.assign emits the input and each assigned key as separate
        # chunks: the state is their union.
        state: dict[str, Any] = {}
        for chunk in chunks:
            state.update(chunk)
        decision: GuardDecision = state["decision"]
        yield _Started(0 if decision.refused else len(state["retrieved"].passages))
        if decision.refused:
            yield decision.message or ""
            yield _Draft(state)
            return
        produced = False
        try:
            for delta in self.generator.stream(state["standalone"], state["retrieved"].passages, state["history"]):
                produced = produced or bool(delta)
                yield delta
        except GenerationInterrupted as exc:
            yield _Draft(state, incomplete=True, error=str(exc))
        except GenerationError as exc:
            if produced:
                yield _Draft(state, incomplete=True, error=str(exc))
            else:
                yield f"Sorry, I could not write an answer just now: {exc}"
                yield _Draft(state, error=str(exc))
        else:
            yield _Draft(state)

    def _validate(self, items: Iterator[str | _Started | _Draft]) -> Iterator[str | Answer]:
        rewriter = CitationRewriter(0)
        parts: list[str] = []
        for item in items:
            if isinstance(item, _Started):
                rewriter, parts = CitationRewriter(item.passage_count), []
            elif isinstance(item, _Draft):
                tail = rewriter.flush()
                if tail:
                    parts.append(tail)
                    yield tail
                yield self._finish(item, "".join(parts), rewriter.compact)
            else:
                shown = rewriter.feed(item)
                if shown:
                    parts.append(shown)
                    yield shown

    def _finish(self, draft: _Draft, text: str, compact: dict[int, int]) -> Answer:
        state = draft.state
        decision: GuardDecision = state["decision"]
        retrieved: _Retrieved = state["retrieved"]
        standalone = state["standalone"] if state["standalone"] != state["question"].strip() else None
        if decision.refused:
            return Answer(question=state["question"], text=text.strip(), citations=[], passages=retrieved.nearest,
                          refused=True, refusal_reason=decision.reason, standalone_question=standalone,
                          mode=self.generator.name)
        passages = retrieved.passages
        text = _tidy(text)
        if not compact and declined(text):
            # The model found the passages do not answer: that is a refusal, shown as one.
            message = refusal_message("not_in_course", retrieved.nearest, self.guard.nearest_sections)
            return Answer(question=state["question"], text=message, citations=[], passages=retrieved.nearest,
                          refused=True, refusal_reason="not_in_course", standalone_question=standalone,
                          mode=self.generator.name)
        return Answer(question=state["question"], text=text, citations=citations_for(text, passages, compact),
                      passages=passages, incomplete=draft.incomplete, error=draft.error,
                      uncited_sentences=uncited_sentences(text), standalone_question=standalone,
                      mode=self.generator.name)


class AnswerStream:
    """Text deltas as they are generated; `answer` is set once iteration has finished."""

    def __init__(self, items: Iterator[str | Answer]) -> None:
        self._items = items
        self.answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        for item in self._items:
            if isinstance(item, Answer):
                self.answer = item
            else:
                yield item

    def close(self) -> None:
        """Stop generating (the reader left): closes the chain's generators and so the model's
        HTTP stream, now rather than whenever garbage collection gets to them."""
        close = getattr(self._items, "close", None)
        if close is not None:
            close()


def citations_for(text: str, passages: Sequence[Passage], compact: dict[int, int]) -> list[Citation]:
    """One Citation per number shown, quoting the passage sentence(s) the citing sentences rely on."""
    by_shown = {shown: passages[number - 1] for number, shown in compact.items()}
    citing: dict[int, list[str]] = {shown: [] for shown in by_shown}
    for sentence in split_sentences(text):
        for match in CITATION.finditer(sentence):
            for shown in (int(n) for n in match.group(1).split(",")):
                if shown in citing:
                    citing[shown].append(CITATION.sub("", sentence))
    citations = []
    for shown in sorted(by_shown):
        chunk = by_shown[shown].chunk
        citations.append(Citation(n=shown, chunk_id=chunk.chunk_id, source=chunk.source, title=chunk.title,
                                  section=chunk.section, quote=quote_for(citing[shown], chunk.text)))
    return citations


def quote_for(citing_sentences: Sequence[str], passage_text: str) -> str:
    """For each citing sentence, the passage sentence sharing most words with it; in passage order."""
    sentences = split_sentences(passage_text)
    if not sentences:
        return passage_text.strip()
    stems = [content_stems(s) for s in sentences]
    chosen: set[int] = set()
    for claim in citing_sentences or [passage_text[:200]]:
        claim_stems = content_stems(claim)
        best = max(range(len(sentences)), key=lambda i: (len(stems[i] & claim_stems) / (len(claim_stems) or 1), -i))
        chosen.add(best)
    return " ".join(sentences[i] for i in sorted(chosen))


def declined(text: str) -> bool:
    """True when the text is the reply the LLM is told to give when the passages do not answer."""
    core = NOT_IN_MATERIALS.rstrip(".").lower()
    return core in text.lower() and len(split_sentences(text)) <= 2


def uncited_sentences(text: str) -> list[str]:
    """Answer sentences that make a claim without citing anything. Lead-ins ("...say:") and very
    short connective lines are not claims."""
    flagged = []
    for sentence in split_sentences(text):
        if CITATION.search(sentence) or sentence == LEAD_IN or sentence.endswith(":") or len(sentence.split()) < 5:
            continue
        flagged.append(sentence)
    return flagged


def _tidy(text: str) -> str:
    """Whitespace left behind by dropped citations: "storage ." → "storage.", "stored  and"."""
    return re.sub(r"[ \t]{2,}", " ", re.sub(r"[ \t]+([.,;:!?])", r"\1", text)).strip()
