"""The one text kit: what a sentence, a citation, a word and a heading label are, for the answering
stage, the evals and the UI alike. No other module compiles a sentence or citation pattern.

Sentences are split here rather than by pysbd: pysbd agrees on our hard cases (initials, "e.g.",
"n.d.", citations) but is ~30x slower on the course text (1.7 s against 0.05 s for chapters 6 and 8),
which the offline answerer's latency budget cannot pay, and it is unmaintained since 2021.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import Stemmer
from bm25s.stopwords import STOPWORDS_EN_PLUS

from tutor.chunking import SECTION_SEPARATOR

# --- citations -----------------------------------------------------------------------------------

# A citation as answers write it: "[2]" or "[1, 3]" (the numbers captured in group 1).
CITATION = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")
_MARKER = r"\[\d+(?:\s*,\s*\d+)*\]"  # the same, capturing nothing, for use inside other patterns
# A tail that may still become a citation once more text arrives: "[", "[1", "[1, ".
OPEN_CITATION = re.compile(r"\[[\d,\s]*$")
# A citation with the white space before it, so removing it leaves "storage." and not "storage .".
_SPACED_CITATION = re.compile(r"\s*" + CITATION.pattern)
_FINAL_PUNCTUATION = re.compile(r"([.!?]+[\"”’)]?)$")


def cited_numbers(text: str) -> list[int]:
    """The numbers cited in `text`, in order of first appearance, without repeats."""
    numbers: list[int] = []
    for match in CITATION.finditer(text):
        for n in citation_numbers(match):
            if n not in numbers:
                numbers.append(n)
    return numbers


def citation_numbers(match: re.Match[str]) -> list[int]:
    """The numbers of one CITATION match: "[1, 3]" → [1, 3]."""
    return [int(n) for n in match.group(1).split(",")]


def cite(sentence: str, n: int) -> str:
    """The sentence citing passage n, the marker before the final punctuation: "... storage [2]."
    reads better than "storage. [2]"."""
    match = _FINAL_PUNCTUATION.search(sentence)
    if match:
        return f"{sentence[:match.start()]} [{n}]{match.group(1)}"
    return f"{sentence} [{n}]."  # a glossary line ("extinction: decrease in ...") has no full stop of its own


def strip_citations(text: str) -> str:
    """Text without its [n] markers (they are not claims), nor the space before each."""
    return _SPACED_CITATION.sub("", text).strip()


# --- sentences -----------------------------------------------------------------------------------

# A sentence ends at . ! ? (maybe closed by quotes or brackets, and followed by citation markers)
# and white space before something that can start a sentence.
_SENTENCE_END = re.compile(
    r"(?<=[.!?])((?:[\"'”’)\]]*(?:\s*" + _MARKER + r")*))\s+(?=[\"'“‘(]?[A-Z0-9])")
# A citation not followed by a full stop still closes a sentence when a capital follows:
# "... encodes it [1] Storage keeps it [2]." (models write this), and a cited full stop ends one
# whatever follows: glossary lines start in lower case ("...a behavior [1]. negative punishment: ...").
_AFTER_CITATION = re.compile(r"(?<=\])\s+(?=[\"“(]?[A-Z])|(?<=\]\.)\s+")
_ABBREVIATION = re.compile(r"\b(?:e\.g|i\.e|etc|vs|dr|mr|mrs|ms|prof|st|cf|al|approx|fig|no|jr|sr|pp?|n\.d)\.",
                           re.IGNORECASE)
# Initials ("H. M.", "B. F. Skinner", "John B. Watson", "U.S. Army"): a lone capital and a period end
# no sentence when a capital follows.
_INITIAL = re.compile(r"(?<!\w)[A-Z]\.(?=\s*[A-Z])")
# Markdown that is not part of a sentence: emphasis and code marks, heading marks, list markers.
_MARKUP = re.compile(r"\*\*|__|`|^\s*#+\s*|^\s*(?:[-*+•]|\d+[.)])\s+", re.MULTILINE)
_HAS_WORD = re.compile(r"[^\W_]")
_PROTECTED = "\x00"


def split_sentences(text: str) -> list[str]:
    """Sentences of a passage or an answer: lines first (list items, paragraphs, headings), then
    sentence ends. Citation markers stay with the sentence they close; Markdown marks are dropped."""
    return list(_split_sentences(text))


@lru_cache(maxsize=8192)
def _split_sentences(text: str) -> tuple[str, ...]:
    # Cached: the answerer, the citation quoter and the evals split the same passages again and again.
    sentences: list[str] = []
    for line in text.splitlines():
        line = _MARKUP.sub("", line).strip()
        if not line:
            continue
        protected = _ABBREVIATION.sub(lambda m: m.group(0).replace(".", _PROTECTED), line)
        protected = _INITIAL.sub(lambda m: m.group(0).replace(".", _PROTECTED), protected)
        pieces = _SENTENCE_END.split(protected)
        # split() interleaves the captured trailing markers: glue each back onto its sentence.
        for body, tail in zip(pieces[0::2], [*pieces[1::2], ""]):
            for part in _AFTER_CITATION.split(f"{body}{tail or ''}"):
                restored = part.replace(_PROTECTED, ".").strip()
                if _HAS_WORD.search(strip_citations(restored)):
                    sentences.append(restored)
    return tuple(sentences)


# --- words and stems -----------------------------------------------------------------------------

_LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")  # letters of any script: "Bäuml" is one word
_MATCHING_STOPWORDS = frozenset(STOPWORDS_EN_PLUS)

# The evals' stop list: function words and fillers of dialogue carry no evidence of support. The
# offline faithfulness scorer was calibrated with it (evals/metrics/faithfulness/calibration.json).
STOPWORDS = frozenset("""
a about above after again against all also am an and any are aren't as at be because been before being below
between both but by can can't cannot could couldn't did didn't do does doesn't doing don't down during each
few for from further had hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself
him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself just let's me more most
mustn't my myself no nor not of off on once only or other ought our ours ourselves out over own same shan't she
she'd she'll she's should shouldn't so some such than that that's the their theirs them themselves then there
there's these they they'd they'll they're they've this those through to too under until up very was wasn't we
we'd we'll we're we've were weren't what what's when when's where where's which while who who's whom why why's
will with won't would wouldn't you you'd you'll you're you've your yours yourself yourselves yes yeah oh well
really like know think lot pretty much many actually one ones thing things get got s t also may might
""".split())

FIRST_PERSON = frozenset({"i", "i'm", "i've", "i'd", "i'll", "me", "my", "mine", "myself", "we", "we're", "our",
                          "us", "you", "your", "you're"})


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def stems(tokens: Iterable[str]) -> list[str]:
    """Snowball (English) stems, the same stemmer BM25 retrieval uses."""
    return _stemmer().stemWords(list(tokens))


def content_stems(text: str) -> set[str]:
    """Stemmed content words (BM25's stop list, three letters or more), for matching a question
    with answer sentences and passages: the answerer, the condenser and the citation quoter use it."""
    found = [w.lower() for w in _LATIN_WORD.findall(text)]
    return set(stems(w for w in found if w not in _MATCHING_STOPWORDS and len(w) > 2))


def words(text: str) -> list[str]:
    """Lower-cased word tokens of any script (apostrophes kept inside words)."""
    return [w.lower().replace("’", "'") for w in _WORD.findall(text)]


def claim_stems(text: str) -> list[str]:
    """Stemmed words of a claim, repeats kept, without the evals' stop words or one-letter tokens:
    the tokenisation the faithfulness scorer's features (and its calibration) are built on."""
    return stems(w for w in words(text) if w not in STOPWORDS and len(w) > 1)


# --- surface facts an answer must not invent (the faithfulness scorer's hard flags) -------------

_NUMBER = re.compile(r"(?<![A-Za-z])\d+(?:[.,]\d+)*(?:%|st|nd|rd|th)?")
_NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "twenty": "20", "thirty": "30",
    "forty": "40", "fifty": "50", "hundred": "100", "thousand": "1000", "million": "1000000",
    "half": "50%",
}
MONTHS = frozenset({"january", "february", "march", "april", "may", "june", "july", "august", "september",
                    "october", "november", "december"})


def numbers(text: str) -> set[str]:
    """Numbers as written ("1,000" → "1000"), plus number words, so "seven" matches "7"."""
    text = strip_citations(text)
    found = {n.replace(",", "").rstrip(".") for n in _NUMBER.findall(text)}
    found |= {_NUMBER_WORDS[w] for w in words(text) if w in _NUMBER_WORDS}
    return {n for n in found if n}


def names(text: str) -> set[str]:
    """Capitalised words not at a sentence start: a cheap stand-in for named entities."""
    found: set[str] = set()
    for sentence in split_sentences(text):
        tokens = _WORD.findall(strip_citations(sentence))
        for token in tokens[1:]:
            lowered = re.sub(r"['’]s$", "", token.lower())
            if (token[0].isupper() and lowered not in STOPWORDS and lowered not in MONTHS and len(token) > 1
                    and not token[0].isdigit()):
                found.add(lowered)
    return found


def months(text: str) -> set[str]:
    return {w for w in words(text) if w in MONTHS}


# --- headings ------------------------------------------------------------------------------------


def heading_label(title: str, section: str) -> str:
    """Where a passage sits, for people: "Memory 8.1 — How Memory Functions › Encoding". The
    section path starts with the document's own heading, which the title already says."""
    parts = [p for p in section.split(SECTION_SEPARATOR) if p and p not in title]
    return SECTION_SEPARATOR.join([title, *parts])


# A pasted multiple-choice stem's blank ("… is a(n) ________.").
BLANK = re.compile(r"_{3,}")


def option_statement(stem: str, choice: str) -> str:
    """The claim an option makes: the stem with its blank(s) filled in, or stem + option."""
    parts = [p.strip() for p in choice.split(";")] if len(BLANK.findall(stem)) > 1 else [choice]
    if BLANK.search(stem):
        for part in parts:
            stem = BLANK.sub(part, stem, count=1)
        return stem
    return f"{stem.rstrip()} {choice}"
