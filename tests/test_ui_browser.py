"""End to end in headless Chromium against `streamlit run ui/app.py` on 127.0.0.1: a student asks and
opens a citation, an instructor uploads a document that then answers a student, and markup inside a
document stays text. Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import REPO, ServerProcess, free_port, guarded_env, venv_bin
from tests.support.ui import copy_index

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = REPO / "test-artifacts"
PASSWORD = "browser-test-password"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
HOSTILE = """---
title: "Quokka Diet <img src=x onerror=alert(1)>"
---
# Quokka Diet

## Feeding

Quokkas eat leaves, grasses and stems <script>alert(1)</script> at night on Rottnest Island.
A quokka can survive long periods without water <img src=x onerror=alert(1)> by getting moisture from plants.
"""
ZEBRAFISH = """# Zebrafish Navigation

## Lateral line

Zebrafish larvae navigate dark water with the lateral line, a row of hair-cell clusters called neuromasts.
Each neuromast senses the flow of water around the larva.
"""


@pytest.fixture(scope="module")
def app_url(indexed_service, embedder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app served from a copy of the indexed course plus one document full of markup."""
    from tutor.service import TutorService
    from tutor.settings import Settings

    root = tmp_path_factory.mktemp("browser")
    data_dir, corpus_dir = copy_index(indexed_service, root)
    (corpus_dir / "quokka-diet.md").write_text(HOSTILE, encoding="utf-8")
    prepared = TutorService(Settings(data_dir=data_dir, corpus_dir=corpus_dir), embedder=embedder)
    assert prepared.ingest([corpus_dir / "quokka-diet.md"], quiet=True).exit_code == 0

    port = free_port()
    env = guarded_env(TUTOR_DATA_DIR=str(data_dir), TUTOR_CORPUS_DIR=str(corpus_dir),
                      TUTOR_INSTRUCTOR_PASSWORD=PASSWORD)
    # The README's run command serves through `tutor serve`: test that path, not a bare streamlit.
    command = [venv_bin("tutor"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    server = ServerProcess(command, f"http://127.0.0.1:{port}/_stcore/health", env=env,
                           log_path=root / "streamlit.log", timeout=90)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("Debian chromium is missing in CI: `make test` should have installed it (`make browser`)")
        pytest.skip("Debian chromium is not installed (`make browser` installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    """A fresh browser session (so a fresh Streamlit session) that records any JavaScript dialog."""
    context = browser.new_context(viewport={"width": 1200, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(120_000)  # generous: CI machines are slow and share their cores
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    yield page
    context.close()


def _ask(page, question: str) -> None:
    box = page.get_by_placeholder("Ask a question about the course")
    box.fill(question)
    box.press("Enter")
    # The answer is complete once its feedback thumbs (or a refusal notice) are drawn.
    page.get_by_test_id("stChatMessage").last.get_by_test_id("stFeedback").wait_for()


def _screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def test_student_sees_a_cited_answer_and_opens_the_passage(app_url: str, page) -> None:
    page.goto(app_url)
    _ask(page, "What is encoding?")
    answer = page.get_by_test_id("stChatMessage").last
    assert "[1]" in answer.get_by_test_id("stMarkdown").first.inner_text()
    footnote = answer.get_by_test_id("stExpander").first
    summary = footnote.locator("summary")
    assert "[1] Memory 8.1" in summary.inner_text()
    summary.click()
    passage = footnote.get_by_test_id("stMarkdown").last
    passage.wait_for()
    assert "encoding" in passage.inner_text().lower()
    assert "08-1-how-memory-functions.md" in footnote.inner_text()  # the file, under title and section
    assert passage.locator("span").count() >= 1  # the quoted sentence is highlighted
    _screenshot(page, "chat.png")
    assert page.dialogs == []


def test_instructor_uploads_a_document_that_then_answers_students(app_url: str, page, browser,
                                                                 tmp_path: Path) -> None:
    page.goto(f"{app_url}/library")
    page.get_by_label("Instructor password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    upload = tmp_path / "zebrafish.md"
    upload.write_text(ZEBRAFISH, encoding="utf-8")
    page.get_by_test_id("stFileUploaderDropzoneInput").first.set_input_files(str(upload))
    page.get_by_test_id("stFileChipName").filter(has_text="zebrafish.md").wait_for()
    page.get_by_role("button", name="Add to library").click()
    page.get_by_text("zebrafish.md: added as zebrafish.md").wait_for()
    page.get_by_text("Zebrafish Navigation — zebrafish.md").wait_for()
    _screenshot(page, "library.png")

    student = page.context.browser.new_page()  # another session: the student's
    try:
        student.set_default_timeout(120_000)
        student.goto(app_url)
        _ask(student, "How do zebrafish larvae navigate dark water?")
        answer = student.get_by_test_id("stChatMessage").last
        footnotes = answer.get_by_test_id("stExpander")
        labels = [footnotes.nth(i).inner_text() for i in range(footnotes.count())]
        assert any("Zebrafish Navigation" in label for label in labels), answer.inner_text()
    finally:
        student.close()


def test_markup_in_a_document_is_shown_as_text_and_never_runs(app_url: str, page) -> None:
    page.goto(app_url)
    _ask(page, "What do quokkas eat?")
    answer = page.get_by_test_id("stChatMessage").last
    footnote = answer.get_by_test_id("stExpander").filter(has_text="Quokka").first
    assert "<img src=x onerror=alert(1)>" in footnote.inner_text()  # the title, as text
    footnote.locator("summary").click()
    passage = footnote.get_by_test_id("stMarkdown").last
    passage.wait_for()
    text = passage.inner_text()
    assert "<script>alert(1)</script>" in text and "<img src=x onerror=alert(1)>" in text
    assert page.locator("img[src='x']").count() == 0 and page.locator("main script").count() == 0
    page.wait_for_timeout(500)  # give any injected handler a chance to fire
    _screenshot(page, "chat-markup.png")
    assert page.dialogs == []


def test_off_course_questions_show_up_as_course_gaps_for_the_instructor(app_url: str, page) -> None:
    off_course = ["What is the capital of France?", "Which city is the capital of France?",
                  "How do I bake sourdough bread?"]
    page.goto(app_url)
    page.get_by_text("recorded pseudonymously").wait_for()  # the student is told
    for question in off_course:
        _ask(page, question)
        page.get_by_test_id("stChatMessage").last.get_by_text("not in the course materials").first.wait_for()

    instructor = page.context.browser.new_page()  # the instructor's own session
    try:
        instructor.set_default_timeout(120_000)
        instructor.goto(f"{app_url}/insights")
        instructor.get_by_label("Instructor password").fill(PASSWORD)
        instructor.get_by_role("button", name="Log in").click()
        heading = instructor.get_by_text("Course gaps (")
        heading.wait_for()
        count = int(heading.inner_text().split("(")[1].rstrip(")"))
        assert 1 <= count <= 2, heading.inner_text()
        gaps = instructor.locator("[class*='st-key-gap-']")
        assert gaps.count() == count
        shown = " ".join(gaps.nth(i).inner_text() for i in range(count))
        for question in off_course:
            assert question in shown, shown
        assert "capital" in gaps.first.inner_text().lower()
        link = gaps.first.get_by_text("Add material in the Library")
        link.wait_for()  # drawn once the page has finished its run
        instructor.get_by_text("Download the record (CSV)").wait_for()
        _screenshot(instructor, "insights.png")
        ARTIFACTS.mkdir(exist_ok=True)
        gaps.first.screenshot(path=str(ARTIFACTS / "insights-gap.png"))
        link.click()
        instructor.get_by_text("Add documents").wait_for()  # one click to the Library
        assert instructor.url.endswith("/library")
    finally:
        instructor.close()
