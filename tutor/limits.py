"""Bounds on reading untrusted course files: how big, how long, how much memory, how much inflation.

A course file comes from whoever could write to the library (an upload, a shared folder), so every
reader runs within these limits (see isolation.py for where: a worker process). The checks here are
the cheap ones that need no parser: size by format, bytes that are not text, a ZIP that would inflate
too far. Each failure says which limit was hit and which setting raises it.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from tutor.errors import DocumentError

MB = 1024 * 1024

# Which setting bounds which format (the README lists the defaults).
SIZE_SETTINGS = {".md": "TUTOR_MAX_TEXT_MB", ".markdown": "TUTOR_MAX_TEXT_MB", ".txt": "TUTOR_MAX_TEXT_MB",
                 ".html": "TUTOR_MAX_HTML_MB", ".htm": "TUTOR_MAX_HTML_MB", ".pdf": "TUTOR_MAX_PDF_MB",
                 ".docx": "TUTOR_MAX_DOCX_MB"}

# Text never has these: C0 controls other than tab, LF, FF, CR (and ESC, which old ANSI-coloured
# notes do have), plus DEL. Random or compressed bytes have ~11% of them; real UTF-8 or Latin-1
# text has none, so 1% of a 64 KB sample is far from both.
_CONTROL_BYTES = frozenset(set(range(0x00, 0x09)) | {0x0B, 0x0E, 0x0F} | set(range(0x10, 0x1B))
                           | set(range(0x1C, 0x20)) | {0x7F})
_SAMPLE_BYTES = 64 * 1024
_MAX_CONTROL_SHARE = 0.01


@dataclass(frozen=True)
class ParseLimits:
    """Everything a worker needs to know to refuse a file (small and picklable)."""

    timeout_s: float = 30.0  # wall clock per file, TUTOR_PARSE_TIMEOUT
    memory_mb: int = 1024  # address space of the worker, TUTOR_PARSE_MEMORY_MB
    max_bytes: dict[str, int] = field(default_factory=lambda: {
        ".md": 10 * MB, ".markdown": 10 * MB, ".txt": 10 * MB, ".html": 10 * MB, ".htm": 10 * MB,
        ".pdf": 100 * MB, ".docx": 50 * MB})
    max_extracted_chars: int = 5_000_000  # ~5,000 chunks of 1,000 characters, TUTOR_MAX_EXTRACTED_CHARS
    docx_max_unpacked_bytes: int = 200 * MB  # all members of a DOCX together, TUTOR_MAX_DOCX_UNPACKED_MB
    zip_max_ratio: int = 100  # per member above 1 MB: XML compresses ~10x, a bomb thousands of times

    @classmethod
    def from_settings(cls, settings: object) -> ParseLimits:
        text, html, pdf, docx = (int(getattr(settings, name) * MB) for name in
                                 ("max_text_mb", "max_html_mb", "max_pdf_mb", "max_docx_mb"))
        return cls(timeout_s=settings.parse_timeout, memory_mb=settings.parse_memory_mb,  # type: ignore[attr-defined]
                   max_bytes={".md": text, ".markdown": text, ".txt": text, ".html": html, ".htm": html,
                              ".pdf": pdf, ".docx": docx},
                   max_extracted_chars=settings.max_extracted_chars,  # type: ignore[attr-defined]
                   docx_max_unpacked_bytes=int(settings.max_docx_unpacked_mb * MB))  # type: ignore[attr-defined]


def check_size(path: Path, size: int, limits: ParseLimits) -> None:
    """Refuse a file over its format's limit before reading a byte of it."""
    suffix = path.suffix.lower()
    limit = limits.max_bytes.get(suffix)
    if limit is not None and size > limit:
        raise DocumentError(path, f"is {size / MB:.3g} MB; the limit for {suffix} files is {round(limit / MB, 2):g} MB "
                                  f"({SIZE_SETTINGS[suffix]})")


def check_is_text(path: Path, data: bytes) -> None:
    """Refuse bytes that are not text (an image, an archive, random bytes) named like a text file."""
    sample = data[:_SAMPLE_BYTES]
    if b"\x00" in sample:
        raise DocumentError(path, "looks like a binary file, not text (contains NUL bytes)")
    controls = sum(1 for byte in sample if byte in _CONTROL_BYTES)
    if sample and controls / len(sample) > _MAX_CONTROL_SHARE:
        raise DocumentError(path, f"looks like a binary file, not text ({controls / len(sample):.0%} control bytes)")


def check_extracted(path: Path, text: str, limits: ParseLimits) -> None:
    if len(text) > limits.max_extracted_chars:
        raise DocumentError(path, f"holds {len(text):,} characters of text; the limit is "
                                  f"{limits.max_extracted_chars:,} (TUTOR_MAX_EXTRACTED_CHARS)")


def check_zip(path: Path, data: bytes, limits: ParseLimits) -> None:
    """A DOCX is a ZIP: refuse one whose members would inflate past the limits, before any XML
    parser sees them. zipfile never returns more than a member's declared size, so checking the
    declared sizes bounds what is read."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise DocumentError(path, f"not a valid DOCX file (corrupt ZIP: {exc})") from exc
    total = 0
    for member in members:
        total += member.file_size
        if member.file_size > MB and member.file_size > limits.zip_max_ratio * max(member.compress_size, 1):
            raise DocumentError(path, f"member {member.filename!r} would inflate {member.compress_size:,} bytes "
                                      f"to {member.file_size:,} (more than {limits.zip_max_ratio}x): a ZIP bomb?")
        if total > limits.docx_max_unpacked_bytes:
            raise DocumentError(path, f"would inflate to more than {limits.docx_max_unpacked_bytes / MB:g} MB "
                                      "(TUTOR_MAX_DOCX_UNPACKED_MB)")


# Real pages nest a few dozen deep; Python tree builders crawl (or recurse) far past this, and libxml2
# stops reporting at 256 levels without telling (so the limit sits below that).
MAX_HTML_DEPTH = 250


def check_html_depth(path: Path, data: bytes) -> None:
    """Refuse HTML nested deeper than MAX_HTML_DEPTH before a Python tree is built from it: lxml's
    C parser streams the events, so this costs milliseconds where BeautifulSoup would take seconds."""
    from lxml import etree

    depth = 0
    try:
        for event, _ in etree.iterparse(io.BytesIO(data), events=("start", "end"), html=True, recover=True,
                                        huge_tree=False):
            depth += 1 if event == "start" else -1
            if depth > MAX_HTML_DEPTH:
                raise DocumentError(path, f"HTML is nested more than {MAX_HTML_DEPTH} elements deep; "
                                          "no course page is (refused)")
    except etree.Error:
        return  # unparseable here: BeautifulSoup's lenient parse decides
