"""Structure-aware chunking: split on Markdown headings first, then by size within a section.

Each chunk keeps the heading path it sits under ("How Memory Functions › Encoding") and an id
derived from its content, so a citation resolves for as long as that passage is unchanged.
"""

from __future__ import annotations

import hashlib

from langchain_text_splitters import MarkdownHeaderTextSplitter, RecursiveCharacterTextSplitter

from tutor.documents import SourceDocument
from tutor.models import Chunk

SECTION_SEPARATOR = " › "
# Bump when chunk boundaries or ids would change for the same input, so ingest re-chunks every file.
# "2": documents lose hidden text and chunks record planted sentences (tutor.hidden, tutor.directives).
CHUNKER_VERSION = "2"

_HEADERS = [("#", "h1"), ("##", "h2"), ("###", "h3"), ("####", "h4"), ("#####", "h5"), ("######", "h6")]


def chunk_document(document: SourceDocument, source: str, chunk_size: int = 1000,
                   chunk_overlap: int = 100) -> list[Chunk]:
    """Split a loaded document into chunks that carry source, title, section path and position."""
    header_splitter = MarkdownHeaderTextSplitter(headers_to_split_on=_HEADERS, strip_headers=True)
    size_splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size, chunk_overlap=chunk_overlap, separators=["\n\n", "\n", ". ", "; ", ", ", " ", ""]
    )
    chunks: list[Chunk] = []
    seen_ids: set[str] = set()
    for section_doc in header_splitter.split_text(document.text):
        section = SECTION_SEPARATOR.join(
            section_doc.metadata[key] for _, key in _HEADERS if section_doc.metadata.get(key)
        )
        # The header splitter re-joins a section's lines with Markdown hard breaks ("  \n"); plain
        # newlines keep the passage as the author wrote it.
        content = section_doc.page_content.replace("  \n", "\n")
        for piece in size_splitter.split_text(content):
            text = piece.strip()
            if not text:
                continue
            chunk_id = _stable_id(source, section, text, seen_ids)
            seen_ids.add(chunk_id)
            chunks.append(Chunk(chunk_id=chunk_id, text=text, source=source, title=document.title,
                                section=section, position=len(chunks), metadata=dict(document.metadata)))
    return chunks


def embedding_text(chunk: Chunk) -> str:
    """What the encoder sees: the heading path gives a short passage its topic ("Encoding" alone
    says little; "How Memory Functions › Encoding" says what it is about)."""
    parts = [p for p in chunk.section.split(SECTION_SEPARATOR) if p]
    if parts and parts[0] in chunk.title:  # "How Memory Functions" is already in "Memory 8.1 — How Memory Functions"
        parts = parts[1:]
    return f"{SECTION_SEPARATOR.join([chunk.title, *parts])}\n\n{chunk.text}"


def _stable_id(source: str, section: str, text: str, taken: set[str]) -> str:
    digest = hashlib.sha256(f"{source}\x1f{section}\x1f{text}".encode()).hexdigest()[:20]
    candidate, n = digest, 2
    while candidate in taken:  # the same passage twice in one section: keep both, deterministically
        candidate, n = f"{digest}-{n}", n + 1
    return candidate


def join_chunks(chunks: list[Chunk], max_overlap: int = 400) -> str:
    """The text of consecutive chunks of one section read as one: the overlap the size splitter
    repeats at the start of each chunk is dropped (the longest end of the previous chunk that the
    next one starts with), and chunks that do not overlap are paragraphs."""
    text = ""
    for chunk in sorted(chunks, key=lambda c: c.position):
        piece = chunk.text
        if not text:
            text = piece
            continue
        longest = min(len(text), len(piece), max_overlap)
        shared = next((n for n in range(longest, 0, -1) if text.endswith(piece[:n])), 0)
        # A one-word coincidence ("the") is not an overlap: only drop what is at least a few words.
        if shared >= 20:
            text += piece[shared:]
        else:
            text += "\n\n" + piece
    return text
