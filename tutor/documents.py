"""Load course documents of every supported format into one shape: Markdown-ish text plus metadata.

Every format is normalised to Markdown headings so that one structure-aware chunker serves them
all (see chunking.py). Any failure becomes a DocumentError naming the file and the reason.
"""

from __future__ import annotations

import html
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import frontmatter
import yaml

from tutor.errors import DocumentError, UnsupportedDocument
from tutor.hidden import drop_hidden_html, visible_operations
from tutor.limits import ParseLimits, check_extracted, check_html_depth, check_is_text, check_size, check_zip

MARKDOWN_SUFFIXES = {".md", ".markdown", ".txt"}
SUPPORTED_SUFFIXES = MARKDOWN_SUFFIXES | {".pdf", ".html", ".htm", ".docx"}

# Front-matter keys copied into chunk metadata: scalars a citation or filter may want.
# Everything else (nested SEO blocks, related-article lists, the Q&A body itself) stays out.
FRONT_MATTER_KEYS = ("title", "url", "subject", "author", "date", "chapter", "module", "license")


@dataclass
class SourceDocument:
    """A loaded document, before chunking."""

    path: Path
    title: str
    text: str  # Markdown: '#' headings carry the structure
    kind: str  # markdown | text | pdf | html | docx
    metadata: dict[str, str | int | float | bool] = field(default_factory=dict)


def is_supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED_SUFFIXES


def load_document(path: Path, limits: ParseLimits | None = None) -> SourceDocument:
    """Read one file. Raises DocumentError (or UnsupportedDocument) with the reason.

    This runs the format's parser in the calling process: untrusted files are read through
    tutor.isolation.load_isolated, which calls this in a worker with a memory and time limit."""
    limits = limits or ParseLimits()
    suffix = path.suffix.lower()
    loader = _LOADERS.get(suffix)
    if loader is None:
        supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
        raise UnsupportedDocument(path, f"unsupported file type '{suffix or '(none)'}' (supported: {supported})")
    try:
        check_size(path, path.stat().st_size, limits)
        data = path.read_bytes()
    except OSError as exc:
        raise DocumentError(path, f"cannot be read ({exc.strerror or exc})") from exc
    check_size(path, len(data), limits)  # it may have grown since stat()
    if not data.strip():
        raise DocumentError(path, "file is empty")
    document = loader(path, data, limits)
    if not _visible_text(document.text):
        raise DocumentError(path, "no text could be extracted")
    check_extracted(path, document.text, limits)
    return document


# --- text and Markdown ------------------------------------------------------------------------------


def _decode_text(path: Path, data: bytes) -> str:
    check_is_text(path, data)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(
            path, f"cannot be decoded as UTF-8 (invalid byte at offset {exc.start}); save it as UTF-8"
        ) from exc


def _load_markdown(path: Path, data: bytes, limits: ParseLimits) -> SourceDocument:
    raw = _decode_text(path, data)
    _refuse_yaml_aliases(path, raw)
    try:
        post = frontmatter.loads(raw)
    except yaml.YAMLError as exc:
        raise DocumentError(path, f"front matter is not valid YAML ({_first_line(str(exc))})") from exc
    meta = post.metadata if isinstance(post.metadata, dict) else {}
    body = _clean_body(post.content)
    metadata = {k: _scalar(meta[k]) for k in FRONT_MATTER_KEYS if k in meta and _scalar(meta[k]) is not None}
    if "source" in meta and _scalar(meta["source"]) is not None:
        metadata["attribution"] = _scalar(meta["source"])  # 'source' is ours: the file the chunk came from

    is_markdown = path.suffix.lower() != ".txt" or bool(meta) or _looks_like_markdown(body)
    if not _visible_text(body) and isinstance(meta.get("answer"), str):
        # A Q&A page keeps its content in front matter (`question`, `answer`, with literal "\n" escapes)
        # and has only '&nbsp;' as its body: the indexed text is the question and the answer.
        question = str(meta.get("question") or meta.get("title") or "").strip()
        answer = _unescape_newlines(meta["answer"]).strip()
        body = f"# {question}\n\n{answer}" if question else answer
        is_markdown = True
    if is_markdown:
        text = body
    else:
        text = _plain_text_to_markdown(body)
    title = _title(metadata.get("title"), text, path)
    metadata.setdefault("title", title)
    return SourceDocument(path=path, title=title, text=text, kind="markdown" if is_markdown else "text",
                          metadata=metadata)


def _refuse_yaml_aliases(path: Path, raw: str) -> None:
    """Course metadata never needs YAML anchors and aliases (&a / *a); an alias bomb ("billion
    laughs") is made of nothing else. Counted on the event stream, which never expands them."""
    match = re.match(r"\A---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*$", raw, flags=re.DOTALL | re.MULTILINE)
    if not match or "*" not in match.group(1):
        return
    try:
        aliases = sum(1 for event in yaml.parse(match.group(1), Loader=yaml.SafeLoader)
                      if isinstance(event, yaml.AliasEvent))
    except yaml.YAMLError:
        return  # the real parse reports it
    if aliases:
        raise DocumentError(path, f"front matter uses YAML aliases ({aliases} '*' references); course metadata "
                                  "does not need them (and an alias bomb is made of them)")


def _clean_body(body: str) -> str:
    # HTML entities such as '&nbsp;' appear in exported pages; they are not text.
    return html.unescape(body).replace("\xa0", " ").strip()


def _unescape_newlines(value: str) -> str:
    return value.replace("\\r\\n", "\n").replace("\\n", "\n").replace("\\t", "\t")


def _looks_like_markdown(body: str) -> bool:
    return bool(re.search(r"^#{1,6} \S", body, flags=re.MULTILINE))


def _plain_text_to_markdown(body: str) -> str:
    """Give a plain-text article Markdown structure: its first line is its title, and short
    title-case lines standing alone are section headings. Short lines repeated verbatim within the
    page are site chrome (calls to action), not content, and are dropped."""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()]
    if not paragraphs:
        return ""
    counts: dict[str, int] = {}
    for paragraph in paragraphs:
        counts[paragraph] = counts.get(paragraph, 0) + 1
    out: list[str] = []
    first_line, _, rest_of_first = paragraphs[0].partition("\n")
    out.append(f"# {first_line.strip()}")
    if rest_of_first.strip():
        out.append(rest_of_first.strip())
    for paragraph in paragraphs[1:]:
        if len(paragraph) < 120 and counts[paragraph] > 1:
            continue
        out.append(f"## {paragraph}" if _is_heading_line(paragraph) else paragraph)
    return "\n\n".join(out)


def _is_heading_line(paragraph: str) -> bool:
    if "\n" in paragraph or len(paragraph) > 80 or paragraph[-1] in ".,;:!?\"”’)":
        return False
    words = re.findall(r"[A-Za-z][\w'’-]*", paragraph)
    if not 1 <= len(words) <= 12:
        return False
    capitalised = sum(1 for w in words if w[0].isupper())
    return capitalised / len(words) >= 0.6


# --- PDF ------------------------------------------------------------------------------------------


def _load_pdf(path: Path, data: bytes, limits: ParseLimits) -> SourceDocument:
    import io

    from pypdf import PdfReader
    from pypdf._configuration import apply_configuration
    from pypdf.errors import LimitReachedError, PdfReadError, PyPdfError

    if not data.lstrip().startswith(b"%PDF"):
        raise DocumentError(path, "not a PDF file (missing %PDF header): corrupt or misnamed")
    try:
        # pypdf's own bounds on inflating streams stay on; never hand a stream to an outside jbig2dec.
        with apply_configuration(jbig2dec_binary=None):
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                # Many PDFs are "encrypted" with an empty user password and open fine (AES needs the
                # `cryptography` package); real protection fails here.
                try:
                    opened = reader.decrypt("")
                except Exception as exc:  # pypdf raises several types for unsupported ciphers
                    raise DocumentError(path, f"PDF is encrypted and cannot be opened ({exc})") from exc
                if not opened:
                    raise DocumentError(path, "PDF is encrypted (password required); upload an unprotected copy")
            pages = [_visible_page_text(page) for page in reader.pages]
            info_title = (reader.metadata.title if reader.metadata else None) or None
    except DocumentError:
        raise
    except LimitReachedError as exc:
        raise DocumentError(path, f"PDF exceeds a safety limit while decompressing ({_first_line(str(exc))})") from exc
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, OSError, AttributeError, IndexError) as exc:
        raise DocumentError(path, f"PDF is corrupt or unreadable ({_first_line(str(exc)) or type(exc).__name__})") from exc
    if not any(pages):
        raise DocumentError(path, "PDF has no extractable text (scanned images need OCR first)")
    first_text_line = next((line.strip() for p in pages for line in p.splitlines() if line.strip()), "")
    title = _title(info_title, "", path) if not is_junk_title(info_title) else (first_text_line[:120] or path.stem)
    # Pages are the structure a PDF reliably has: each becomes a section so citations say "Page N".
    text = "\n\n".join(f"## Page {n}\n\n{page}" for n, page in enumerate(pages, start=1) if page)
    return SourceDocument(path=path, title=title, text=f"# {title}\n\n{text}", kind="pdf",
                          metadata={"title": title, "pages": len(pages)})


def _visible_page_text(page: object) -> str:
    """The page's text without what is drawn invisibly (tutor.hidden)."""
    from pypdf.generic import ContentStream, NameObject

    contents = page.get_contents()  # type: ignore[attr-defined]
    if contents is not None:
        operations, dropped = visible_operations(contents.operations)
        if dropped:
            filtered = ContentStream(None, None)
            filtered.operations = operations
            page[NameObject("/Contents")] = filtered  # type: ignore[index]
    return (page.extract_text() or "").strip()  # type: ignore[attr-defined]


# --- HTML -----------------------------------------------------------------------------------------

_BLOCK_TAGS = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "blockquote", "td", "th", "dt", "dd"]


def _load_html(path: Path, data: bytes, limits: ParseLimits) -> SourceDocument:
    from bs4 import BeautifulSoup

    check_is_text(path, data)
    check_html_depth(path, data)
    try:
        soup = BeautifulSoup(data, "lxml")
    except Exception as exc:  # lxml errors on truly broken bytes
        raise DocumentError(path, f"HTML cannot be parsed ({_first_line(str(exc))})") from exc
    # Before <style> goes: its rules say what is hidden. Hidden text is never course text.
    drop_hidden_html(soup)
    # Scripts, styles and page chrome are never course text.
    for tag in soup(["script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form"]):
        tag.decompose()
    page_title = soup.title.get_text(" ", strip=True) if soup.title else ""
    root = soup.body or soup
    lines: list[str] = []
    for element in root.find_all(_BLOCK_TAGS):
        if element.find_parent(_BLOCK_TAGS):  # nested blocks (a <p> inside <li>) are read once, by the parent
            continue
        text = " ".join(element.get_text(" ", strip=True).split())
        if not text:
            continue
        if element.name[0] == "h" and element.name[1:].isdigit():
            lines.append(f"{'#' * int(element.name[1:])} {text}")
        elif element.name == "li":
            lines.append(f"- {text}")
        else:
            lines.append(text)
    if not lines:  # text outside block elements, e.g. a bare <body>
        loose = root.get_text("\n", strip=True)
        lines = [loose] if loose else []
    text = "\n\n".join(lines)
    h1 = soup.find("h1")
    title = (page_title if not is_junk_title(page_title) else "") or (h1.get_text(" ", strip=True) if h1 else "") \
        or path.stem
    return SourceDocument(path=path, title=title, text=text, kind="html", metadata={"title": title})


# --- DOCX -----------------------------------------------------------------------------------------


def _load_docx(path: Path, data: bytes, limits: ParseLimits) -> SourceDocument:
    import io

    import docx
    from docx.opc.exceptions import PackageNotFoundError

    if not zipfile.is_zipfile(io.BytesIO(data)):
        reason = "DOCX is password-protected (encrypted)" if data.startswith(b"\xd0\xcf\x11\xe0") \
            else "not a valid DOCX file (corrupt or misnamed)"
        raise DocumentError(path, reason)
    check_zip(path, data, limits)
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile, SyntaxError) as exc:
        raise DocumentError(path, f"DOCX is corrupt ({_first_line(str(exc)) or type(exc).__name__})") from exc
    lines: list[str] = []
    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        if not text:
            continue
        style = (paragraph.style.name or "") if paragraph.style is not None else ""
        level = _docx_heading_level(style)
        lines.append(f"{'#' * level} {text}" if level else text)
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells if c.text.strip()]
            if cells:
                lines.append(" | ".join(cells))
    core_title = (document.core_properties.title or "").strip()
    first_heading = next((l.lstrip("# ") for l in lines if l.startswith("#")), "")
    title = (core_title if not is_junk_title(core_title) else "") or first_heading or path.stem
    return SourceDocument(path=path, title=title, text="\n\n".join(lines), kind="docx", metadata={"title": title})


def _docx_heading_level(style: str) -> int:
    if style == "Title":
        return 1
    match = re.fullmatch(r"Heading (\d)", style)
    return min(int(match.group(1)), 6) if match else 0


# --- helpers --------------------------------------------------------------------------------------


def _title(candidate: object, text: str, path: Path) -> str:
    if isinstance(candidate, str) and not is_junk_title(candidate):
        return " ".join(candidate.split())
    match = re.search(r"^# (.+)$", text, flags=re.MULTILINE)
    if match:
        return match.group(1).strip()
    return path.stem


# Titles that authoring tools write by default rather than authors: a browser's print-to-PDF of a blank
# tab, a word processor's "Untitled" or "Microsoft Word - notes.docx", or the path of the source file.
_JUNK_TITLES = re.compile(
    r"(?ix) ^(?: about:blank | untitled(?:\s+document|\s*\d*)? | document\s*\d* | title | none | null | slide\s*\d* | "
    r"microsoft\s+(?:word|powerpoint|excel)\s*-.* | .*\.(?:docx?|pdf|pptx?|odt|rtf|txt|html?|tex|md) )$")


def is_junk_title(title: object) -> bool:
    """True when a metadata title is empty or a tool's placeholder rather than the document's name."""
    if not isinstance(title, str) or not title.strip():
        return True
    text = " ".join(title.split())
    looks_like_path = bool(re.match(r"^(?:[a-z]:\\|/|\\\\|file:)", text, re.IGNORECASE)) or text.count("/") >= 2
    return looks_like_path or bool(_JUNK_TITLES.match(text))


def _scalar(value: object) -> str | int | float | bool | None:
    if isinstance(value, (str, int, float, bool)):
        return value.strip() if isinstance(value, str) else value
    if value is not None and hasattr(value, "isoformat"):  # YAML dates
        return value.isoformat()
    return None


def _visible_text(text: str) -> bool:
    return bool(re.search(r"\w", re.sub(r"^#+\s*", "", text, flags=re.MULTILINE)))


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else ""


_LOADERS: dict[str, Callable[[Path, bytes, ParseLimits], SourceDocument]] = {
    ".md": _load_markdown,
    ".markdown": _load_markdown,
    ".txt": _load_markdown,
    ".pdf": _load_pdf,
    ".html": _load_html,
    ".htm": _load_html,
    ".docx": _load_docx,
}
