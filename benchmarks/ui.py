"""UI latency as a student sees it, in headless Chromium against a fresh `streamlit run ui/app.py`:

- cold: from starting the server process to the first answer complete on screen (server start,
  page load, model load, retrieval, answer, citations);
- warm time to first token: from pressing Enter on a later question to the first answer text on
  screen (in offline mode the whole answer arrives at once, so this is also the answer time).

Targets: cold <= 20 s, warm <= 1 s. The index is built before any timing (from corpus/, or pass
--data-dir with an existing index). With --fake-llm the answers stream from a local fake
OpenAI-compatible server, which measures the streaming path (st.write_stream) without a network.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tutor.service import TutorService
from tutor.settings import Settings

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "ui" / "app.py"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
COLD_QUESTION = "What is encoding?"
WARM_QUESTIONS = ["What is the difference between short-term and long-term memory?",
                  "How does operant conditioning work?", "What is the misinformation effect?"]
# The assistant's message holds only the spinner until the answer text arrives.
_HAS_ANSWER_TEXT = """(n) => {
  const message = document.querySelectorAll('[data-testid="stChatMessage"]')[n];
  if (!message) return false;
  const content = message.querySelector('[data-testid="stChatMessageContent"]');
  const text = (content || message).innerText.replace('Looking through the course…', '').trim();
  return text.length > 0 ? text.slice(0, 80) : false;
}"""


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.ui", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, help="An existing index (default: index corpus/ into a temp dir).")
    parser.add_argument("--corpus-dir", type=Path, default=REPO / "corpus")
    parser.add_argument("--fake-llm", action="store_true", help="Stream answers from a local fake LLM server.")
    args = parser.parse_args(argv)

    chromium = shutil.which("chromium")
    if chromium is None:
        raise SystemExit("Debian chromium is needed (`make browser` installs it).")
    with tempfile.TemporaryDirectory(prefix="tutor-ui-bench-") as tmp:
        data_dir = args.data_dir or Path(tmp) / "data"
        if args.data_dir is None:
            print(f"indexing {args.corpus_dir} (not timed)…", flush=True)
            report = TutorService(Settings(data_dir=data_dir, corpus_dir=args.corpus_dir)).ingest(quiet=True)
            assert report.exit_code == 0, report.failed
        env = dict(os.environ, TUTOR_DATA_DIR=str(data_dir), TUTOR_CORPUS_DIR=str(args.corpus_dir))
        fake = _start_fake_llm(env) if args.fake_llm else None
        try:
            figures = _measure(chromium, env, Path(tmp) / "streamlit.log")
        finally:
            if fake is not None:
                fake.stop()

    mode = "fake LLM (streaming)" if args.fake_llm else "offline"
    print(f"mode                          {mode}")
    print(f"server up                     {figures['server_up_s']:6.2f} s")
    print(f"cold: start -> first answer   {figures['cold_first_answer_s']:6.2f} s   (target <= 20 s)")
    print(f"warm: time to first token     {figures['warm_ttft_s']:6.3f} s   (median of {len(WARM_QUESTIONS)}; "
          "target <= 1 s)")
    print(f"warm: answer complete         {figures['warm_answer_s']:6.3f} s   (median, incl. citations drawn)")
    return figures


def _measure(chromium: str, env: dict[str, str], log_path: Path) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "streamlit", "run", str(APP), "--server.address", "127.0.0.1",
               "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(120_000)
        with open(log_path, "wb") as log:
            started = time.perf_counter()
            server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(REPO))
            try:
                _wait_for_health(f"{url}/_stcore/health", server)
                server_up = time.perf_counter() - started
                page.goto(url)
                _ask(page, COLD_QUESTION)
                cold = time.perf_counter() - started
                ttfts, completes = [], []
                for question in WARM_QUESTIONS:
                    first, complete = _ask(page, question)
                    ttfts.append(first)
                    completes.append(complete)
            finally:
                server.terminate()
                try:
                    server.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.kill()
        browser.close()
    return {"server_up_s": server_up, "cold_first_answer_s": cold, "warm_ttft_s": statistics.median(ttfts),
            "warm_answer_s": statistics.median(completes)}


def _ask(page, question: str) -> tuple[float, float]:
    """Seconds from Enter to the first answer text, and to the complete answer (feedback drawn)."""
    messages = page.get_by_test_id("stChatMessage")
    index = messages.count() + 1  # the user's message comes first, then the assistant's
    box = page.get_by_placeholder("Ask a question about the course")
    box.fill(question)
    started = time.perf_counter()
    box.press("Enter")
    page.wait_for_function(_HAS_ANSWER_TEXT, arg=index, polling="raf")
    first = time.perf_counter() - started
    messages.nth(index).get_by_test_id("stFeedback").wait_for()
    return first, time.perf_counter() - started


def _wait_for_health(url: str, process: subprocess.Popen) -> None:
    while True:
        if process.poll() is not None:
            raise SystemExit(f"streamlit exited with {process.returncode} before answering {url}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)


def _start_fake_llm(env: dict[str, str]):
    sys.path.insert(0, str(REPO))
    from tests.support.fake_llm_server import FakeLLMServer, Reply

    server = FakeLLMServer(default=Reply(chunk_delay=0.02)).start()
    env.update(OPENAI_API_KEY="benchmark", OPENAI_BASE_URL=server.url, TUTOR_LLM_MODEL="fake-model")
    return server


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


if __name__ == "__main__":
    main(sys.argv[1:])
