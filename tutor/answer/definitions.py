"""Where the course defines a term, and whether it names the term at all.

Dense and BM25 retrieval rank passages about a term, which is not the same as the passage that
defines it: "What is learning?" retrieves 06-1's overview paragraphs, while the definition
("learning is a relatively permanent change…") sits in a neighbouring chunk. A definition question
therefore also looks the term up in the whole index: the book's key-term entries and its defining
sentences. The same scan answers the honest-scope question: is the asked term in the course at all?
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tutor.answer.shape import Sentence, _term_pattern, definition_strength, passage_sentences
from tutor.models import Chunk, Passage


@dataclass(frozen=True)
class TermLookup:
    """What the whole index says about a term."""

    term: str
    named: bool  # the term (as a phrase, plurals allowed) occurs somewhere in the course
    defining: list[Passage]  # chunks that define it, best first (a key-term entry or a defining sentence)


class DefinitionFinder:
    """Looks terms up in the chunks that mention them (the lexical index's candidates for the term,
    so the cost does not grow with the corpus); results are cached per index version."""

    def __init__(self, chunks: Callable[[str], tuple[str, Sequence[Chunk]]], *, cache_size: int = 512) -> None:
        self._chunks = chunks  # term → (index version, the chunks that share its words, best first)
        self._cache: OrderedDict[tuple[str, str], TermLookup] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    def lookup(self, term: str, limit: int = 1) -> TermLookup:
        fingerprint, chunks = self._chunks(term)
        key = (fingerprint, term.lower())
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        pattern = _term_pattern(term)
        ranked: list[tuple[float, int, Chunk]] = []
        named = False
        for index, chunk in enumerate(chunks):
            if not pattern.search(chunk.text):
                continue
            named = True
            best = 0.0
            for sentence in passage_sentences([Passage(chunk, 0.0)]):
                if pattern.search(sentence.text):
                    best = max(best, _strength(sentence, term))
            if best >= 0.8:
                ranked.append((best, index, chunk))
        ranked.sort(key=lambda item: (-item[0], item[1]))
        result = TermLookup(term, named, [Passage(chunk, 0.0) for _, _, chunk in ranked[:limit]])
        with self._lock:
            self._cache[key] = result
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return result


def _strength(sentence: Sentence, term: str) -> float:
    # A body sentence that says "X is…" reads better than a key-term entry's noun phrase, and it
    # stands beside its context; the entry is the fallback.
    strength = definition_strength(sentence, term)
    return strength - 0.05 if sentence.glossary_term else strength


def words_together(term: str, passages: Sequence[Passage]) -> bool:
    """True when every content word of the term occurs in one sentence of the passages: "memory
    consolidation" is supported by "…consolidation of memories…" even if the phrase is not there."""
    words = [w for w in re.findall(r"[\w’'-]+", term.lower()) if len(w) > 2 and w not in _GENERIC]
    if not words:
        return True
    patterns = [_term_pattern(w) for w in words]
    for sentence in passage_sentences(passages, max_passages=len(passages)):
        if all(p.search(sentence.text) for p in patterns):
            return True
    return False


# Words too common in a question's term to show that the course covers it.
_GENERIC = frozenset({"the", "and", "for", "with"})


def with_definitions(terms: Sequence[str], passages: list[Passage], finder: DefinitionFinder) -> list[Passage]:
    """The retrieved passages plus, for each asked term they do not define, the chunk that does
    (appended, so the retrieval's numbering of the others stays)."""
    result = list(passages)
    for term in terms:
        if any(definition_strength(s, term) >= 0.8 for s in passage_sentences(result, max_passages=len(result))):
            continue
        for passage in finder.lookup(term).defining:
            if all(p.chunk.chunk_id != passage.chunk.chunk_id for p in result):
                result.append(passage)
    return result


def unsupported_terms(terms: Sequence[str], passages: Sequence[Passage], finder: DefinitionFinder,
                      *, lenient: bool = False) -> list[str]:
    """The asked terms the course does not cover: named nowhere in the index as a phrase, and
    their words never together in one sentence of the retrieved passages. "What is habituation?"
    has passages about learning, but none says "habituation": the tutor must say it is not covered.
    `lenient` (the sides of a comparison, worded freely): unsupported only when no word of the
    side that is longer than three letters is named anywhere."""
    missing = []
    for term in terms:
        if finder.lookup(term).named or words_together(term, passages):
            continue
        if lenient and any(finder.lookup(word).named for word in re.findall(r"[\w’'-]{4,}", term)):
            continue
        missing.append(term)
    return missing
