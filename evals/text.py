"""Text helpers shared by the metrics: sentence splitting, word and content-word tokens, and the
surface facts (numbers, years, names) that an answer must not invent.

Sentence splitting is a small regex rather than nltk/spaCy: neither is installed, both need data
downloads, and answers here are short prose with [n] citation markers we must keep attached.
"""

from __future__ import annotations

import re
from functools import lru_cache

import Stemmer

CITATION_MARKER = re.compile(r"\s*\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")  # letters of any script: "Bäuml" is one word
# A sentence ends at . ! ? (optionally followed by quotes/brackets or citation markers) and a space
# before something that starts a sentence; or at a line break (lists, headings).
# A sentence ends at . ! ? (optionally followed by closing quotes/brackets and citation markers) and
# whitespace before something that can start a sentence.
_SENTENCE_END = re.compile(r"(?<=[.!?])((?:[\"'”’)\]]*(?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])*))\s+(?=[\"'“‘(]?[A-Z0-9])")
_ABBREVIATION = re.compile(r"\b(?:e\.g|i\.e|etc|vs|dr|mr|mrs|ms|prof|st|cf|al|approx|fig|no|jr|sr|pp?|n\.d)\.",
                           re.IGNORECASE)
# Initials ("H. M.", "B. F. Skinner", "John B. Watson"): a lone capital and a period end no sentence.
_INITIALS = re.compile(r"(?<![\w.])[A-Z]\.(?=\s*[A-Z])")
_AFTER_CITED_END = re.compile(r"(?<=\]\.)\s+")
_LIST_MARKER = re.compile(r"^\s*(?:[-*•+]|\d+[.)]|#+)\s+")
_NUMBER = re.compile(r"(?<![A-Za-z])\d+(?:[.,]\d+)*(?:%|st|nd|rd|th)?")
_NUMBER_WORDS = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
    "eight": "8", "nine": "9", "ten": "10", "eleven": "11", "twelve": "12", "twenty": "20", "thirty": "30",
    "forty": "40", "fifty": "50", "hundred": "100", "thousand": "1000", "million": "1000000",
    "half": "50%",
}
_MONTHS = {"january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"}

# A short English stop list: function words carry no evidence of support.
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


def strip_citations(text: str) -> str:
    """Answer text without its [n] markers (they are not claims)."""
    return CITATION_MARKER.sub("", text).strip()


def cited_numbers(sentence: str) -> list[int]:
    """The [n] markers of a sentence, in order of appearance, without repeats."""
    numbers: list[int] = []
    for group in CITATION_MARKER.findall(sentence):
        for part in re.split(r"[,;]", group):
            n = int(part.strip())
            if n not in numbers:
                numbers.append(n)
    return numbers


def split_sentences(text: str) -> list[str]:
    """Sentences of prose or Markdown lists; markers like [1] stay with the sentence they close."""
    sentences: list[str] = []
    for line in text.splitlines():
        line = _LIST_MARKER.sub("", line).replace("**", "").strip()
        if not line:
            continue
        protected = _ABBREVIATION.sub(lambda m: m.group(0).replace(".", "\x00"), line)
        protected = _INITIALS.sub(lambda m: m.group(0).replace(".", "\x00"), protected)
        pieces = _SENTENCE_END.split(protected)
        # split() interleaves the captured trailing markers: glue each back onto its sentence.
        for body, tail in zip(pieces[0::2], [*pieces[1::2], ""]):
            # "...a behavior [1]. negative punishment: ..." (glossary entries start in lower case): a
            # cited sentence end is an end whatever follows.
            for part in _AFTER_CITED_END.split(f"{body}{tail or ''}"):
                restored = part.replace("\x00", ".").strip()
                if re.search(r"[^\W_]", strip_citations(restored)):
                    sentences.append(restored)
    return sentences


def words(text: str) -> list[str]:
    """Lower-cased word tokens (apostrophes kept inside words)."""
    return [w.lower().replace("’", "'") for w in _WORD.findall(text)]


@lru_cache(maxsize=1)
def _stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


def stems(tokens: list[str]) -> list[str]:
    return _stemmer().stemWords(tokens)


def content_stems(text: str) -> list[str]:
    """Stemmed words that carry meaning: no stop words, no one-letter tokens."""
    return stems([w for w in words(text) if w not in STOPWORDS and len(w) > 1])


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
            if token[0].isupper() and lowered not in STOPWORDS and lowered not in _MONTHS and len(token) > 1 \
                    and not token[0].isdigit():
                found.add(lowered)
    return found


def months(text: str) -> set[str]:
    return {w for w in words(text) if w in _MONTHS}
