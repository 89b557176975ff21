"""Readable titles: junk metadata titles ignored, instructors' titles kept across re-ingests, and the
whole section of a passage read back from the index."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.documents import write_docx, write_pdf
from tutor.chunking import join_chunks
from tutor.documents import is_junk_title, load_document
from tutor.errors import TutorError
from tutor.models import Chunk
from tutor.service import TutorService
from tutor.settings import Settings
from tutor.titles import is_hash_like, load_titles, titles_path


@pytest.mark.parametrize("title", ["", "  ", "about:blank", "Untitled", "untitled document", "Document1",
                                   "Microsoft Word - week3 notes.docx", "C:\\Users\\ta\\Desktop\\notes.docx",
                                   "/home/ta/handouts/notes.pdf", "lecture3.pptx"])
def test_tool_placeholder_titles_are_junk(title: str) -> None:
    assert is_junk_title(title)


@pytest.mark.parametrize("title", ["Learning and Memory", "Week 1: Encoding / Storage", "Psychology 2e",
                                   "Memory 8.1 — How Memory Functions"])
def test_real_titles_are_kept(title: str) -> None:
    assert not is_junk_title(title)


def test_pdf_with_a_junk_metadata_title_is_titled_by_its_first_line(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "3f9a2c41d0b7e655.pdf", ["Spaced Retrieval Practice",
                                                          "Testing yourself spaced over days beats rereading."],
                     title="about:blank")
    document = load_document(path)
    assert document.title == "Spaced Retrieval Practice"
    kept = load_document(write_pdf(tmp_path / "b.pdf", ["Body text here."], title="Study Skills Handout"))
    assert kept.title == "Study Skills Handout"


def test_docx_with_a_word_placeholder_title_uses_its_first_heading(tmp_path: Path) -> None:
    path = write_docx(tmp_path / "notes.docx", "Microsoft Word - notes.docx", {"Sleep": ["Sleep consolidates."]})
    # write_docx also writes its title as the first heading: make that heading a real one.
    import docx

    document = docx.Document(str(path))
    document.paragraphs[0].text = "Sleep and Memory"
    document.save(str(path))
    assert load_document(path).title == "Sleep and Memory"


@pytest.mark.parametrize("name, hashed", [("000_224ce50211750157.txt", True), ("3f2a9c0e-11aa-4b2c.pdf", True),
                                          ("psychology-2e/08-1-how-memory-functions.md", False),
                                          ("week-2024-notes.md", False), ("handout.pdf", False)])
def test_hash_like_file_names(name: str, hashed: bool) -> None:
    assert is_hash_like(name) is hashed


def test_overlapping_chunks_join_without_repeating_the_overlap() -> None:
    def chunk(position: int, text: str) -> Chunk:
        return Chunk(f"c{position}", text, "a.md", "A", "S", position)

    first = "Encoding is the input of information. It can be automatic or effortful."
    second = "It can be automatic or effortful. Storage keeps it over time."
    third = "A new paragraph that does not overlap anything before it."
    assert join_chunks([chunk(2, third), chunk(0, first), chunk(1, second)]) == (
        "Encoding is the input of information. It can be automatic or effortful. Storage keeps it over time."
        "\n\nA new paragraph that does not overlap anything before it.")


@pytest.mark.slow
def test_renamed_title_reaches_chunks_at_once_and_survives_reingest(tmp_path: Path, embedder) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    doc = corpus / "000_9f8e7d6c5b4a3210.md"
    doc.write_text("# Working Memory\n\n## Capacity\n\nWorking memory holds about four chunks at once.\n",
                   encoding="utf-8")
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=corpus)
    service = TutorService(settings, embedder=embedder)
    assert service.ingest(quiet=True).exit_code == 0
    assert {c.title for c in service.store.all_chunks()} == {"Working Memory"}

    assert service.rename_document("000_9f8e7d6c5b4a3210.md", "  Week 3:\nWorking memory  ") == \
        "Week 3: Working memory"
    assert {c.title for c in service.store.all_chunks()} == {"Week 3: Working memory"}
    assert service.ask("How many chunks does working memory hold?").citations[0].title == "Week 3: Working memory"

    doc.write_text(doc.read_text(encoding="utf-8") + "\nIt fades in about twenty seconds without rehearsal.\n",
                   encoding="utf-8")
    assert service.ingest(quiet=True).count("updated") == 1
    assert {c.title for c in service.store.all_chunks()} == {"Week 3: Working memory"}
    assert "twenty seconds" in service.section_text("000_9f8e7d6c5b4a3210.md", "Working Memory › Capacity")

    with pytest.raises(TutorError, match="empty"):
        service.rename_document("000_9f8e7d6c5b4a3210.md", "   ")
    with pytest.raises(TutorError, match="Not in the index"):
        service.rename_document("missing.md", "Anything")
    assert load_titles(settings.data_dir) == {"000_9f8e7d6c5b4a3210.md": "Week 3: Working memory"}


def test_a_corrupt_titles_file_is_named_in_the_error(tmp_path: Path) -> None:
    titles_path(tmp_path).write_text("{not json", encoding="utf-8")
    with pytest.raises(TutorError, match="titles.json"):
        load_titles(tmp_path)
