"""In headless Chromium against `tutor serve`: text hidden in an HTML page and in a PDF (display:none,
white, zero-size, invisible render mode — with an instruction planted in it) never shows in an
answer or a passage, the page requests nothing from outside 127.0.0.1, and the exported chat is
escaped.

Not here yet: *visible* planted instructions kept out of answers. Ingest flags them and records
them on each chunk (tutor.directives, metadata `planted_sentences`); the offline answerer skipping
them (`is_directive`) is issue 10's answering half — its browser test belongs with that change.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from tests.support.hostile import HIDDEN_HTML, HIDDEN_MARK, write_hidden_pdf
from tests.support.processes import ServerProcess, free_port, guarded_env, venv_bin
from tests.support.ui import copy_index
from tests.test_ui_browser import _ask, browser  # noqa: F401  (the shared headless Chromium)

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "browser-hostile-password"


@pytest.fixture(scope="module")
def app_url(indexed_service, embedder, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tutor.service import TutorService
    from tutor.settings import Settings

    root = tmp_path_factory.mktemp("browser-hostile")
    data_dir, corpus_dir = copy_index(indexed_service, root)
    (corpus_dir / "attention.html").write_text(HIDDEN_HTML, encoding="utf-8")
    write_hidden_pdf(corpus_dir / "working-memory.pdf")
    prepared = TutorService(Settings(data_dir=data_dir, corpus_dir=corpus_dir), embedder=embedder)
    report = prepared.ingest([corpus_dir / "attention.html", corpus_dir / "working-memory.pdf"], quiet=True)
    assert report.exit_code == 0, report.failed
    port = free_port()
    env = guarded_env(TUTOR_DATA_DIR=str(data_dir), TUTOR_CORPUS_DIR=str(corpus_dir),
                      TUTOR_INSTRUCTOR_PASSWORD=PASSWORD)
    server = ServerProcess([venv_bin("tutor"), "serve", "--host", "127.0.0.1", "--port", str(port)],
                           f"http://127.0.0.1:{port}/_stcore/health", env=env, log_path=root / "streamlit.log",
                           timeout=90)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.mark.timeout(900)  # the first test of a run also indexes the session's course and starts the server
def test_hidden_text_never_appears_and_nothing_is_fetched_from_outside(app_url: str, browser, tmp_path) -> None:  # noqa: F811
    context = browser.new_context(viewport={"width": 1200, "height": 1100}, accept_downloads=True)
    requests: list[str] = []
    context.on("request", lambda request: requests.append(request.url))
    page = context.new_page()
    page.set_default_timeout(120_000)
    try:
        page.goto(app_url)
        for asked, question in enumerate(("What does selective attention let a listener do?",
                                          "What does working memory hold, and what keeps information active in it?"),
                                         start=1):
            _ask(page, question)
            # _ask waits for the last message's thumbs; the earlier answer's thumbs must not count.
            expect(page.get_by_test_id("stFeedback")).to_have_count(asked, timeout=120_000)
            answer = page.get_by_test_id("stChatMessage").last
            footnotes = answer.get_by_test_id("stExpander")
            for i in range(footnotes.count()):
                footnotes.nth(i).locator("summary").click()
            shown = answer.inner_text()
            assert HIDDEN_MARK not in shown.lower() and "evil.example" not in shown, shown
            assert "password" not in shown.lower() and "ignore all previous" not in shown.lower()
        chat = page.locator("main").inner_text()
        assert "Selective attention" in chat or "selective attention" in chat  # the visible text did answer
        assert "Working memory holds" in chat or "Rehearsal keeps" in chat, chat

        with page.expect_download() as download:
            page.get_by_role("button", name="Export").click()
        exported = (tmp_path / "chat.md")
        download.value.save_as(exported)
        text = exported.read_text(encoding="utf-8")
        assert text.startswith("# Conversation with the course tutor") and HIDDEN_MARK not in text.lower()

        page.goto(f"{app_url}/library")
        page.get_by_label("Instructor password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        # The Library lists documents in a data grid drawn on a canvas: its cells are in the page as the
        # grid's accessible table, not as visible text.
        documents = page.get_by_test_id("stDataFrame").first
        documents.wait_for()  # visible, within the page's (generous) timeout
        listed = documents.get_by_role("gridcell", name="attention.html", exact=True, include_hidden=True)
        expect(listed).to_have_count(1, timeout=120_000)
        assert HIDDEN_MARK not in page.locator("main").inner_text().lower()
    finally:
        context.close()
    outside = [u for u in requests if not u.startswith((app_url, "data:", "blob:"))]
    assert requests and outside == []
