"""The shape of an offline answer: which passage sentence leads (the answer itself), which may
follow, and which never should.

A tutor's first sentence must answer: the defining sentence of the asked term, the sentence that
lists the steps, the causes, a sentence for each side of a comparison, an example when one is
asked, the chosen letter of a multiple-choice item. What follows must read on its own: no sentence
that leans on a missing antecedent ("This…", "These…"), no navigation ("later in the chapter"),
no questions from the text, no near-repeats.

Everything here is pure: passages in, sentences out. Relevance comes from a `Similarity` function
(MiniLM in the service, a deterministic stand-in in unit tests).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tutor.text import content_stems, split_sentences
from tutor.directives import is_directive
from tutor.models import Passage
from tutor.answer.questions import QuestionShape

# similarity(query, texts) → one cosine per text
Similarity = Callable[[str, Sequence[str]], Sequence[float]]

_GLOSSARY_LINE = re.compile(r"^\s*[-*]\s+\*\*(?P<term>[^*]{2,80})\*\*\s*:\s*(?P<definition>\S.*)$")
_BLOCKQUOTE = re.compile(r"^\s*>\s?")
_PARENTHETICAL_FIGURE = re.compile(r"\s*\((?:see|as shown in|shown in)\s+(?:the\s+)?(?:figure|table)s?[^)]*\)",
                                   re.IGNORECASE)
_CITATION_IN_TEXT = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")
# Sentences that point around the book instead of saying something.
_NAVIGATION = re.compile(
    r"\b(later|earlier|elsewhere) in (?:this|the) (?:chapter|section|book|text|module)\b"
    r"|\b(?:in|of) (?:the|this) (?:next|previous|following|last|preceding) (?:section|chapter|module)\b"
    r"|\b(?:the|this) (?:previous|next|preceding) section\b"
    r"|\b(?:this|the current|the present) (?:section|chapter|module) (?:will|focuses|discusses|covers|examines|describes|"
    r"explores|looks|introduces)\b|\b(?:in|throughout) this (?:section|chapter)\b"
    r"|\bwill be (?:discussed|covered|described|explained|examined|explored)\b"
    r"|\bas (?:we|you)(?:[’']ve)? (?:just |have |will |may )?(?:discussed|learned|saw|read|see|recall|remember|know|"
    r"come to see)\b"
    r"|\bnow that (?:you|we)\b|\blet[’']?s\b|\blet us\b|\bwe will (?:discuss|look|learn|examine|explore|see)\b"
    r"|\byou will (?:see|learn|read|discover)\b|\bwe (?:discuss|examine|explore) (?:in|later)\b"
    r"|\b(?:see|in) (?:the )?(?:figure|table)\b|^(?:figure|table|link to learning|\(credit)\b"
    r"|^(?:in summary|to summarize|to sum up|in conclusion)\b",
    re.IGNORECASE)
# Words that only make sense after the sentence before them.
_ANAPHORIC_START = re.compile(
    r"^(?:this|these|that|those|it|its|they|their|them|he|she|his|her|such|both|another|other|the latter|"
    r"the former|however|but|and|also|so|thus|therefore|similarly|likewise|instead(?!\s+of)|then|here|there|yet|still|"
    r"in addition|additionally|furthermore|moreover|on the other hand|in contrast|as a result|for this reason|"
    r"in this case|in other words|again|of course)\b[,\s]",
    re.IGNORECASE)
_DEFINING_VERB = (r"(?:is|are|was|refers to|refer to|means|describes|involves|occurs when|happens when|"
                  r"is defined as|can be defined as|is called|is known as|is the|are the)")
_EXAMPLE_START = re.compile(r"^(?:for example|for instance|as an example|an example|one example|consider|"
                            r"imagine|say|suppose|let[’']?s say)\b|\bfor (?:example|instance)\b", re.IGNORECASE)
_CAUSAL = re.compile(r"\b(?:because|due to|caused by|causes?|reasons?|results? (?:in|from)|leads? to|triggers?|"
                     r"stems? from|responsible for)\b", re.IGNORECASE)
# "These steps include attention, retention…": a list that names its own subject reads alone.
_SELF_NAMED_LIST = re.compile(r"^(?:these|those|the)\s+(?:[\w-]+\s+){0,2}(?:include|includes|are|were|consist of)\b",
                              re.IGNORECASE)
# A sentence that ends in a list of short items: "…: attention, retention, reproduction, and motivation."
_ITEM = r"[\w’'()/-]+(?:\s+[\w’'()/-]+){0,3}"
_LIST_LIKE = re.compile(rf"(?:^|[:\s])(?:{_ITEM},\s+){{1,}}(?:and|or)\s+(?:finally\s+|lastly\s+)?{_ITEM}\s*[.!]?$",
                        re.IGNORECASE)


@dataclass(frozen=True)
class Sentence:
    """A candidate answer sentence: where it stands and what it says."""

    passage: int  # 0-based index into the passages
    position: int  # order within the passage
    text: str
    glossary_term: str | None = None  # set for a key-term entry "term: definition"
    evidence_only: bool = False  # a figure caption or table row: evidence for a choice, not answer prose

    @property
    def key(self) -> tuple[int, int]:
        return (self.passage, self.position)


def tidy_sentence(text: str) -> str:
    """A passage sentence as an answer shows it: no figure pointers, no stray citations."""
    text = _PARENTHETICAL_FIGURE.sub("", text)
    text = _CITATION_IN_TEXT.sub("", text)
    return re.sub(r"\s{2,}", " ", text).strip()


_TABLE_ROW = re.compile(r"^\s*\|(.+)\|\s*$")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{3,}")


def _table_list(rows: list[list[str]]) -> str | None:
    """A table's first column as one list sentence, in the table's own words: "Sin: Transience,
    Absentmindedness, …, and Persistence." (rows[0] is the header)."""
    caption = None
    if rows and sum(1 for c in rows[0] if not c) * 2 >= len(rows[0]):
        caption, rows = rows[0][0], rows[1:]  # "| Schacter’s Seven Sins of Memory | | | |" names the table
    if len(rows) < 3:
        return None
    header, names = caption or rows[0][0], [r[0] for r in rows[1:] if r and r[0]]
    if not header or len(names) < 2 or any(len(n.split()) > 6 for n in names):
        return None
    return f"{header}: {', '.join(names[:-1])}, and {names[-1]}."


def passage_sentences(passages: Sequence[Passage], max_passages: int = 5) -> list[Sentence]:
    """Every sentence of the passages, in order, except instructions planted in a document (an
    instruction is never the tutor's own words: every answer, hint and quiz item is built from these)."""
    planted = {i: planted_in(p.chunk.text) for i, p in enumerate(passages[:max_passages])}
    return [s for s in _every_sentence(passages, max_passages)
            if not is_directive(s.text) and not any(" ".join(s.text.split()) in p for p in planted[s.passage])]


def planted_in(text: str) -> list[str]:
    """Planted instructions of a passage read paragraph by paragraph, lines joined: one that wraps
    across lines ("... log in at" / "http://... with your password") is found whole, and every
    piece of it is skipped."""
    found = []
    for paragraph in text.split("\n\n"):
        joined = " ".join(paragraph.split())
        found.extend(s for s in split_sentences(joined) if is_directive(s))
    return found


def _every_sentence(passages: Sequence[Passage], max_passages: int) -> list[Sentence]:
    """Every sentence of the passages, in order; key-term entries are marked with their term, and a
    table adds one sentence listing its first column."""
    found: list[Sentence] = []
    for p_index, passage in enumerate(passages[:max_passages]):
        position = 0
        table: list[list[str]] = []
        lines = passage.chunk.text.splitlines()
        for number, line in enumerate([*lines, "\x00"]):
            row = _TABLE_ROW.match(line)
            if row or (table and not line.strip()) or _TABLE_RULE.match(line):
                if row and not _TABLE_RULE.match(line):
                    cells = [c.strip() for c in row.group(1).split("|")]
                    table.append(cells)
                    if len([c for c in cells if c]) >= 2:
                        found.append(Sentence(p_index, position, " — ".join(c for c in cells if c) + ".",
                                              evidence_only=True))
                        position += 1
                continue
            if table:
                listed = _table_list(table)
                if listed:
                    found.append(Sentence(p_index, position, listed))
                    position += 1
                table = []
            if line == "\x00":
                break
            line = _BLOCKQUOTE.sub("", line)
            caption = re.match(r"^\s*Figure:\s*(?P<text>.+)$", line)
            if caption:
                for sentence in split_sentences(re.sub(r"\(credit[^)]*\)", "", caption.group("text"))):
                    found.append(Sentence(p_index, position, tidy_sentence(sentence), evidence_only=True))
                    position += 1
                continue
            entry = _GLOSSARY_LINE.match(line)
            if entry:
                term, definition = entry.group("term").strip(), entry.group("definition").strip()
                found.append(Sentence(p_index, position, f"{term}: {definition}", glossary_term=term))
                position += 1
                continue
            for sentence in split_sentences(line):
                found.append(Sentence(p_index, position, tidy_sentence(sentence)))
                position += 1
    return found


def is_navigation(text: str) -> bool:
    return bool(_NAVIGATION.search(text))


def needs_antecedent(text: str) -> bool:
    """True when the sentence leans on the one before it ("These learning processes…")."""
    return bool(_ANAPHORIC_START.match(text))


def readable(sentence: Sentence) -> bool:
    """Can stand in an answer at all: a statement, not a heading, question, pointer or fragment."""
    text = sentence.text
    if sentence.evidence_only:
        return False
    if sentence.glossary_term:
        return True
    words = text.split()
    if len(words) < 6 or len(text) > 500 or not text[0].isalnum() or text.endswith((":", "?")):
        return False
    if "?" in text[-3:] or text.startswith(("“", '"')):
        return False
    return not is_navigation(text)


def _word_pattern(word: str) -> str:
    """A word with its plural or possessive: memory/memories, stimulus/stimuli, reflex/reflexes."""
    w = re.escape(word)
    if word.endswith("y") and len(word) > 3:
        return rf"{re.escape(word[:-1])}(?:y|ies)"
    if word.endswith("us") and len(word) > 4:
        return rf"{re.escape(word[:-2])}(?:us|i|uses)"
    return rf"{w}(?:s|es|'s|’s)?"


def _term_pattern(term: str) -> re.Pattern[str]:
    """The term as words, allowing plurals and an abbreviation in brackets: "conditioned stimulus (CS)"."""
    words = [w for w in re.findall(r"[\w’']+", term.lower()) if w]
    if not words:
        return re.compile(r"(?!x)x")
    body = r"[\s-]+".join(_word_pattern(w) for w in words)
    return re.compile(rf"\b{body}\b(?:\s*\([A-Za-z]{{2,5}}\))?", re.IGNORECASE)


def mentions(text: str, term: str) -> bool:
    return bool(_term_pattern(term).search(text))


# "X is a/the…", "X refers to…": the term as the subject, near the start, of a defining verb.
# The term opens the sentence or its clause; words before it must end in a comma ("Put simply, learning
# is…"): "Visual encoding is…" defines visual encoding, not encoding.
_SUBJECT = r"(?:^(?:(?:[\w’'-]+\s+){{0,2}}[\w’'-]+,\s+)?|[:;]\s+)(?:(?:a|an|the)\s+)?{term}\s*(?:,[^,]{{0,80}},\s*)?"
# After "X is": what starts a noun phrase saying what X is ("the act of…", "a relatively permanent
# change", "memories that…", "long-term memories"), not how X is used ("is often used", "is needed").
_NOUN_START = (r"(?:a|an|the|one|any|those|something|our|your|when|how|what|where|defined as|simply|essentially|"
               r"basically|[\w-]+(?:ing|tion|sion|ment|ness|ity|ance|ence|ism|ure|age|ories|ory|ies|ers?|ors?|als?|"
               r"ies)|long-term|short-term|[\w-]+\s+(?:that|which|in which|where|of))\b")
_DEFINES = (rf"(?:(?:is|are|was|were)\s+(?:{_NOUN_START})|refers? to|means|describes|"
            r"is defined as|can be defined as|occurs? when|happens? when)")


def definition_strength(sentence: Sentence, term: str) -> float:
    """How plainly the sentence defines `term`: 1.0 for "term is a…/refers to…", an apposition
    ("the engram, which is the physical trace…", "engram: …") or the key-term entry; 0.9 for "In
    term, …"; 0.8 for "… is called term"; 0.5 for a sentence that merely uses the term; else 0."""
    if sentence.glossary_term:
        return 1.0 if _term_pattern(term).fullmatch(sentence.glossary_term.strip()) else 0.0
    text = sentence.text
    pattern = _term_pattern(term).pattern
    if sentence.evidence_only or is_navigation(text):
        # A table row or caption is no definition, nor is "the previous section… known as X".
        return 0.5 if re.search(pattern, text, re.IGNORECASE) else 0.0
    if re.search(_SUBJECT.format(term=pattern) + _DEFINES, text, re.IGNORECASE):
        return 1.0
    if re.search(rf"{pattern}\s*(?:,\s*(?:which|that)\s+(?:is|are|refers to|means)\b|[:—–]\s*\S)", text,
                 re.IGNORECASE):
        return 1.0
    if re.search(rf"(?:^|,\s+)(?:in|during|with|through)\s+{pattern},\s+(?:we|you|organisms?|people|an?|the|also)\b", text,
                 re.IGNORECASE) \
            or re.search(rf"{pattern},\s+or\s+", text, re.IGNORECASE):
        return 0.9
    if re.search(rf"\b(?:called|known as|termed|referred to as|this is|is named|is labeled)\s+(?:the\s+|a\s+|an\s+)?"
                 rf"{pattern}", text, re.IGNORECASE):
        return 0.8
    if re.search(pattern, text, re.IGNORECASE):
        return 0.5
    return 0.0


def defining_clause(sentence: Sentence, term: str) -> Sentence:
    """The clause after a colon or semicolon when that clause is the definition: "…involve change and
    experience: learning is a relatively permanent change…" → "Learning is a relatively permanent…"."""
    if sentence.glossary_term:
        return sentence
    pattern = _term_pattern(term).pattern
    match = re.search(r"[:;]\s+(?=(?:(?:a|an|the)\s+)?" + pattern + r"\s+" + _DEFINES + ")", sentence.text,
                      re.IGNORECASE)
    if not match:
        return sentence
    clause = sentence.text[match.end():]
    return Sentence(sentence.passage, sentence.position, clause[0].upper() + clause[1:])


def render_glossary(sentence: Sentence, term: str) -> str:
    """A key-term entry as a sentence: "Learning is change in behavior or knowledge…" reads wrong when
    the entry is a noun phrase, so it stays an entry with the term in bold: "**learning**: change…"."""
    definition = sentence.text.split(":", 1)[1].strip().rstrip(".")
    return f"**{sentence.glossary_term}**: {definition}."


_CAUSE_FRAME = re.compile(r"^\s*(?:why|what (?:causes?|leads? to|makes)|how come|explain why|what are the reasons?"
                          r"(?: why| for| that)?)\s+(?:(?:do|does|did|is|are|was|were|can|would|could|will|should)\s+)?"
                          r"(?:(?:i|we|you|people|they|some people|someone|students|my|our|the|a|an|so)\s+)*",
                          re.IGNORECASE)


# The words that say a list is asked for, not what it is a list of.
_LIST_FRAME = frozenset(content_stems(
    "list name enumerate outline describe explain compare contrast identify discuss give two three four five "
    "several main different step stage phase type kind form component part function process way element "
    "factor level category system schedule"))


def list_topic(question: str) -> set[str]:
    """What a steps question asks the list of: "Compare the two types of interference" → {interfer}."""
    return set(content_stems(question)) - _LIST_FRAME


def cause_focus(question: str) -> str | None:
    """The stem of what a why-question is about: "Why do I forget…" → "forget"."""
    rest = _CAUSE_FRAME.sub("", question, count=1)
    if rest == question:
        return None
    stems = content_stems(rest)
    return sorted(stems, key=lambda st: rest.lower().find(st[:4]))[0] if stems else None


@dataclass(frozen=True)
class ShapedAnswer:
    """The sentences of an answer in the order shown; `lead` is the first, the answer itself."""

    sentences: list[Sentence]
    texts: list[str]  # as shown (a glossary entry rendered, figure pointers removed)
    kind: str


class AnswerShaper:
    """Chooses and orders an answer's sentences for the question's shape."""

    def __init__(self, similarity: Similarity, *, max_sentences: int = 4, redundancy: float = 0.8,
                 min_informative: int = 3) -> None:
        self.similarity = similarity
        self.max_sentences = max_sentences
        self.redundancy = redundancy
        self.min_informative = min_informative

    def shape(self, question: str, shape: QuestionShape, passages: Sequence[Passage]) -> ShapedAnswer:
        sentences = [s for s in passage_sentences(passages, max_passages=len(passages)) if readable(s)]
        if not sentences:
            return ShapedAnswer([], [], shape.kind)
        relevance = dict(zip((s.key for s in sentences), self.similarity(shape.stem or question,
                                                                            [s.text for s in sentences])))
        question_stems = set(content_stems(shape.stem or question))

        def score(s: Sentence) -> float:
            overlap = len(set(content_stems(s.text)) & question_stems) / (len(question_stems) or 1)
            return relevance[s.key] + 0.15 * overlap - 0.02 * s.passage

        def informative(s: Sentence) -> bool:
            # "There are several reasons why forgetting occurs." says nothing the question did not.
            return len(set(content_stems(s.text)) - question_stems) >= self.min_informative

        leads = self._leads(shape, sentences, score, informative)
        lead_keys = {s.key for s in leads}
        rest = [s for s in sentences if s.key not in lead_keys and not s.glossary_term and informative(s)]
        chosen = list(leads)
        # Steps and causes usually go on in the sentences right after the one that announces them.
        follows = {(s.passage, s.position + d) for s in leads for d in (1, 2, 3)} \
            if shape.kind in ("steps", "cause", "example") else set()

        def support_score(s: Sentence) -> float:
            return score(s) + (0.1 if s.key in follows else 0.0)

        ranked = sorted(rest, key=lambda s: -support_score(s))
        best = score(ranked[0]) if ranked else 0.0
        top = max((score(s) for s in leads), default=best)
        for s in ranked:
            if len(chosen) >= self.max_sentences:
                break
            if support_score(s) < max(0.25, top - 0.35):
                break
            if needs_antecedent(s.text) and not any(c.key == (s.passage, s.position - 1) for c in chosen):
                continue
            if self._repeats(s, chosen):
                continue
            chosen.append(s)
        ordered = leads + sorted(chosen[len(leads):], key=lambda s: (s.passage != chosen[0].passage, s.passage,
                                                                      s.position))
        texts = [self._render(s, shape) for s in ordered]
        return ShapedAnswer(ordered, texts, shape.kind)

    # --- the lead sentence(s) -----------------------------------------------------------------------

    def _leads(self, shape: QuestionShape, sentences: list[Sentence], score: Callable[[Sentence], float],
               informative: Callable[[Sentence], bool]) -> list[Sentence]:
        # Key-term entries lead only where nothing else was retrieved (a passage that is all glossary).
        body = [s for s in sentences if not s.glossary_term] or sentences
        standalone = [s for s in body if not needs_antecedent(s.text) and informative(s)] or body
        if shape.kind != "example":
            # An illustration ("For example, this week you are studying…") is not the answer itself.
            standalone = [s for s in standalone if not _EXAMPLE_START.search(s.text)] or standalone
        if shape.kind == "definition" and shape.terms:
            lead = self._defining(shape.terms[0], sentences, score)
            return [lead] if lead else [max(standalone, key=score)]
        if shape.kind == "example":
            definition = self._defining(shape.terms[0], sentences, score) if shape.terms else None
            examples = [s for s in body if _EXAMPLE_START.search(s.text)]
            if shape.terms:
                examples = [s for s in examples if mentions(s.text, shape.terms[0])
                            or (definition and s.passage == definition.passage)] or examples
            example = max(examples, key=score) if examples else None
            picked = [s for s in ((example, definition) if shape.example_first else (definition, example)) if s]
            return list(dict.fromkeys(picked)) or [max(standalone, key=score)]
        if shape.kind == "comparison" and len(shape.terms) == 2:
            sides = []
            for term in shape.terms:
                side = self._defining(term, sentences, score, exclude=[s.key for s in sides])
                if side:
                    sides.append(side)
            if sides:
                return sides
            return [max(standalone, key=score)]
        if shape.kind == "steps":
            lists = [s for s in body if _LIST_LIKE.search(s.text) and informative(s)
                     and (not needs_antecedent(s.text) or _SELF_NAMED_LIST.match(s.text))]
            # A list from a passage that never names what is asked about ("the two types of
            # interference" answered by "timbre… frequency, amplitude, and timing") is not its list.
            topic = list_topic(shape.stem)
            if topic:
                named_in = {s.passage for s in sentences if topic & content_stems(s.text)}
                lists = [s for s in lists if s.passage in named_in]
            if lists:
                best_list = max(lists, key=score)
                best_any = max(standalone, key=score)
                if score(best_list) >= score(best_any) - 0.3:
                    return [best_list]
            return [max(standalone, key=score)]
        if shape.kind == "cause":
            focus = cause_focus(shape.stem)
            if focus:
                about = [s for s in standalone if focus in content_stems(s.text)]
                standalone = about or standalone
            causal = [s for s in standalone if _CAUSAL.search(s.text)]
            if causal:
                best_causal = max(causal, key=score)
                if score(best_causal) >= score(max(standalone, key=score)) - 0.15:
                    return [best_causal]
            return [max(standalone, key=score)]
        return [max(standalone, key=score)]

    def _defining(self, term: str, sentences: list[Sentence], score: Callable[[Sentence], float],
                  exclude: Sequence[tuple[int, int]] = ()) -> Sentence | None:
        """The sentence that defines `term`: plain definitions first, then the key-term entry, then
        "… is called term"; among equals, the most relevant."""
        best: tuple[float, float, Sentence] | None = None
        for s in sentences:
            if s.key in exclude:
                continue
            strength = definition_strength(s, term)
            if strength < 0.8:
                continue
            s = defining_clause(s, term)
            if not s.glossary_term and needs_antecedent(s.text):
                strength -= 0.3
            candidate = (strength, score(s), s)
            if best is None or candidate[:2] > best[:2]:
                best = candidate
        if best is None:
            users = [s for s in sentences if s.key not in exclude and not s.glossary_term
                     and definition_strength(s, term) > 0 and not needs_antecedent(s.text)]
            return max(users, key=score) if users else None
        return best[2]

    def _repeats(self, candidate: Sentence, chosen: Sequence[Sentence]) -> bool:
        if not chosen:
            return False
        mine = set(content_stems(candidate.text))
        for other in chosen:
            theirs = set(content_stems(other.text))
            if mine and theirs and len(mine & theirs) / min(len(mine), len(theirs)) > self.redundancy:
                return True
        return False

    def _render(self, sentence: Sentence, shape: QuestionShape) -> str:
        if sentence.glossary_term:
            return render_glossary(sentence, sentence.glossary_term)
        return sentence.text
