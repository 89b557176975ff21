"""The answering stage as a LangGraph graph over one typed state:

    condense → retrieve → guard → (refuse | generate) → validate

condense rewrites a follow-up into a standalone question; retrieve finds passages; guard decides
whether the course answers at all, and the conditional edge after it sends the question to refuse
(a reply naming the nearest sections) or to generate (the offline composer or an LLM, citations
renumbered as the text streams by); validate turns the draft into the typed `Answer`: citations with
their quotes, uncited sentences flagged, a model's "not in the materials" made a refusal.

Text reaches the reader through LangGraph's "custom" stream mode while generate is still running;
the final state (the "values" mode) holds the Answer. `AnswerStream` separates the two for callers
(`st.write_stream(stream)`, then `stream.answer`). Teaching modes (explain, hint, quiz) are further
generators, or nodes routed to after guard.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any, Literal, TypedDict

from langchain_core.runnables import RunnableConfig
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph

from tutor.answer.citations import CitationRewriter, citations_for, tidy, uncited_sentences, weak_support
from tutor.answer.condense import Condenser
from tutor.answer.definitions import DefinitionFinder, unsupported_terms, with_definitions
from tutor.answer.questions import classify
from tutor.answer.tutoring import previous_hint
from tutor.answer.generators import Generator
from tutor.answer.guard import GuardConfig, GuardDecision, check, refusal_message
from tutor.answer.injection import InjectionClassifier
from tutor.errors import GenerationError, GenerationInterrupted
from tutor.models import Answer, Passage, Turn
from tutor.retrieve import Retriever

_CANCEL = "cancel"  # config key of the threading.Event that AnswerStream.close() sets


class AnswerState(TypedDict, total=False):
    """Everything one question's trip through the graph knows, each key written by one node."""

    question: str  # as the student typed it (input)
    history: list[Turn]  # the conversation so far, oldest first (input)
    mode: str  # "explain" (default) or "hint" (input)
    hinted: str | None  # condense: the question a hint was given for, when this message answers the hint
    standalone: str  # condense: the question rewritten to stand alone
    passages: list[Passage]  # retrieve: above the relevance threshold, what the generator may cite
    nearest: list[Passage]  # retrieve: the best regardless of threshold, named in a refusal
    decision: GuardDecision  # guard
    draft: str  # refuse | generate: the text streamed to the reader, citations renumbered
    compact: dict[int, int]  # generate: passage number → number shown
    incomplete: bool  # generate: stopped before the end (cut stream, timeout)
    error: str | None  # generate: a message for the reader when something went wrong
    answer: Answer  # validate (output)


class AnswerGraph:
    """Builds the graph once for one retriever, generator and condenser, and runs questions through it."""

    def __init__(self, retriever: Retriever, generator: Generator, condenser: Condenser, *, top_k: int = 5,
                 guard: GuardConfig = GuardConfig(), injection: InjectionClassifier | None = None) -> None:
        self.retriever = retriever
        self.generator = generator
        self.condenser = condenser
        self.top_k = top_k
        self.guard = guard
        self.injection = injection  # the guard's second signal; None: the explicit policy alone
        self.definitions = DefinitionFinder(retriever.chunks_mentioning) if retriever is not None else None
        builder = StateGraph(AnswerState)
        builder.add_node("condense", self._condense)
        builder.add_node("retrieve", self._retrieve)
        builder.add_node("guard", self._guard)
        builder.add_node("refuse", self._refuse)
        builder.add_node("generate", self._generate)
        builder.add_node("validate", self._validate)
        builder.add_edge(START, "condense")
        builder.add_edge("condense", "retrieve")
        builder.add_edge("retrieve", "guard")
        builder.add_conditional_edges("guard", _route, {"refuse": "refuse", "generate": "generate"})
        builder.add_edge("refuse", "validate")
        builder.add_edge("generate", "validate")
        builder.add_edge("validate", END)
        self.graph = builder.compile()

    def stream(self, question: str, history: Sequence[Turn] = (), mode: str = "explain") -> AnswerStream:
        return AnswerStream(self.graph, {"question": question, "history": list(history), "mode": mode})

    def invoke(self, question: str, history: Sequence[Turn] = (), mode: str = "explain") -> Answer:
        return self.graph.invoke({"question": question, "history": list(history), "mode": mode})["answer"]

    # --- nodes ------------------------------------------------------------------------------------

    def _condense(self, state: AnswerState) -> AnswerState:
        question, history = state["question"], state["history"]
        if state.get("mode") == "hint":
            # A reply to a hint ("show me", or the student's attempt) is about the hinted question.
            hinted = previous_hint(history)
            if hinted is not None:
                return {"standalone": hinted[0], "hinted": hinted[0]}
        return {"standalone": self.condenser.condense(history, question) if history else question.strip(),
                "hinted": None}

    def _retrieve(self, state: AnswerState) -> AnswerState:
        question = state["standalone"]
        passages = self.retriever.search(question, k=self.top_k)
        nearest = passages or self.retriever.search(question, k=self.guard.nearest_sections, apply_threshold=False)
        shape = classify(question)
        if passages and self.definitions is not None and shape.kind in ("definition", "example", "comparison"):
            # The passage that defines the asked term, when retrieval ranked only passages about it.
            passages = with_definitions(shape.terms, passages, self.definitions)
        return {"passages": passages, "nearest": nearest}

    def _guard(self, state: AnswerState) -> AnswerState:
        # The policy also reads what the student typed: a rewrite must not hide a request.
        relevance = self.retriever.relevance(state["standalone"], state["passages"]) if state["passages"] else None
        decision = check(state["standalone"], state["passages"], state["nearest"], self.guard,
                         typed=state["question"], injection=self.injection, relevance=relevance)
        if not decision.refused and self.definitions is not None:
            # Honest scope: the asked term itself must be in the course, not merely its field
            # ("What is habituation?" retrieves passages on learning, none of which names it).
            shape = classify(state["standalone"])
            if shape.terms and shape.kind != "mcq" and unsupported_terms(
                    shape.terms, state["passages"], self.definitions, lenient=shape.kind == "comparison"):
                near = [p for p in state["nearest"] if (p.dense_score or 0.0) >= self.guard.near_section_relevance]
                decision = GuardDecision(True, "not_in_course",
                                         refusal_message("not_in_course", near, self.guard.nearest_sections))
        return {"decision": decision}

    def _refuse(self, state: AnswerState) -> AnswerState:
        message = state["decision"].message or ""
        get_stream_writer()(message)
        return {"draft": message}

    def _generate(self, state: AnswerState, config: RunnableConfig) -> AnswerState:
        write = get_stream_writer()
        cancel: threading.Event | None = config.get("configurable", {}).get(_CANCEL)
        rewriter = CitationRewriter(len(state["passages"]))
        parts: list[str] = []
        incomplete, error = False, None

        def show(text: str) -> None:
            if text:
                parts.append(text)
                write(text)

        deltas = self.generator.stream(state["standalone"], state["passages"], state["history"],
                                       mode=state.get("mode") or "explain", reply=state["question"]
                                       if state.get("hinted") else None)
        try:
            for delta in deltas:
                if cancel is not None and cancel.is_set():
                    break  # the reader left: stop the model now (closing `deltas` ends its HTTP stream)
                show(rewriter.feed(delta))
        except GenerationError as exc:  # GenerationInterrupted included: a deadline may pass before any text
            if "".join(parts).strip():  # whitespace alone is no answer: the reader gets the message
                incomplete, error = True, str(exc)
            else:
                show(f"Sorry, I could not write an answer just now: {exc}")
                incomplete, error = isinstance(exc, GenerationInterrupted), str(exc)
        finally:
            close = getattr(deltas, "close", None)
            if close is not None:
                close()
        show(rewriter.flush())
        return {"draft": "".join(parts), "compact": rewriter.compact, "incomplete": incomplete, "error": error}

    def _validate(self, state: AnswerState) -> AnswerState:
        decision = state["decision"]
        nearest = state["nearest"]
        standalone = state["standalone"] if state["standalone"] != state["question"].strip() else None
        common: dict[str, Any] = dict(question=state["question"], standalone_question=standalone,
                                      mode=self.generator.name)
        if decision.refused:
            return {"answer": Answer(text=state["draft"].strip(), citations=[], passages=nearest, refused=True,
                                     refusal_reason=decision.reason, **common)}
        passages, compact = state["passages"], state["compact"]
        text = tidy(state["draft"])
        if not compact and self.generator.declined(text):
            # The model found the passages do not answer: that is a refusal, shown as one.
            message = refusal_message("not_in_course", nearest, self.guard.nearest_sections)
            return {"answer": Answer(text=message, citations=[], passages=nearest, refused=True,
                                     refusal_reason="not_in_course", **common)}
        citations = citations_for(text, passages, compact)
        weak, unsupported = weak_support(text, citations, passages)
        return {"answer": Answer(text=text, citations=citations, passages=passages,
                                 incomplete=state["incomplete"], error=state["error"],
                                 uncited_sentences=uncited_sentences(text), weak_citations=weak,
                                 unsupported_sentences=unsupported, **common)}


def _route(state: AnswerState) -> Literal["refuse", "generate"]:
    return "refuse" if state["decision"].refused else "generate"


class AnswerStream:
    """Text deltas as they are generated; `answer` is set once iteration has finished."""

    def __init__(self, graph: Any, inputs: AnswerState) -> None:
        self._cancel = threading.Event()
        self._items: Iterator[tuple[str, Any]] = graph.stream(
            inputs, {"configurable": {_CANCEL: self._cancel}}, stream_mode=["custom", "values"])
        self.answer: Answer | None = None

    def __iter__(self) -> Iterator[str]:
        for mode, item in self._items:
            if mode == "custom":
                yield item
            elif "answer" in item:
                self.answer = item["answer"]

    def close(self) -> None:
        """Stop generating (the reader left): the generate node stops at the next delta and closes
        the model's HTTP stream, now rather than when the model would have finished."""
        self._cancel.set()
        close = getattr(self._items, "close", None)
        if close is not None:
            close()


def mermaid() -> str:
    """The graph as a Mermaid diagram, drawn from the wiring above (docs/architecture.md shows it).
    Drawing needs no retriever or model: the nodes are not run."""
    return AnswerGraph(None, None, None).graph.get_graph().draw_mermaid()  # type: ignore[arg-type]


if __name__ == "__main__":
    print(mermaid())
