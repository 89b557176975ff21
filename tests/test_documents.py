"""Loading and chunking each supported format, and each kind of bad file, without embedding."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.documents import write_docx, write_encrypted_pdf, write_pdf
from tutor.chunking import chunk_document
from tutor.documents import load_document
from tutor.errors import DocumentError, UnsupportedDocument

REPO = Path(__file__).resolve().parents[1]
QA_SEED = REPO / "corpus" / "000_224ce50211750157.txt"
ARTICLE_SEED = REPO / "corpus" / "001_e2ce60a967ffc981.txt"
MEMORY_CHAPTER = REPO / "corpus" / "psychology-2e" / "08-1-how-memory-functions.md"


def test_seed_qa_page_is_indexed_as_question_and_answer() -> None:
    document = load_document(QA_SEED)
    assert document.title == "What are the main differences between learning and memory?"
    assert document.metadata["url"] == "/learn/psychology/questions/what-are-the-main-differences-between-learning-and-memory"
    assert document.metadata["subject"] == "Psychology"
    chunks = chunk_document(document, "000_224ce50211750157.txt")
    text = "\n".join(c.text for c in chunks)
    assert chunks[0].section == "What are the main differences between learning and memory?"
    assert text.startswith("The main differences between learning and memory can be summarized as follows:")
    assert "In summary, while learning and memory are closely related" in text
    # Cleanly: the literal "\n" escapes became line breaks, and the '&nbsp;' body is gone.
    assert "\\n" not in text and "&nbsp;" not in text and "\xa0" not in text
    assert "1. **Definition**:" in text
    # The SEO block and related-article lists are metadata noise, not course text.
    assert "QuickTakes" not in text and "related_article" not in text and "Korsakov" not in text


def test_seed_article_first_line_is_its_title_and_headings_become_sections() -> None:
    document = load_document(ARTICLE_SEED)
    assert document.title == "The Relationship Between Learning And Memory"
    chunks = chunk_document(document, "001_e2ce60a967ffc981.txt")
    sections = {c.section for c in chunks}
    assert "The Relationship Between Learning And Memory › Music Training" in sections
    assert "The Relationship Between Learning And Memory › The Power Of Perception" in sections
    music = [c for c in chunks if c.section.endswith("Music Training")]
    assert any("music training" in c.text.lower() for c in music)
    # The call-to-action repeated in the page is site chrome and is dropped.
    assert not any("Want To Understand The Deeper Relationship" in c.text for c in chunks)


def test_markdown_front_matter_and_heading_path() -> None:
    document = load_document(MEMORY_CHAPTER)
    assert document.title == "Memory 8.1 — How Memory Functions"
    assert document.metadata["chapter"] == "Memory"
    assert "OpenStax" in document.metadata["attribution"]
    chunks = chunk_document(document, "psychology-2e/08-1-how-memory-functions.md")
    assert any(c.section == "How Memory Functions › Encoding" for c in chunks)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    assert all(len(c.text) <= 1000 for c in chunks)
    assert len({c.chunk_id for c in chunks}) == len(chunks)


def test_chunk_ids_depend_on_content_not_on_neighbours(tmp_path: Path) -> None:
    doc = tmp_path / "notes.md"
    doc.write_text("# Notes\n\n## Alpha\n\nFirst passage about encoding.\n\n## Beta\n\nSecond passage about storage.\n")
    before = {c.section: c.chunk_id for c in chunk_document(load_document(doc), "notes.md")}
    doc.write_text("# Notes\n\n## Alpha\n\nFirst passage about encoding.\n\n## Beta\n\nSecond passage, now edited.\n")
    after = {c.section: c.chunk_id for c in chunk_document(load_document(doc), "notes.md")}
    assert before["Notes › Alpha"] == after["Notes › Alpha"]
    assert before["Notes › Beta"] != after["Notes › Beta"]


def test_pdf_pages_become_sections(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "spacing.pdf", ["Distributed practice improves long-term retention."],
                     title="Spacing Effect Handout")
    document = load_document(path)
    assert document.title == "Spacing Effect Handout"
    chunks = chunk_document(document, "spacing.pdf")
    assert chunks[0].section == "Spacing Effect Handout › Page 1"
    assert "Distributed practice improves long-term retention." in chunks[0].text


def test_html_headings_kept_and_scripts_dropped(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(
        "<html><head><title>Sleep and Memory</title><script>var tracking = 1;</script></head><body>"
        "<nav>Home | About</nav><h1>Sleep and Memory</h1><h2>Consolidation</h2>"
        "<p>Sleep helps consolidate memories formed during the day.</p><ul><li>REM sleep</li></ul></body></html>"
    )
    document = load_document(path)
    chunks = chunk_document(document, "page.html")
    assert document.title == "Sleep and Memory"
    assert chunks[0].section == "Sleep and Memory › Consolidation"
    assert "Sleep helps consolidate memories" in chunks[0].text and "- REM sleep" in chunks[0].text
    joined = " ".join(c.text for c in chunks)
    assert "tracking" not in joined and "Home | About" not in joined


def test_docx_heading_styles_become_sections(tmp_path: Path) -> None:
    path = write_docx(tmp_path / "guide.docx", "Study Guide",
                      {"Retrieval Practice": ["Testing yourself strengthens memory traces."]})
    document = load_document(path)
    chunks = chunk_document(document, "guide.docx")
    assert document.title == "Study Guide"
    assert chunks[0].section == "Study Guide › Retrieval Practice"
    assert "Testing yourself strengthens memory traces." in chunks[0].text


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.md", b"", "file is empty"),
        ("blank.txt", b"   \n\n", "file is empty"),
        ("latin1.txt", "Caf\u00e9 au lait".encode("latin-1"), "cannot be decoded as UTF-8"),
        ("binary.txt", b"abc\x00\x01\x02def", "binary"),
        ("broken.pdf", b"%PDF-1.4\n%garbage that is not a pdf body", "corrupt"),
        ("fake.pdf", b"just text pretending to be a pdf", "not a PDF"),
        ("broken.docx", b"PK\x03\x04 not really a zip archive", "not a valid DOCX"),
        ("encrypted.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "encrypted"),
        ("only-front-matter.md", b"---\ntitle: Nothing here\n---\n\n", "no text"),
        ("bad-yaml.md", b"---\ntitle: [unclosed\n---\nBody text.\n", "front matter is not valid YAML"),
    ],
)
def test_bad_files_raise_with_reason(tmp_path: Path, name: str, content: bytes, reason: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(DocumentError) as excinfo:
        load_document(path)
    assert reason in excinfo.value.reason
    assert name in str(excinfo.value)


def test_encrypted_pdf_is_reported(tmp_path: Path) -> None:
    path = write_encrypted_pdf(tmp_path / "locked.pdf", ["Secret handout text."])
    with pytest.raises(DocumentError, match="encrypted"):
        load_document(path)


def test_unsupported_type_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "diagram.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(UnsupportedDocument, match="unsupported file type '.png'"):
        load_document(path)
