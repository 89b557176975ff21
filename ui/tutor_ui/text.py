"""Turning text that documents or models wrote into Markdown that shows it, and nothing more.

Streamlit renders Markdown, never raw HTML unless asked (we never ask). Still, a course document
is itself Markdown and may contain anything, so its text is escaped character by character and
shown as written; quoted sentences are highlighted with Streamlit's own `:orange-background[...]`
directive around escaped text. A model's answer keeps light formatting (emphasis, lists) but loses
what could act on the reader: images and links (a prompt-injected page could make the model emit an
image URL that leaks the conversation), raw tags and LaTeX.
"""

from __future__ import annotations

import re
import string
from itertools import groupby
from collections.abc import Iterable, Iterator

from tutor.text import split_sentences

_ALL_PUNCTUATION = set(string.punctuation)
# In a model's answer: '[' ']' (links, images, Streamlit directives), '<' '>' (tags, autolinks), '$'
# (LaTeX), '\' (so a model cannot undo our escapes), ':' and '@' (GFM turns bare "https://..." and
# "name@host" into links). Per character, so a streamed answer escapes the same in pieces as in one.
_MODEL_SPECIAL = set("[]<>$\\:@")
# GFM also links a bare "www.host": escaping its dot keeps it text.
_WWW = re.compile(r"(?i)(?<![\w.])(www)\.")

HIGHLIGHT_COLOR = "orange"
_MARKUP_CHARS = re.compile(r"[*_`]+")


def escape_markdown(text: str) -> str:
    """Show `text` literally: every ASCII punctuation character is backslash-escaped (CommonMark
    allows that for all of them), leading indentation is dropped so nothing becomes a code block,
    and single line breaks are kept as hard breaks."""
    return highlighted_passage(text, "")


def model_markdown(text: str) -> str:
    """A model's answer as Markdown: formatting kept; links, images, tags and LaTeX shown as text."""
    escaped = "".join(f"\\{ch}" if ch in _MODEL_SPECIAL else ch for ch in text)
    return _WWW.sub(r"\1\\.", escaped)


def model_markdown_stream(deltas: Iterable[str]) -> Iterator[str]:
    """`model_markdown` applied to a streamed answer, for st.write_stream. A tail that may be the
    start of "www." waits for the next piece, so the result equals escaping the whole text at once."""
    pending = ""
    for delta in deltas:
        text = pending + delta
        tail = re.search(r"(?i)(?<![\w.])w{1,3}$", text)
        cut = tail.start() if tail else len(text)
        pending = text[cut:]
        if text[:cut]:
            yield model_markdown(text[:cut])
    if pending:
        yield model_markdown(pending)


def highlight_spans(text: str, quote: str) -> list[tuple[int, int]]:
    """Where the quoted sentences occur in `text` (sorted, merged character spans). Each sentence is
    searched on its own, ignoring differences in white space, so a quote that skips a sentence or
    re-wraps lines still lights up what it took from the passage. A quote joined from sentences that
    had no closing punctuation (a PDF's wrapped lines) cannot be split back: then each passage
    sentence the quote contains is lit instead."""
    spans: list[tuple[int, int]] = []
    missed = False
    for sentence in _sentences(quote):
        span = _locate(text, sentence)
        if span:
            spans.append(span)
        missed = missed or span is None
    if missed:
        flat = _flat(quote)
        for sentence in _sentences(text):
            # Five words or more: a short line (a heading) is contained in many a longer sentence.
            if len(sentence.split()) >= 5 and _flat(sentence) in flat:
                span = _locate(text, sentence)
                if span:
                    spans.append(span)
    return _merge(spans, text)


def _locate(text: str, sentence: str) -> tuple[int, int] | None:
    # Quotes come with Markdown emphasis stripped; the passage may still have it between words.
    words = [w for w in (_MARKUP_CHARS.sub("", w) for w in sentence.split()) if w]
    if not words:
        return None
    # Emphasis may also sit inside a word's run of characters ("Basis**:"), so it is allowed anywhere.
    pattern = r"[\s*_`]+".join(r"[*_`]*" + r"[*_`]*".join(map(re.escape, w)) + r"[*_`]*" for w in words)
    match = re.search(pattern, text) or re.search(pattern, text, flags=re.IGNORECASE)
    return match.span() if match else None


def _flat(text: str) -> str:
    return " ".join(_MARKUP_CHARS.sub("", text).lower().split())


def _marked_characters(text: str, quote: str) -> list[bool]:
    """For each character of the passage, whether it lies in a quoted sentence."""
    marked = [False] * len(text)
    for start, end in highlight_spans(text, quote) if quote.strip() else []:
        marked[start:end] = [True] * (end - start)
    return marked


def highlighted_passage(text: str, quote: str) -> str:
    """The passage as Markdown, escaped, with the quoted sentences on an orange background."""
    marked = _marked_characters(text, quote)
    lines: list[str] = []
    offset = 0
    for line in text.split("\n"):
        first = offset + len(line) - len(line.lstrip())  # indentation would make a code block
        pieces = []
        # A directive cannot span lines, so runs are cut at line ends.
        for is_marked, run in groupby(range(first, offset + len(line)), key=lambda i: marked[i]):
            chars = "".join(text[i] for i in run)
            escaped = _escape_all(chars)
            pieces.append(f":{HIGHLIGHT_COLOR}-background[{escaped}]" if is_marked and chars.strip() else escaped)
        lines.append("".join(pieces).rstrip())
        offset += len(line) + 1
    # Single newlines become Markdown hard breaks; blank lines stay paragraph breaks.
    return re.sub(r"(?<!\n)\n(?!\n)", "  \n", "\n".join(lines))


def _escape_all(text: str) -> str:
    return "".join(f"\\{ch}" if ch in _ALL_PUNCTUATION else ch for ch in text)


def _sentences(quote: str) -> list[str]:
    """The quote's sentences (split as the answerer split the passage), without enclosing quote marks."""
    parts = (p.strip().strip("\"“”'‘’").strip() for p in split_sentences(quote))
    return [p for p in parts if p.strip(" .")]


def _merge(spans: list[tuple[int, int]], text: str) -> list[tuple[int, int]]:
    """Overlapping spans, and spans only white space apart, become one."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and (start <= merged[-1][1] or not text[merged[-1][1]:start].strip()):
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


# A line's block markup (list item, quote, numbered step) stays outside a highlight, or it stops being markup.
_BLOCK_PREFIX = re.compile(r"^(?:>\s*)*(?:[-*+]\s+|\d{1,3}[.)]\s+)?")
_HEADING_PREFIX = re.compile(r"^#{1,6}\s+")


def passage_markdown(text: str, quote: str) -> str:
    """A course passage rendered as the Markdown it is written in (emphasis, lists, numbered steps),
    with the quoted sentences on an orange background. What could act on the reader is escaped as in
    a model's answer (links, images, tags, LaTeX, bare URLs); headings inside a passage become bold
    lines so they do not outshout the source's own heading."""
    marked = _marked_characters(text, quote)
    lines: list[str] = []
    offset = 0
    for line in text.split("\n"):
        first = offset + len(line) - len(line.lstrip())  # indentation would make a code block
        body = text[first:offset + len(line)]
        heading = _HEADING_PREFIX.match(body)
        prefix = heading or _BLOCK_PREFIX.match(body)
        start = first + (prefix.end() if prefix else 0)
        pieces = [] if heading else [model_markdown(body[:start - first])]
        for is_marked, run in groupby(range(start, offset + len(line)), key=lambda i: marked[i]):
            chars = "".join(text[i] for i in run)
            shown = model_markdown(chars)
            pieces.append(f":{HIGHLIGHT_COLOR}-background[{shown}]" if is_marked and chars.strip() else shown)
        rendered = "".join(pieces).rstrip()
        lines.append(f"**{rendered}**" if heading and rendered else rendered)
        offset += len(line) + 1
    return re.sub(r"(?<!\n)\n(?!\n)", "  \n", "\n".join(lines))


UNCITED_BADGE = ":gray-badge[no source]"
UNSUPPORTED_BADGE = ":orange-badge[weak source]"
_SENTENCE_TAIL = re.compile(r"(?:\s*\[\d+(?:,\s*\d+)*\])*[.!?…]?")


def marked_answer_markdown(text: str, flagged: Iterable[tuple[str, str]]) -> str:
    """A model's answer as Markdown (see model_markdown) with a small badge after each flagged
    sentence, given as (sentence, badge): one that cites nothing, or whose citations do not support
    it. Sentences are found in the text as written (emphasis tolerated); one that cannot be found is
    left unmarked rather than guessed at."""
    cuts: dict[int, str] = {}
    for sentence, badge in flagged:
        # Flagged sentences come without their [n] markers: find the words, then step over the markers
        # and the closing punctuation so the badge ends the sentence.
        spans = highlight_spans(text, sentence.rstrip(".!?…"))
        if spans:
            tail = _SENTENCE_TAIL.match(text, spans[-1][1])
            cuts.setdefault(tail.end() if tail else spans[-1][1], badge)
    pieces, start = [], 0
    for cut in sorted(cuts):
        pieces += [model_markdown(text[start:cut]), f" {cuts[cut]}"]
        start = cut
    pieces.append(model_markdown(text[start:]))
    return "".join(pieces)
