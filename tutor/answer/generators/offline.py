"""The offline generator: answers with the passages' own sentences, so it cannot say anything the
course does not. It picks the sentences most similar to the question (MiniLM cosine plus word
overlap), drops near-repeats, keeps them in reading order and cites each one [n].

Only a bounded number of candidate sentences is embedded (pre-selected by word overlap): the
answer has to arrive in well under the time a student notices.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from tutor.directives import is_directive
from tutor.models import Passage, Turn
from tutor.retrieve import Query, QueryEmbeddingCache
from tutor.text import cite, content_stems, split_sentences, strip_citations

LEAD_IN = "Here is what the course materials say:"


@dataclass(frozen=True)
class _Candidate:
    passage: int  # 0-based index into the passages
    position: int  # sentence order within the passage
    text: str
    overlap: float


class OfflineComposer:
    """Generator "offline": extractive, deterministic, every sentence cited."""

    name = "offline"
    uses_llm = False

    def __init__(self, queries: QueryEmbeddingCache, *, max_sentences: int = 4, max_candidates: int = 8,
                 max_passages: int = 5, redundancy: float = 0.8, min_score: float = 0.25,
                 embed_words: int = 25, choice_bonus: float = 1.0) -> None:
        self.queries = queries
        self.max_sentences = max_sentences
        self.max_candidates = max_candidates
        self.embed_words = embed_words
        self.choice_bonus = choice_bonus
        self.max_passages = max_passages
        self.redundancy = redundancy
        self.min_score = min_score
        # Sentence vectors by text: the passages of a conversation's follow-ups, or of a question
        # asked twice, are embedded once.
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = 4096
        self._lock = threading.Lock()

    def stream(self, question: str, passages: Sequence[Passage], history: Sequence[Turn] = ()) -> Iterator[str]:
        chosen = self.select(question, passages)
        if not chosen:
            return
        yield LEAD_IN
        previous_passage = None
        for candidate in chosen:
            # A new paragraph when the answer moves to another passage keeps sources visually apart.
            yield "\n\n" if candidate.passage != previous_passage else " "
            previous_passage = candidate.passage
            yield cite(candidate.text, candidate.passage + 1)

    def select(self, question: str, passages: Sequence[Passage]) -> list[_Candidate]:
        """The answer's sentences, in reading order: best passage first, document order within it."""
        query = Query.parse(question)
        question_stems = content_stems(query.lexical_text)
        choice_stems = [stems for stems in map(content_stems, query.choices) if stems]
        candidates = self._candidates(passages, question_stems, choice_stems)
        if not candidates:
            return []
        query_vector = self.queries.embed_query(query.dense_text)
        # A sentence's opening words carry its topic; embedding at most `embed_words` of them
        # bounds the encoder's work for long sentences.
        vectors = self._sentence_vectors([" ".join(c.text.split()[:self.embed_words]) for c in candidates])
        # Cosine decides; word overlap breaks near-ties toward sentences that use the question's
        # terms; a small prior prefers the passages retrieval ranked higher.
        scores = [float(vectors[i] @ query_vector) + 0.15 * c.overlap - 0.02 * c.passage
                  for i, c in enumerate(candidates)]
        picked: list[int] = []
        for i in sorted(range(len(candidates)), key=lambda i: (-scores[i], i)):
            if len(picked) == self.max_sentences:
                break
            if picked and scores[i] < max(self.min_score, scores[picked[0]] - 0.35):  # off the point
                break
            if any(float(vectors[i] @ vectors[j]) > self.redundancy for j in picked):
                continue
            picked.append(i)
        best_of_passage: dict[int, float] = {}
        for i in picked:
            p_index = candidates[i].passage
            best_of_passage[p_index] = max(best_of_passage.get(p_index, scores[i]), scores[i])
        picked.sort(key=lambda i: (-best_of_passage[candidates[i].passage], candidates[i].passage,
                                   candidates[i].position))
        return [candidates[i] for i in picked]

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

    def _candidates(self, passages: Sequence[Passage], question_stems: set[str],
                    choice_stems: Sequence[set[str]] = ()) -> list[_Candidate]:
        found: list[_Candidate] = []
        seen: set[str] = set()
        for p_index, passage in enumerate(passages[:self.max_passages]):
            planted = planted_in(passage.chunk.text)
            for position, sentence in enumerate(split_sentences(passage.chunk.text)):
                words = sentence.split()
                key = sentence.lower()
                if (len(words) < 6 or len(sentence) > 500 or key in seen or not sentence[0].isalnum()
                        or sentence.endswith(":")):
                    continue  # headings, lead-ins, fragments and repeats make poor answers
                if sentence.startswith(("Figure", "Table", "(credit", "Link to Learning")):
                    continue
                if is_directive(sentence) or any(" ".join(words) in p for p in planted):
                    continue  # an instruction planted in a document is never the tutor's own words
                seen.add(key)
                stems = content_stems(sentence)
                overlap = len(stems & question_stems) / (len(question_stems) or 1)
                # A sentence naming one of the pasted options in full is likely the one that settles it.
                overlap += self.choice_bonus * any(choice <= stems for choice in choice_stems)
                found.append(_Candidate(p_index, position, strip_citations(sentence), overlap))
        # Bounded work: only the sentences sharing most words with the question are embedded (on
        # the dev set, embedding 16 instead of 8 cost twice the time and found no more answers).
        by_overlap = sorted(range(len(found)), key=lambda i: (-found[i].overlap, i))
        return [found[i] for i in sorted(by_overlap[:self.max_candidates])]


    def knobs(self) -> dict[str, float | int]:
        """Its tuning knobs, recorded in eval reports."""
        return {"max_sentences": self.max_sentences, "max_candidates": self.max_candidates,
                "max_passages": self.max_passages, "redundancy": self.redundancy, "min_score": self.min_score,
                "embed_words": self.embed_words, "choice_bonus": self.choice_bonus}

    def declined(self, text: str) -> bool:
        return False  # it answers with passage sentences or not at all (an empty answer)


def planted_in(text: str) -> list[str]:
    """Planted instructions of a passage read paragraph by paragraph, lines joined: one that wraps
    across lines ("... log in at" / "http://... with your password") is found whole, and every
    piece of it is skipped."""
    found = []
    for paragraph in text.split("\n\n"):
        joined = " ".join(paragraph.split())
        found.extend(s for s in split_sentences(joined) if is_directive(s))
    return found
