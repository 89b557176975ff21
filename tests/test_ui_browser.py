"""End to end in headless Chromium against `tutor serve` on 127.0.0.1, at a desktop's 1280×900 and a
phone's 390×844: a student opens citation [2] and sees its highlighted passage; a reload keeps the
conversation; a PDF with a junk metadata title is cited by its first heading; an instructor renames a
document and students see the new title; an upload answers a student; markup inside a document stays
text. Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.documents import write_pdf
from tests.support.processes import REPO, ServerProcess, free_port, guarded_env, venv_bin
from tests.support.ui import copy_index

# Each test starts sessions that load the page and answer: slow on a shared 2-core machine.
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

ARTIFACTS = REPO / "test-artifacts"
PASSWORD = "browser-test-password"
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
JUNK_TITLED_PDF = "7f3e9a1c5b2d4e60.pdf"  # an upload id for a name, and "about:blank" for a title
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


@dataclass
class Served:
    url: str
    data_dir: Path  # the server's: tests read its record of questions


@pytest.fixture(scope="module")
def app_url(served: Served) -> str:
    return served.url


@pytest.fixture(scope="module")
def served(indexed_service, embedder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The app served from a copy of the indexed course plus one document full of markup."""
    from tutor.service import TutorService
    from tutor.settings import Settings

    root = tmp_path_factory.mktemp("browser")
    data_dir, corpus_dir = copy_index(indexed_service, root)
    (corpus_dir / "quokka-diet.md").write_text(HOSTILE, encoding="utf-8")
    write_pdf(corpus_dir / JUNK_TITLED_PDF, ["Spaced Retrieval Practice",
                                             "Spaced retrieval practice means testing yourself on the material "
                                             "several times, with days between the sessions.",
                                             "Each spaced retrieval session strengthens the memory more than "
                                             "rereading the notes would."], title="about:blank")
    prepared = TutorService(Settings(data_dir=data_dir, corpus_dir=corpus_dir), embedder=embedder)
    assert prepared.ingest([corpus_dir / "quokka-diet.md", corpus_dir / JUNK_TITLED_PDF], quiet=True).exit_code == 0

    port = free_port()
    env = guarded_env(TUTOR_DATA_DIR=str(data_dir), TUTOR_CORPUS_DIR=str(corpus_dir),
                      TUTOR_INSTRUCTOR_PASSWORD=PASSWORD)
    # The README's run command serves through `tutor serve`: test that path, not a bare streamlit.
    command = [venv_bin("tutor"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    server = ServerProcess(command, f"http://127.0.0.1:{port}/_stcore/health", env=env,
                           log_path=root / "streamlit.log", timeout=90)
    try:
        yield Served(f"http://127.0.0.1:{port}", data_dir)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser():
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("Debian chromium is missing in CI: `make test` should have installed it (`make browser`)")
        pytest.skip("Debian chromium is not installed (`make browser` installs it)")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)  # expect's own default is 5 s: too short for a machine running the suite
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def _new_page(browser, size: str = "desktop"):
    """A fresh browser session (so a fresh Streamlit session) that records any JavaScript dialog."""
    context = browser.new_context(viewport=VIEWPORTS[size])
    page = context.new_page()
    page.set_default_timeout(120_000)  # generous: CI machines are slow and share their cores
    page.dialogs = []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    return page


@pytest.fixture
def page(browser):
    page = _new_page(browser)
    yield page
    page.context.close()


@pytest.fixture(params=list(VIEWPORTS))
def sized_page(browser, request):
    page = _new_page(browser, request.param)
    page.size = request.param
    yield page
    page.context.close()


def _ask(page, question: str) -> None:
    """Ask and wait for this question's own answer. (Waiting on the last message instead would pass at
    once on the previous answer, and the next question would be typed while this one is answered.)"""
    messages = page.get_by_test_id("stChatMessage")
    before = messages.count()
    _submit(page, question)
    _wait_answered(messages.nth(before + 1))


def _submit(page, question: str) -> None:
    box = page.get_by_placeholder("Ask a question about the course")
    box.fill(question)
    box.press("Enter")


def _wait_answered(message) -> None:
    """An answer is complete once its feedback thumbs are drawn (a refusal asks "Was this refusal
    right?" instead)."""
    message.get_by_test_id("stFeedback").or_(message.get_by_text("Was this refusal right?")).first.wait_for()


def _screenshot(page, name: str, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=full_page)


def _open_source(page, n: int):
    """Click the answer's [n] button; returns the side panel it opens."""
    answer = page.get_by_test_id("stChatMessage").last
    answer.get_by_role("button", name=re.compile(rf"^\[{n}\]")).click()
    panel = page.get_by_role("dialog")
    panel.wait_for()
    return panel


def _highlights(panel):
    """The highlighted (orange background) runs in the panel's passage."""
    return panel.locator("[class*='st-key-passage-'] span[style*='background']")


def test_clicking_a_citation_opens_its_highlighted_passage_in_view_and_a_reload_keeps_the_chat(
        app_url: str, sized_page) -> None:
    from playwright.sync_api import expect

    page = sized_page
    page.goto(app_url)
    _ask(page, "What is encoding?")
    answer = page.get_by_test_id("stChatMessage").last
    assert "[2]" in answer.get_by_test_id("stMarkdown").first.inner_text()
    sources = answer.get_by_role("button", name=re.compile(r"^\[\d+\]"))
    assert sources.count() >= 2
    for i in range(sources.count()):  # compact: each source is one line, even on a phone
        assert sources.nth(i).bounding_box()["height"] < 48, sources.nth(i).inner_text()

    label = sources.nth(1).inner_text()
    panel = _open_source(page, 2)
    assert "Source 2" in panel.inner_text()
    highlight = _highlights(panel).first
    expect(highlight).to_be_in_viewport()
    passage = panel.locator("[class*='st-key-passage-']").inner_text()
    assert highlight.inner_text().strip() in passage
    heading = panel.get_by_role("heading").filter(has_text="›").first.inner_text()  # chapter › section
    assert label.split("] ", 1)[1].rstrip("…") in heading
    assert "**" not in passage and "000_224ce50211750157" not in panel.inner_text()
    panel.get_by_text("Read the whole section").wait_for()  # drawn: the screenshot shows the whole panel
    _screenshot(page, f"chat-source-{page.size}.png", full_page=False)

    panel.get_by_text("Read the whole section").click()
    whole = panel.locator("[class*='st-key-section-']")
    expect(whole).to_contain_text(passage.split(".")[0].strip())  # the section, from the index, holds the passage
    assert len(whole.inner_text()) >= len(passage) - 5
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_have_count(0)

    question_count = page.get_by_test_id("stChatMessage").count()
    page.wait_for_url(re.compile(r"[?&]c=[0-9a-f]+"))  # the open chat is in the address a reload asks for
    page.reload()
    page.get_by_test_id("stChatMessage").nth(question_count - 1).wait_for()
    assert page.get_by_test_id("stChatMessage").count() == question_count
    assert "What is encoding?" in page.get_by_test_id("stChatMessage").first.inner_text()
    restored = page.get_by_test_id("stChatMessage").last
    expect(restored.get_by_role("button", name=re.compile(r"^\[2\]"))).to_have_count(1)
    _screenshot(page, f"chat-reloaded-{page.size}.png")
    assert page.dialogs == []


def test_a_pdf_with_a_junk_metadata_title_is_cited_by_its_first_heading(app_url: str, sized_page) -> None:
    from playwright.sync_api import expect

    page = sized_page
    page.goto(app_url)
    _ask(page, "What is spaced retrieval practice?")
    answer = page.get_by_test_id("stChatMessage").last
    source = answer.get_by_role("button", name=re.compile(r"^\[\d+\] Spaced Retrieval Practice, p\. 1"))
    assert source.count() >= 1, answer.inner_text()
    source.first.click()
    panel = page.get_by_role("dialog")
    expect(panel.locator("[class*='st-key-passage-']")).to_contain_text("testing yourself")
    assert "Spaced Retrieval Practice › Page 1" in panel.inner_text()
    expect(_highlights(panel).filter(has_text="testing yourself")).to_have_count(1)  # wrapped lines still lit
    expect(_highlights(panel).filter(has_text=re.compile(r"^\s*Spaced Retrieval Practice\s*$"))).to_have_count(0)
    assert "about:blank" not in page.content() and JUNK_TITLED_PDF not in panel.inner_text()
    _screenshot(page, f"chat-pdf-title-{page.size}.png", full_page=False)


def test_instructor_renames_a_document_and_the_next_citation_shows_it(app_url: str, page, browser) -> None:
    page.goto(f"{app_url}/library")
    page.get_by_label("Instructor password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_test_id("stSelectbox").filter(has_text="Document").click()
    page.keyboard.type("What are the main")  # the list is long (and virtual): filter it as an instructor would
    page.get_by_role("option", name=re.compile("^What are the main differences between learning")).click()
    title = page.get_by_label("Title students see")
    title.fill("Learning vs memory: a Q&A")
    page.get_by_role("button", name="Save title").click()
    page.get_by_test_id("stAlert").filter(has_text="Renamed 000_224ce50211750157.txt").wait_for()
    page.get_by_test_id("stToast").first.wait_for()
    assert page.get_by_test_id("stDataFrame").first.is_visible()
    _screenshot(page, "library-renamed.png", full_page=False)

    student = _new_page(browser, "phone")
    try:
        student.goto(app_url)
        _ask(student, "What is the difference between learning and memory?")
        answer = student.get_by_test_id("stChatMessage").last
        sources = answer.get_by_role("button", name=re.compile(r"^\[\d+\]"))
        opened = None
        for i in range(sources.count()):
            sources.nth(i).click()
            panel = student.get_by_role("dialog")
            panel.wait_for()
            if "Learning vs memory: a Q&A" in panel.inner_text():
                opened = panel
                break
            student.keyboard.press("Escape")
            student.get_by_role("dialog").wait_for(state="detached")
        assert opened is not None, "no citation carries the new title"
        opened.get_by_text("Read the whole section").wait_for()  # the panel is drawn
        assert opened.locator("[class*='st-key-passage-']").inner_text().strip()
        assert "000_224ce50211750157" not in opened.inner_text()  # a hash-like file name is never shown
        _screenshot(student, "chat-renamed-phone.png", full_page=False)
    finally:
        student.context.close()


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
    page.get_by_test_id("stAlertContentSuccess").get_by_text("zebrafish.md: added as zebrafish.md").wait_for()
    page.get_by_test_id("stToast").filter(has_text="zebrafish.md: added").wait_for()
    _screenshot(page, "library.png")

    student = page.context.browser.new_page()  # another session: the student's
    try:
        student.set_default_timeout(120_000)
        student.goto(app_url)
        _ask(student, "How do zebrafish larvae navigate dark water?")
        answer = student.get_by_test_id("stChatMessage").last
        answer.get_by_role("button", name=re.compile(r"^\[1\] Lateral line")).click()
        assert "Zebrafish Navigation › Lateral line" in student.get_by_role("dialog").inner_text()
    finally:
        student.close()


def test_markup_in_a_document_is_shown_as_text_and_never_runs(app_url: str, page) -> None:
    from playwright.sync_api import expect

    page.goto(app_url)
    _ask(page, "What do quokkas eat?")
    answer = page.get_by_test_id("stChatMessage").last
    answer.get_by_role("button", name=re.compile(r"^\[1\] Feeding")).click()
    panel = page.get_by_role("dialog")
    panel.wait_for()
    expect(panel.locator("[class*='st-key-passage-']")).to_contain_text("Rottnest")
    heading = panel.get_by_role("heading").filter(has_text="Quokka").first.inner_text()
    assert "<img src=x onerror=alert(1)>" in heading  # the title, as text
    text = panel.locator("[class*='st-key-passage-']").inner_text()
    assert "<script>alert(1)</script>" in text and "<img src=x onerror=alert(1)>" in text
    assert page.locator("img[src='x']").count() == 0 and page.locator("main script").count() == 0
    page.wait_for_timeout(500)  # give any injected handler a chance to fire
    _screenshot(page, "chat-markup.png")
    assert page.dialogs == []


def test_a_question_typed_while_the_last_one_is_answered_is_answered_and_recorded_too(served: Served, page) -> None:
    """A student who sends the next question before the answer to the last has arrived loses neither:
    both are answered, in order, and both are recorded."""
    from playwright.sync_api import expect

    from tutor.records import Database, QuestionLog
    from tutor.settings import Settings

    first, second = "What is latent learning?", "How does the method of loci help memory?"
    page.goto(served.url)
    messages = page.get_by_test_id("stChatMessage")
    _submit(page, first)
    messages.first.wait_for()  # drawn as its answer starts: the next question arrives while it is answered
    _submit(page, second)
    _wait_answered(messages.nth(3))
    expect(messages).to_have_count(4)
    _wait_answered(messages.nth(1))
    assert first in messages.nth(0).inner_text() and second in messages.nth(2).inner_text()
    database = Database.open(Settings(data_dir=served.data_dir))
    try:
        asked = [r for r in QuestionLog(database).records() if r.question in (first, second)]
    finally:
        database.close()
    assert sorted(r.question for r in asked) == sorted([first, second]), asked
    assert len({r.session_id for r in asked}) == 1


def test_off_course_questions_show_up_as_course_gaps_for_the_instructor(app_url: str, page) -> None:
    from playwright.sync_api import expect

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
        expect(gaps).to_have_count(count)  # the heading is drawn before the gaps under it
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
