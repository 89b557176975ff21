"""Citations in answers: renumbering them as the text streams by, quoting what each one supports,
and finding the sentences that cite nothing. The graph's generate node feeds the rewriter; its
validate node builds the citations."""

from __future__ import annotations

import re
from collections.abc import Sequence

from tutor.answer.generators.offline import LEAD_IN
from tutor.models import Citation, Passage
from tutor.text import CITATION, OPEN_CITATION, citation_numbers, content_stems, split_sentences, strip_citations


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
        open_tail = OPEN_CITATION.search(text)
        cut = open_tail.start() if open_tail else len(text)
        self._pending = text[cut:]
        return CITATION.sub(self._replace, text[:cut])

    def flush(self) -> str:
        """The held-back tail at the end of the text: a "[1" never closed (a cut stream) is dropped."""
        text, self._pending = self._pending, ""
        return OPEN_CITATION.sub("", text)

    def _replace(self, match: re.Match[str]) -> str:
        shown = []
        for number in citation_numbers(match):
            if 1 <= number <= self.passage_count:
                shown.append(self.compact.setdefault(number, len(self.compact) + 1))
        return "".join(f"[{n}]" for n in dict.fromkeys(shown))


# Share of a citing sentence's content words that its best passage sentence must hold for the
# citation to count as support for it (below: the sentence is flagged, the quote is not highlighted).
MIN_QUOTE_SUPPORT = 0.25


def citations_for(text: str, passages: Sequence[Passage], compact: dict[int, int]) -> list[Citation]:
    """One Citation per number shown, quoting the passage sentence(s) the citing sentences rely on."""
    by_shown = {shown: passages[number - 1] for number, shown in compact.items()}
    citing = _citing_sentences(text, set(by_shown))
    citations = []
    for shown in sorted(by_shown):
        chunk = by_shown[shown].chunk
        citations.append(Citation(n=shown, chunk_id=chunk.chunk_id, source=chunk.source, title=chunk.title,
                                  section=chunk.section, quote=quote_for(citing[shown], chunk.text)))
    return citations


def weak_support(text: str, citations: Sequence[Citation],
                 passages: Sequence[Passage]) -> tuple[list[int], list[str]]:
    """Citations that support none of the sentences citing them (by number), and the sentences that
    cite something yet are supported by none of their citations: a sentence's best passage sentence
    shares under MIN_QUOTE_SUPPORT of its content words."""
    chunks = {p.chunk.chunk_id: p.chunk for p in passages}
    texts = {c.n: chunks[c.chunk_id].text if c.chunk_id in chunks else c.quote for c in citations}
    supported: dict[str, bool] = {}
    weak = []
    for n, sentences in _citing_sentences(text, set(texts)).items():
        held = [support_share(sentence, texts[n]) >= MIN_QUOTE_SUPPORT for sentence in sentences]
        if sentences and not any(held):
            weak.append(n)
        for sentence, ok in zip(sentences, held):
            supported[sentence] = supported.get(sentence, False) or ok
    return sorted(weak), [sentence for sentence, ok in supported.items() if not ok]


def support_share(claim: str, passage_text: str) -> float:
    """The largest share of the claim's content words found in one sentence of the passage."""
    claim_stems = content_stems(claim)
    if not claim_stems:
        return 1.0  # nothing to check ("See [2].")
    return max((len(content_stems(s) & claim_stems) / len(claim_stems) for s in split_sentences(passage_text)),
               default=0.0)


def _citing_sentences(text: str, numbers: set[int]) -> dict[int, list[str]]:
    """For each citation number, the answer sentences citing it (without their markers)."""
    citing: dict[int, list[str]] = {n: [] for n in numbers}
    for sentence in split_sentences(text):
        for match in CITATION.finditer(sentence):
            for shown in citation_numbers(match):
                if shown in citing:
                    citing[shown].append(strip_citations(sentence))
    return citing


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


def uncited_sentences(text: str) -> list[str]:
    """Answer sentences that make a claim without citing anything. Lead-ins ("...say:") and very
    short connective lines are not claims."""
    flagged = []
    for sentence in split_sentences(text):
        if CITATION.search(sentence) or sentence == LEAD_IN or sentence.endswith(":") or len(sentence.split()) < 5:
            continue
        flagged.append(sentence)
    return flagged


def tidy(text: str) -> str:
    """Whitespace left behind by dropped citations: "storage ." → "storage.", "stored  and"."""
    return re.sub(r"[ \t]{2,}", " ", re.sub(r"[ \t]+([.,;:!?])", r"\1", text)).strip()
