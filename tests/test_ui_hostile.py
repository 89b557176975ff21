"""Hostile input through the app (AppTest): uploads of bombs and garbage beside a good file, a
student guessing the instructor password, and the exported chat opened in an HTML-rendering viewer."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from tests.support.hostile import PLANTED, VISIBLE_PLANTED_MD, write_docx_bomb, write_pdf_bomb
from tests.support.ui import APP, copy_index
from tutor.models import Answer, Chunk, Citation, Passage
from tutor_ui.chat import ChatEntry, conversation_markdown
from tutor_ui.text import escape_markdown, model_markdown

PASSWORD = "s3cret-for-hostile-tests"
ZEBRAFISH = b"# Zebrafish Navigation\n\nZebrafish larvae navigate dark water with the lateral line.\n"


@pytest.fixture
def course(indexed_service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data_dir, corpus_dir = copy_index(indexed_service, tmp_path)
    monkeypatch.setenv("TUTOR_DATA_DIR", str(data_dir))
    monkeypatch.setenv("TUTOR_CORPUS_DIR", str(corpus_dir))
    monkeypatch.setenv("TUTOR_INSTRUCTOR_PASSWORD", PASSWORD)
    return corpus_dir


def _plain(markdown: str) -> str:
    return markdown.replace("\\", "")


def _library(password: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.run()
    at.switch_page("app_pages/library.py").run()
    if password is not None:
        _log_in(at, password)
    return at


def _log_in(at: AppTest, password: str) -> AppTest:
    at.text_input[0].input(password)
    at.form_submit_button[0].click().run()
    assert not at.exception, at.exception
    return at


def test_hostile_uploads_fail_by_name_and_the_good_ones_are_added(course: Path, tmp_path: Path) -> None:
    docx_bomb = write_docx_bomb(tmp_path / "bomb.docx").read_bytes()
    pdf_bomb = write_pdf_bomb(tmp_path / "bomb.pdf").read_bytes()
    at = _library(PASSWORD)
    at.file_uploader[0].set_value([
        ("bomb.docx", docx_bomb, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("bomb.pdf", pdf_bomb, "application/pdf"),
        ("random.html", os.urandom(64 * 1024), "text/html"),
        ("zebrafish.md", ZEBRAFISH, "text/markdown"),
        ("planted.md", VISIBLE_PLANTED_MD.encode(), "text/markdown"),
    ])
    at.run()
    next(b for b in at.button if b.label == "Add to library").click().run()
    assert not at.exception, at.exception
    errors = [_plain(e.value) for e in at.error]
    assert any(e.startswith("bomb.docx: member 'word/document.xml' would inflate") for e in errors), errors
    assert any(e.startswith("bomb.pdf: PDF exceeds a safety limit") for e in errors), errors
    assert any(e.startswith("random.html: looks like a binary file") for e in errors), errors
    successes = [_plain(s.value) for s in at.success]
    assert any("zebrafish.md: added" in s for s in successes) and any("planted.md: added" in s for s in successes)
    warnings = [_plain(w.value) for w in at.warning]
    assert any(w.startswith("planted.md, line 5: looks like an instruction planted") for w in warnings), warnings
    # Nothing of the failed files reached the library folder; the page lists the planted sentence.
    assert not (course / "bomb.docx").exists() and not (course / "random.html").exists()
    table = at.dataframe[0].value
    assert table.loc[table["File"] == "planted.md", "Planted instructions"].tolist() == [1], table
    at.selectbox(key="manage-document").set_value("planted.md").run()
    assert any(PLANTED in _plain(w.value) for w in at.warning)


def test_a_students_wrong_passwords_never_lock_the_instructor_out(course: Path) -> None:
    student = _library()
    for _ in range(6):
        _log_in(student, "guess")
    assert "try again in" in _plain(student.error[0].value)
    assert not student.file_uploader

    instructor = _library(PASSWORD)  # another browser session, right away
    assert instructor.file_uploader, [e.value for e in instructor.error]
    assert "instructor" not in student.session_state  # (the delays themselves: test_uploads, with a clock)


def test_the_export_escapes_like_the_page_and_renders_no_link_image_or_tag() -> None:
    hostile = ('Quokkas <script>alert(1)</script> eat leaves ![x](http://evil.example/pixel.png) '
               '[your grade](http://evil.example/login) <img src=x onerror=alert(1)> see https://evil.example/a '
               'or www.evil.example or mail admin@evil.example')
    chunk = Chunk("c1", hostile, "quokka <b>.md", "Quokka <i>diet</i>", "Food", 0)
    answer = Answer("q", f"{hostile} [1].", [Citation(1, "c1", chunk.source, chunk.title, chunk.section, hostile)],
                    [Passage(chunk, 1.0)])
    exported = conversation_markdown([ChatEntry("user", "<img src=x onerror=alert(2)> hi [a](http://evil.example)"),
                                      ChatEntry("assistant", "", answer=answer)])
    assert model_markdown(answer.text) in exported  # the answer exactly as the chat page shows it
    assert escape_markdown("<img src=x onerror=alert(2)> hi [a](http://evil.example)") in exported
    # Opened in a viewer that renders raw HTML and GFM-style links, nothing acts on the reader.
    html = MarkdownIt("commonmark", {"html": True, "linkify": False}).render(exported)
    assert "<script" not in html and "<img" not in html and "<a " not in html and "<b>" not in html
    # URLs stay readable text with their host in view.
    assert "http://evil.example/login" in html and "https://evil.example/a" in html
