"""What a question asks: its kind (definition, steps, cause, comparison, example, a pasted
multiple-choice item, yes/no) and the term(s) it is about. The offline answerer shapes its answer
by the kind, and the guard checks that the asked term is in the course at all.

Patterns rather than a trained classifier: the kinds are few, their wordings are conventional
("What is X?", "Why…", "difference between X and Y"), and a rule that misfires can be read and fixed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from tutor.retrieve import Query

QuestionKind = Literal["mcq", "definition", "steps", "cause", "comparison", "example", "yesno", "general"]
KINDS: tuple[QuestionKind, ...] = ("mcq", "definition", "steps", "cause", "comparison", "example", "yesno",
                                   "general")

_FLAGS = re.IGNORECASE
_EXAMPLE = re.compile(r"\b(examples?|for instance|illustrate|real[- ]life case)\b", _FLAGS)
_COMPARISON = re.compile(
    r"\b(differen(?:ce|ces|t|tiate)|differs?|compare[ds]?|comparison|contrast|distinguish|versus|vs\.?|"
    r"similarit(?:y|ies)|same as)\b", _FLAGS)
_STEPS = re.compile(
    r"^\s*(list|name|enumerate|outline)\b"
    r"|\b(steps?|stages?|phases?|types|kinds|forms|components|parts|functions|processes|ways|sins|errors|"
    r"schedules|systems|elements|factors|levels|categories)\b"
    r"|\bhow (?:many|does .* (?:work|happen|occur|proceed))\b", _FLAGS)
_CAUSE = re.compile(r"^\s*why\b|\bwhy (?:do|does|is|are|did|can|would)\b|\bwhat (?:causes?|leads? to|makes)\b"
                    r"|\breasons?\b|\bcauses?\b|\bhow come\b|\bexplain why\b", _FLAGS)
_YESNO = re.compile(r"^\s*(is|are|does|do|did|can|could|will|would|was|were|has|have|should|may)\b", _FLAGS)
_DEFINITION = re.compile(
    r"^\s*(?:so\s+|and\s+|ok(?:ay)?,?\s+|please\s+)?(?:"
    r"what(?:'s| is| are| was| were)\s+(?:meant by\s+)?(?P<a>.+?)"
    r"|what does\s+(?P<b>.+?)\s+(?:mean|refer to|stand for)"
    r"|(?:define|definition of|explain|describe|tell me about|meaning of)\s+(?P<c>.+?)"
    r"|who (?:is|was)\s+(?P<d>.+?)"
    r")\s*[?.!]*\s*$", _FLAGS)
_HOW_WORKS = re.compile(r"^\s*how (?:does|do|did|is|are)\s+(?P<t>.+?)\s+(?:work|happen|occur|form|develop)"
                        r"(?:ed|s)?\b", _FLAGS)
_WHAT_CAUSES = re.compile(r"^\s*what (?:causes?|leads? to|produces?)\s+(?P<t>.+?)\s*[?.!]*\s*$", _FLAGS)
_EXAMPLE_OF = re.compile(r"\bexamples?\s+of\s+(?P<t>.+?)\s*[?.!]*\s*$", _FLAGS)
# "the difference between X and Y", "compare X and/with/to Y", "X vs Y", "How is X different from Y".
_SIDES = [
    re.compile(r"\bdifferences?\s+(?:between|of)\s+(?P<x>.+?)\s+(?:and|&|vs\.?|versus)\s+(?P<y>.+?)\s*[?.!]*\s*$",
               _FLAGS),
    re.compile(r"\b(?:compare(?: and contrast)?|contrast|distinguish(?: between)?)\s+(?P<x>.+?)\s+"
               r"(?:and|with|to|from|vs\.?|versus)\s+(?P<y>.+?)\s*[?.!]*\s*$", _FLAGS),
    re.compile(r"\b(?:how|in what ways?)\s+(?:is|are|does|do)\s+(?P<x>.+?)\s+similar to and different from\s+"
               r"(?P<y>.+?)\s*[?.!]*\s*$", _FLAGS),
    re.compile(r"\b(?:how|in what ways?)\s+(?:is|are|does|do)\s+(?P<x>.+?)\s+(?:different|differ|distinct)\s+"
               r"(?:from|than)\s+(?P<y>.+?)\s*[?.!]*\s*$", _FLAGS),
    re.compile(r"^\s*(?:what is\s+)?(?P<x>.+?)\s+(?:vs\.?|versus)\s+(?P<y>.+?)\s*[?.!]*\s*$", _FLAGS),
]
# Words around a term that are not part of it: "operant conditioning simply with an example".
_TRAILING = re.compile(
    r"\s+(?:simply|briefly|in (?:simple|plain) (?:terms|words|english)|to me|for me|please|again|exactly|"
    r"with (?:an |some )?examples?|using (?:an )?examples?|and give .*|and how .*|in (?:this|the) (?:course|"
    r"chapter|book|section)|(?:in|of|from) (?:chapter|section) [\d.]+|mean|work|in psychology)\s*$", _FLAGS)
_LEADING = re.compile(r"^(?:the|a|an|so-called|term|concept(?: of)?|idea(?: of)?|process(?: of)?|what)\s+", _FLAGS)
# A term followed by the field it belongs to: "extinction in classical conditioning".
_CONTEXT = re.compile(r"^(?P<term>.+?)\s+(?:in|within|during|for)\s+(?P<context>.+)$", _FLAGS)
_WH_START = re.compile(r"^(?:how|why|what|when|where|which|who|whether|if|that)\b", _FLAGS)
_SHARED_HEAD = re.compile(r"^(?P<a>[\w-]+)\s+(?:and|or|vs\.?|versus)\s+(?P<b>[\w-]+)\s+(?P<head>[\w -]+)$", _FLAGS)


@dataclass(frozen=True)
class QuestionShape:
    """What the question asks, for shaping the answer."""

    kind: QuestionKind
    terms: tuple[str, ...] = ()  # the asked term(s): one for a definition, two sides of a comparison
    context: str | None = None  # the field a term is asked in ("classical conditioning")
    stem: str = ""
    choices: tuple[str, ...] = field(default=())
    example_first: bool = False  # "an example of X": the example leads; "explain X with an example": the definition

    @property
    def is_multiple_choice(self) -> bool:
        return self.kind == "mcq"


def clean_term(text: str) -> str:
    """The asked term without the question's framing: "the Premack principle simply" → "Premack principle"."""
    term = text.strip().strip("?.!\"'“”‘’ ")
    for _ in range(3):
        before = term
        term = _TRAILING.sub("", term).strip(" ,")
        term = _LEADING.sub("", term).strip(" ,")
        if term == before:
            break
    return term


def _split_term(raw: str) -> tuple[str, str | None]:
    term = clean_term(raw)
    match = _CONTEXT.match(term)
    if match and len(match.group("term").split()) <= 4:
        return clean_term(match.group("term")), clean_term(match.group("context"))
    return term, None


def _sides(question: str) -> tuple[str, ...]:
    # Only the first sentence names the sides: "Compare X and Y. How are they alike?"
    question = re.split(r"(?<=[.?!])\s+", question.strip())[0]
    for pattern in _SIDES:
        match = pattern.search(question)
        if match:
            raw_y = match.group("y").strip()
            x, y = clean_term(match.group("x")), clean_term(raw_y)
            x = re.sub(r"^(?:the\s+)?benefits of\s+", "", x, flags=_FLAGS)
            # "positive and negative reinforcement": both sides share the head noun (not "a reflex
            # and a learned behavior", where the article starts a side of its own).
            shared = _SHARED_HEAD.match(f"{x} and {y}") if len(x.split()) == 1 and not re.match(
                r"^(?:a|an|the)\s", raw_y, _FLAGS) else None
            if shared and len(y.split()) > 1:
                # "positive and negative reinforcement": both sides share the head noun.
                return (f"{x} {shared.group('head')}", y)
            if x and y:
                return (x, y)
    match = re.search(r"\b(?P<x>[\w-]+(?: [\w-]+)?)\s+and\s+(?P<y>[\w-]+(?: [\w-]+)?)\s*[?.!]*\s*$", question)
    if match:
        return (clean_term(match.group("x")), clean_term(match.group("y")))
    return ()


def asked_term(question: str) -> tuple[str | None, str | None]:
    """The term a question asks about, and the field it is asked in, when the wording names one:
    "What is habituation?" → ("habituation", None); "How does the method of loci work?" →
    ("method of loci", None). Questions about a situation ("Why do I forget…") name none."""
    text = question.strip()
    for pattern, group in ((_EXAMPLE_OF, "t"), (_WHAT_CAUSES, "t"), (_HOW_WORKS, "t")):
        match = pattern.search(text)
        if match:
            raw = match.group(group)
            if not _WH_START.match(raw) and len(raw.split()) <= 6:
                return _split_term(raw)
    match = _DEFINITION.match(text)
    if match:
        raw = next(g for g in match.group("a", "b", "c", "d") if g)
        if _WH_START.match(raw) or len(clean_term(raw).split()) > 6:
            return None, None
        term, context = _split_term(raw)
        if re.search(r"\b(differen\w*|compar\w*|between|steps?|stages?|types|kinds|ways|examples?|reasons?|causes?)\b",
                     term, _FLAGS):
            return None, None
        return (term or None), context
    return None, None


def classify(question: str) -> QuestionShape:
    """The shape of the answer the question asks for."""
    query = Query.parse(question)
    if query.choices:
        return QuestionShape("mcq", stem=query.stem, choices=query.choices)
    text = query.stem.strip()
    term, context = asked_term(text)
    terms = (term,) if term else ()
    if _EXAMPLE.search(text):
        example_first = bool(_EXAMPLE_OF.search(text) or re.search(r"\b(give|show|tell)\b", text, _FLAGS))
        return QuestionShape("example", terms, context, text, example_first=example_first)
    if _COMPARISON.search(text):
        sides = _sides(text)
        if sides:
            return QuestionShape("comparison", sides, None, text)
    if _CAUSE.search(text):
        return QuestionShape("cause", terms, context, text)
    if _STEPS.search(text) and not (term and len(term.split()) <= 3 and not _STEPS.search(term)):
        return QuestionShape("steps", (), None, text)
    if _YESNO.match(text):
        return QuestionShape("yesno", (), None, text)
    if term:
        return QuestionShape("definition", terms, context, text)
    return QuestionShape("general", (), None, text)
