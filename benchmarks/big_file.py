"""One file of tens of thousands of chunks: more than Chroma accepts in one request (~32k rows, "too many
SQL variables"), served through `tutor` processes as a deployment would.

    .venv/bin/python -m benchmarks.big_file [--big-paragraphs 36000] [--small-files 25] [--work DIR]

A 36,000-passage handbook beside 25 files of 200 passages (TUTOR_CHUNK_SIZE=200: one chunk each, over
40,000 in all), embedded by the tests' fake OpenAI-compatible endpoint on 127.0.0.1 (deterministic
bag-of-words vectors, so the figures are the index's, not the encoder's). Each step is a fresh `tutor`
process: ingest, status, ask about the one passage that names "quokkaphobia", an unchanged re-ingest
(nothing embedded), remove the large file, status. Prints each step's time and checks its result.
The test suite proves the same paging at a batch of 7 rows
(tests/test_index_deployment.py::test_a_large_file_is_indexed_served_and_removed_without_a_request_over_the_batch_size).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.support.documents import write_large_library
from tests.support.fake_llm_server import FakeLLMServer


def timed_tutor(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    result = subprocess.run([str(Path(sys.executable).parent / "tutor"), *args], env=env, capture_output=True,
                            text=True, timeout=3600, cwd=cwd)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"tutor {' '.join(args)} failed ({result.returncode}): {result.stderr[-2000:]}")
    return elapsed, result


def check(condition: bool, what: str) -> None:
    if not condition:
        raise SystemExit(f"FAILED: {what}")


def run(root: Path, big_paragraphs: int, small_files: int, small_paragraphs: int) -> list[tuple[str, float, str]]:
    corpus = root / "corpus"
    write_large_library(corpus, big_paragraphs, small_files, small_paragraphs)
    server = FakeLLMServer().start()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "TUTOR_"))}
    env.update(TUTOR_DATA_DIR=str(root / "data"), TUTOR_CORPUS_DIR=str(corpus), TUTOR_EMBEDDING_BASE_URL=server.url,
               TUTOR_CHUNK_SIZE="200", TUTOR_CHUNK_OVERLAP="0")
    steps: list[tuple[str, float, str]] = []
    files = small_files + 1
    try:
        seconds, result = timed_tutor(["ingest", "--json"], env, root)
        check(json.loads(result.stdout)["summary"]["added"] == files, "every file added")
        steps.append(("ingest", seconds, f"{files} files"))

        seconds, result = timed_tutor(["status", "--json"], env, root)
        status = json.loads(result.stdout)
        total = status["chunks"]
        big_chunks = next(f["chunks"] for f in status["files"] if f["source"] == "big.md")
        check(status["documents"] == files and big_chunks >= big_paragraphs, "status counts every chunk")
        steps.append(("status", seconds, f"{total:,} chunks, {big_chunks:,} in big.md"))

        seconds, result = timed_tutor(["ask", "--json", "What is quokkaphobia?"], env, root)
        answer = json.loads(result.stdout)
        check(not answer["refused"] and "big.md" in {c["source"] for c in answer["citations"]}, "answered from big.md")
        steps.append(("ask (fresh process)", seconds, "cites big.md"))

        seconds, result = timed_tutor(["ingest", "--json"], env, root)
        report = json.loads(result.stdout)
        check(report["summary"]["unchanged"] == files and report["embedded_chunks"] == 0, "re-ingest is a no-op")
        steps.append(("unchanged re-ingest", seconds, "nothing embedded"))

        seconds, _ = timed_tutor(["remove", "big.md"], env, root)
        steps.append(("remove big.md", seconds, f"{big_chunks:,} chunks"))

        seconds, result = timed_tutor(["status", "--json"], env, root)
        status = json.loads(result.stdout)
        check(status["chunks"] == total - big_chunks and status["documents"] == files - 1, "removed exactly big.md")
        steps.append(("status", seconds, f"{status['chunks']:,} chunks left"))
    finally:
        server.stop()
    return steps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big-paragraphs", type=int, default=36_000)
    parser.add_argument("--small-files", type=int, default=25)
    parser.add_argument("--small-paragraphs", type=int, default=200)
    parser.add_argument("--work", type=Path, help="where to build the index (default: a temporary directory)")
    args = parser.parse_args(argv)
    root = args.work or Path(tempfile.mkdtemp(prefix="tutor-big-file-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        steps = run(root, args.big_paragraphs, args.small_files, args.small_paragraphs)
    finally:
        if args.work is None:
            shutil.rmtree(root, ignore_errors=True)
    print("\n| step | seconds | result |\n|---|---|---|")
    for name, seconds, result in steps:
        print(f"| {name} | {seconds:.1f} | {result} |")
    print(f"\nload average (1/5/15 min): {' / '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
