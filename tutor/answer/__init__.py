"""The answering stage: a question and its conversation in, a typed `Answer` with citations out.

    graph.py        the state and the wiring: condense → retrieve → guard → (refuse | generate) → validate
    condense.py     follow-ups rewritten as standalone questions (offline or by the LLM)
    guard.py        what the course cannot answer, and the refusal that says so
    citations.py    renumbering, quoting and checking the [n] citations
    prompts.py      the LLM's prompts (passages fenced as untrusted data)
    generators/     the answerers: offline (extractive), openai (any compatible endpoint), scripted (tests)
"""

from tutor.answer.graph import AnswerGraph, AnswerState, AnswerStream

__all__ = ["AnswerGraph", "AnswerState", "AnswerStream"]
