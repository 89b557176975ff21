"""Scale benchmark: indexes of 2,500 to 100,000+ chunks, embedded and on a `chroma run` server.

    .venv/bin/python -m benchmarks.scale --chunks 2500,25000,100000 [--kinds embedded,server]
        [--book ../shared/corpora/psychology-2e] [--evalset ../shared/evalsets/psychology-2e-dev.jsonl]

Each index holds copies of the book (`copy-001/…`, `copy-002/…`, files on disk like a real library),
ingested by the real ingest job with "written vectors": the book's MiniLM vectors, computed once and
cached, are looked up by the text the encoder would see, so nothing is re-embedded and every chunk,
manifest record and state write has exactly the shape a real ingest writes. For each size it prints:
time to the first answer in a fresh process (`tutor ask`), warm retrieval and offline-answer p50/p95
(the dev questions, in a fresh process after one warm-up question), that process's peak RSS, `tutor
status` time, unchanged re-ingest time (`tutor ingest`), the data size, and the load average.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"


class WrittenVectors:
    """An embedder that only looks vectors up (by the exact text the encoder would see)."""

    name = MINILM_NAME

    def __init__(self, table: dict[str, list[float]]) -> None:
        self.table = table

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        missing = [t[:60] for t in texts if t not in self.table]
        if missing:
            raise KeyError(f"no written vector for {len(missing)} texts, e.g. {missing[0]!r}")
        return [self.table[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        raise RuntimeError("written vectors cannot embed queries")


def book_vectors(book: Path, cache: Path) -> dict[str, list[float]]:
    """MiniLM vectors of every chunk text of the book, computed once (~1-3 min) and cached."""
    if cache.exists():
        data = json.loads(cache.read_text())
        return {t: v for t, v in zip(data["texts"], data["vectors"])}
    from tutor.chunking import chunk_document, embedding_text
    from tutor.documents import load_document
    from tutor.embeddings import build_embedder
    from tutor.ingest import discover
    from tutor.settings import Settings

    settings = Settings(corpus_dir=book)
    files, _, _ = discover([book], book)
    texts = sorted({embedding_text(c) for path, source in files
                    for c in chunk_document(load_document(path), source, settings.chunk_size, settings.chunk_overlap)})
    print(f"embedding {len(texts)} book chunks once (cached in {cache})...", flush=True)
    vectors = build_embedder(settings).embed_documents(texts)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps({"texts": texts, "vectors": vectors}))
    return dict(zip(texts, vectors))


def make_library(book: Path, corpus: Path, chunks: int, book_chunks: int) -> int:
    """Copies of the book's files until about `chunks` chunks; returns the number of files."""
    from tutor.ingest import is_licence_file

    files = sorted(p for p in book.glob("*.md") if not is_licence_file(p.name))
    per_file = book_chunks / len(files)
    wanted_files = max(1, round(chunks / per_file))
    made = 0
    for copy in range(math.ceil(wanted_files / len(files))):
        folder = corpus / f"copy-{copy + 1:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        for path in files:
            if made == wanted_files:
                return made
            shutil.copyfile(path, folder / path.name)
            made += 1
    return made


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def timed_tutor(args: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    result = subprocess.run([str(Path(sys.executable).parent / "tutor"), *args], env=env, capture_output=True,
                            text=True, timeout=1800)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(f"tutor {' '.join(args)} failed: {result.stderr[-2000:]}")
    return elapsed, result


def answering_child(evalset: Path) -> None:
    """Runs in a fresh process: first answer, then warm figures and peak RSS, as JSON on stdout."""
    import resource

    spawned = float(os.environ["SCALE_SPAWNED_AT"])
    from benchmarks.answering import load_dev_questions
    from tutor.service import TutorService

    questions = [q.prompt for q in load_dev_questions(evalset)]
    service = TutorService()
    first = service.ask(questions[0])
    first_answer = time.time() - spawned
    retrieval, answers = [], []
    for question in questions[1:]:
        started = time.perf_counter()
        service.retriever.search(question, k=service.settings.top_k)
        retrieval.append((time.perf_counter() - started) * 1000)
    for question in questions[1:]:
        started = time.perf_counter()
        service.ask(question)
        answers.append((time.perf_counter() - started) * 1000)
    index = service.retriever._index
    print(json.dumps({
        "first_answer_s": first_answer, "first_refused": first.refused,
        "retrieval_p50": float(np.percentile(retrieval, 50)), "retrieval_p95": float(np.percentile(retrieval, 95)),
        "answer_p50": float(np.percentile(answers, 50)), "answer_p95": float(np.percentile(answers, 95)),
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "lexical_mb": index.nbytes() / 1e6 if index is not None else 0.0,
        "questions": len(questions) - 1,
    }))


def run_size(kind: str, chunks: int, args: argparse.Namespace, vectors: dict[str, list[float]]) -> dict:
    from tests.support.processes import start_chroma_server
    from tutor.service import TutorService
    from tutor.settings import Settings

    root = args.work / f"{kind}-{chunks}"
    shutil.rmtree(root, ignore_errors=True)
    corpus, data = root / "corpus", root / "data"
    files = make_library(args.book, corpus, chunks, args.book_chunks)
    env = dict(os.environ, TUTOR_DATA_DIR=str(data), TUTOR_CORPUS_DIR=str(corpus))
    env.pop("OPENAI_API_KEY", None)
    server = None
    if kind == "server":
        server, url = start_chroma_server(root / "chroma-server", log_path=root / "chroma.log")
        env["TUTOR_CHROMA_URL"] = url
    try:
        settings = Settings(data_dir=data, corpus_dir=corpus, chroma_url=env.get("TUTOR_CHROMA_URL"))
        started = time.perf_counter()
        report = TutorService(settings, embedder=WrittenVectors(vectors)).ingest(quiet=True)
        build = time.perf_counter() - started
        if report.exit_code:
            raise RuntimeError(f"building the index failed: {report.failed[:3]}")
        status_s, status = timed_tutor(["status", "--json"], env)
        indexed = json.loads(status.stdout)
        reingest_s, reingest = timed_tutor(["ingest", "--json"], env)
        again = json.loads(reingest.stdout)
        if again["embedded_chunks"] or again["summary"]["unchanged"] != files:
            raise RuntimeError(f"re-ingest was not a no-op: {again['summary']}")
        child = subprocess.run([sys.executable, "-m", "benchmarks.scale", "--answering-child", str(args.evalset)],
                               env=dict(env, SCALE_SPAWNED_AT=repr(time.time())), capture_output=True, text=True,
                               timeout=3600, cwd=REPO)
        if child.returncode:
            raise RuntimeError(f"answering process failed: {child.stderr[-2000:]}")
        answering = json.loads(child.stdout.strip().splitlines()[-1])
        size = du(root / "chroma-server") if kind == "server" else du(data)
        return {"kind": kind, "target": chunks, "chunks": indexed["chunks"], "files": indexed["documents"],
                "build_s": build, "status_s": status_s, "reingest_s": reingest_s, "data_mb": size / 1e6,
                "load": os.getloadavg(), **answering}
    finally:
        if server is not None:
            server.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


def print_table(rows: list[dict]) -> None:
    header = ("| store | chunks | first answer (fresh process) | retrieval p50 / p95 | offline answer p50 / p95 "
              "| `tutor status` | unchanged re-ingest | peak RSS | lexical index | data | build | load avg (1/5/15 min) |")
    print("\n" + header)
    print("|" + "---|" * (header.count("|") - 1))
    for r in rows:
        print(f"| {r['kind']} | {r['chunks']:,} | {r['first_answer_s']:.1f} s | {r['retrieval_p50']:.0f} / "
              f"{r['retrieval_p95']:.0f} ms | {r['answer_p50']:.0f} / {r['answer_p95']:.0f} ms | {r['status_s']:.1f} s | "
              f"{r['reingest_s']:.1f} s | {r['rss_mb']:,.0f} MB | {r['lexical_mb']:.0f} MB | {r['data_mb']:,.0f} MB | "
              f"{r['build_s']:.0f} s | {' / '.join(f'{x:.1f}' for x in r['load'])} |")
    for kind in sorted({r["kind"] for r in rows}):
        by_target = {r["target"]: r for r in rows if r["kind"] == kind}
        if 25000 in by_target and 100000 in by_target:
            small, big = by_target[25000], by_target[100000]
            ratios = ", ".join(f"{name} {big[key] / small[key]:.2f}x" for name, key in (
                ("first answer", "first_answer_s"), ("retrieval p95", "retrieval_p95"),
                ("answer p95", "answer_p95"), ("status", "status_s"), ("re-ingest", "reingest_s"),
                ("RSS", "rss_mb"), ("data", "data_mb")))
            print(f"\n{kind}, 25k -> 100k chunks (4x): {ratios}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", default="2500,25000,100000")
    parser.add_argument("--kinds", default="embedded,server")
    parser.add_argument("--book", type=Path, default=SHARED / "corpora" / "psychology-2e")
    parser.add_argument("--evalset", type=Path, default=SHARED / "evalsets" / "psychology-2e-dev.jsonl")
    parser.add_argument("--work", type=Path, default=REPO / ".data" / "bench-scale")
    parser.add_argument("--keep", action="store_true", help="keep the indexes after measuring")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--answering-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.answering_child:
        answering_child(args.answering_child)
        return
    for path in (args.book, args.evalset):
        if not path.exists():
            raise SystemExit(f"{path} not found: pass --book / --evalset (the shared corpora and dev set)")
    vectors = book_vectors(args.book, args.work / "book-vectors.json")
    args.book_chunks = len(vectors)
    rows = []
    for kind in args.kinds.split(","):
        for chunks in (int(c) for c in args.chunks.split(",")):
            print(f"{kind}: {chunks:,} chunks...", flush=True)
            rows.append(run_size(kind, chunks, args, vectors))
            print(json.dumps(rows[-1]), flush=True)
            if args.json:
                args.json.write_text(json.dumps(rows, indent=2))
    print_table(rows)


if __name__ == "__main__":
    main(sys.argv[1:])
