"""Multi-course retrieval benchmark: each book indexed as its own corpus, its quiz questions asked
as a student would paste them, all figures from one run.

    .venv/bin/python -m benchmarks.retrieval                       # the three books in ../shared
    .venv/bin/python -m benchmarks.retrieval --slice 12            # 12 questions a book, small corpora
    .venv/bin/python -m benchmarks.retrieval --book mycourse=PATH:QUESTIONS.jsonl

Per book: the tutorial LangChain pipeline (RecursiveCharacterTextSplitter 1000/200, MiniLM,
`Chroma.from_documents`, `similarity_search`) built here; the tutor's dense, BM25 and hybrid
rankings; the answer chain (what the student is shown: the first cited passage); the offline
multiple-choice letter accuracy; ingest seconds (wall and CPU). Metrics are file-level: a question
is a hit at k when one of its gold section files is among the first k distinct files.

Protocol: knobs are chosen on the `tune` half of the psychology dev set (ids split by hash), the
`held` half is reported beside it, and the other books are only ever reported. Indexes are cached
by content hash under the data directory, so a rerun costs the questions only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.answering import UNANSWERABLE_PROBES
from evals.data import Question, load_questions
from tutor.retrieve import PLAIN_RRF, PSYCHOLOGY_TUNED, RetrievalConfig

# Ranking variants measured beside the default hybrid (score fusion), to show each mechanism's
# effect per book.
RANKING_VARIANTS = {
    "rrf": PLAIN_RRF,  # reciprocal-rank fusion of the same two rankings, equal weights
    "tuned-psych": PSYCHOLOGY_TUNED,  # the constants fitted to the psychology dev set before
    "sections": RetrievalConfig(section_evidence=True),  # + section-level evidence
}

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
TUTORIAL_CHUNK, TUTORIAL_OVERLAP = 1000, 200


@dataclass(frozen=True)
class Book:
    name: str
    corpus: Path
    questions: Path
    split_dev: bool = False  # the psychology dev set: report its tune and held halves apart


def default_books(shared: Path = SHARED) -> list[Book]:
    return [
        Book("psychology-2e", shared / "corpora" / "psychology-2e", shared / "evalsets" / "psychology-2e-dev.jsonl",
             split_dev=True),
        Book("microbiology", shared / "corpora" / "microbiology", shared / "evalsets" / "microbiology-quiz.jsonl"),
        Book("us-history", shared / "corpora" / "us-history", shared / "evalsets" / "us-history-quiz.jsonl"),
    ]


def parse_book(spec: str) -> Book:
    """NAME=CORPUS_DIR:QUESTIONS.jsonl (an instructor's own course and questions)."""
    name, _, rest = spec.partition("=")
    corpus, _, questions = rest.rpartition(":")
    if not name or not corpus or not questions:
        raise argparse.ArgumentTypeError(f"--book {spec!r}: expected NAME=CORPUS_DIR:QUESTIONS.jsonl")
    return Book(name, Path(corpus), Path(questions))


def dev_half(question_id: str) -> str:
    """Deterministic split of the dev set: `tune` (knobs are chosen on it) or `held` (reported)."""
    return "tune" if hashlib.sha256(question_id.encode()).digest()[0] % 2 == 0 else "held"


# --- corpus selection and caching ------------------------------------------------------------------


def course_files(corpus: Path) -> list[Path]:
    from tutor.documents import is_supported
    from tutor.ingest import is_licence_file

    return sorted(p for p in corpus.rglob("*") if p.is_file() and is_supported(p) and not is_licence_file(p.name)
                  and not any(part.startswith(".") for part in p.relative_to(corpus).parts))


def select(book: Book, slice_size: int | None, distractors: int | None = None) -> tuple[list[Path], list[Question]]:
    """The files to index and the questions to ask. A slice keeps the first N questions, their gold
    files and `distractors` (default N) other files of the book, so retrieval still has to choose."""
    files = course_files(book.corpus)
    questions = [q for q in load_questions(book.questions).questions if q.answerable and q.gold_sources]
    if not slice_size:
        return files, questions
    questions = questions[:slice_size]
    gold = {Path(g).name for q in questions for g in q.gold_sources}
    chosen = [f for f in files if f.name in gold]
    others = [f for f in files if f.name not in gold][:max(slice_size if distractors is None else distractors, 3)]
    return sorted(chosen + others), questions


def content_hash(files: Sequence[Path], root: Path, *extra: str) -> str:
    digest = hashlib.sha256("\x1f".join(extra).encode())
    for file in files:
        digest.update(file.relative_to(root).as_posix().encode() + b"\0" + file.read_bytes())
    return digest.hexdigest()[:12]


@dataclass
class IngestFigures:
    chunks: int
    wall_seconds: float
    cpu_seconds: float
    load_average: float

    @classmethod
    def read(cls, path: Path) -> IngestFigures | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__))


def _timed(work: Callable[[], int]) -> IngestFigures:
    wall, cpu = time.perf_counter(), time.process_time()
    chunks = work()
    return IngestFigures(chunks, time.perf_counter() - wall, time.process_time() - cpu, os.getloadavg()[0])


# --- the tutorial pipeline -----------------------------------------------------------------------


class TutorialPipeline:
    """The pipeline of the LangChain RAG tutorial, as a course author would first build it."""

    def __init__(self, directory: Path, embedder) -> None:
        self.directory = directory
        self.embedder = embedder
        self.store = None

    def build(self, files: Sequence[Path], root: Path) -> IngestFigures:
        from langchain_chroma import Chroma
        from langchain_core.documents import Document
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        figures_file = self.directory / "ingest.json"
        figures = IngestFigures.read(figures_file)
        if figures is not None:
            self.store = Chroma(collection_name="tutorial", embedding_function=self.embedder,
                                persist_directory=str(self.directory / "chroma"))
            return figures
        shutil.rmtree(self.directory, ignore_errors=True)
        self.directory.mkdir(parents=True)

        def work() -> int:
            documents = [Document(page_content=f.read_text(encoding="utf-8"),
                                  metadata={"source": f.relative_to(root).as_posix()}) for f in files]
            splitter = RecursiveCharacterTextSplitter(chunk_size=TUTORIAL_CHUNK, chunk_overlap=TUTORIAL_OVERLAP)
            splits = splitter.split_documents(documents)
            self.store = Chroma.from_documents(splits, self.embedder, collection_name="tutorial",
                                               persist_directory=str(self.directory / "chroma"))
            return len(splits)

        figures = _timed(work)
        figures.write(figures_file)
        return figures

    def sources(self, question: str, k: int = 5) -> list[str]:
        return [d.metadata["source"] for d in self.store.similarity_search(question, k=k)]


# --- the tutor -------------------------------------------------------------------------------------


def tutor_service(directory: Path, root: Path, backend: str, model_cache: Path):
    from tutor.embeddings import build_embedder
    from tutor.service import TutorService
    from tutor.settings import Settings

    settings = Settings(data_dir=directory, corpus_dir=root, openai_api_key=None, embedding_backend=backend,
                        model_cache_dir=model_cache)
    return TutorService(settings, embedder=build_embedder(settings))


def build_tutor(service, files: Sequence[Path], directory: Path) -> IngestFigures:
    figures_file = directory / "ingest.json"
    figures = IngestFigures.read(figures_file)
    if figures is None:
        service.embedder.embed_documents(["warm-up"])  # model loaded before the timing, as for the tutorial
        figures = _timed(lambda: (service.ingest(list(files), quiet=True), service.store.count())[1])
        figures.write(figures_file)
    else:
        service.ingest(list(files), quiet=True)  # a cached index: nothing to embed, seconds
    return figures


# --- scoring -------------------------------------------------------------------------------------


def file_rank(sources: Sequence[str], gold: Sequence[str]) -> int | None:
    """1-based rank of the first distinct file that is a gold file (compared by file name)."""
    distinct = list(dict.fromkeys(Path(s).name for s in sources))
    gold_names = {Path(g).name for g in gold}
    return next((rank for rank, name in enumerate(distinct, start=1) if name in gold_names), None)


@dataclass
class Ranks:
    ranks: list[int | None] = field(default_factory=list)

    def add(self, rank: int | None) -> None:
        self.ranks.append(rank)

    def recall(self, k: int) -> float:
        return sum(1 for r in self.ranks if r is not None and r <= k) / len(self.ranks) if self.ranks else 0.0

    @property
    def mrr(self) -> float:
        return sum(1 / r for r in self.ranks if r is not None) / len(self.ranks) if self.ranks else 0.0


@dataclass
class Hits:
    total: int = 0
    right: int = 0

    @property
    def rate(self) -> float:
        return self.right / self.total if self.total else 0.0


def answer_sources(answer) -> list[str]:
    """What the student is shown first: the cited passages in citation order, else the passages
    shown; a refusal shows no course passage."""
    if answer.refused:
        return []
    if answer.citations:
        return [c.source for c in sorted(answer.citations, key=lambda c: c.n)]
    return [p.chunk.source for p in answer.passages]


def evaluate_tutor(service, questions: Sequence[Question], groups: Callable[[Question], list[str]],
                   retrievers: dict[str, object]) -> dict[str, dict[str, object]]:
    """Ranks per group and ranker, the answer chain's R@1 and the MCQ letter accuracy."""
    from evals.metrics.correctness import detect_choice
    from evals.metrics.faithfulness.offline import OfflineScorer

    picker = OfflineScorer(service.embedder)
    out: dict[str, dict[str, object]] = {}
    for question in questions:
        for group in groups(question):
            row = out.setdefault(group, {})
            for label, (retriever, mode) in retrievers.items():
                passages = retriever.search(question.prompt, k=5, mode=mode)
                row.setdefault(label, Ranks()).add(file_rank([p.chunk.source for p in passages],
                                                             question.gold_sources))
        answer = service.ask(question.prompt)
        rank = file_rank(answer_sources(answer), question.gold_sources)
        letter_right = None
        if question.is_multiple_choice:
            letter = None if answer.refused else detect_choice(answer.text, question.question, question.choices,
                                                               picker.support).letter
            letter_right = letter == question.answer
        for group in groups(question):
            row = out[group]
            row.setdefault("answer", Ranks()).add(rank)
            refused = row.setdefault("refused", Hits())
            refused.total += 1
            refused.right += answer.refused
            if letter_right is not None:
                mcq = row.setdefault("mcq", Hits())
                mcq.total += 1
                mcq.right += letter_right
    return out


# --- the run ---------------------------------------------------------------------------------------


def run_book(book: Book, args: argparse.Namespace) -> list[str]:
    from tutor.embeddings import build_embedder
    from tutor.retrieve import Retriever
    from tutor.settings import Settings

    files, questions = select(book, args.slice, args.distractors)
    key = content_hash(files, book.corpus)
    base = args.data_dir / f"{book.name}-{key}"
    model_cache = args.data_dir / "models"
    groups = ((lambda q: ["all", f"dev-{dev_half(q.id)}"]) if book.split_dev else (lambda q: ["all"]))

    torch_embedder = build_embedder(Settings(embedding_backend="torch"))
    torch_embedder.embed_documents(["warm-up"])
    tutorial = TutorialPipeline(base / "tutorial", torch_embedder)
    tutorial_ingest = tutorial.build(files, book.corpus)
    tutorial_ranks: dict[str, Ranks] = {}
    for question in ([] if args.ingest_only else questions):
        rank = file_rank(tutorial.sources(question.prompt), question.gold_sources)
        for group in groups(question):
            tutorial_ranks.setdefault(group, Ranks()).add(rank)

    lines = [f"\n## {book.name}: {len(files)} files, {len(questions)} questions"
             f"{' (slice)' if args.slice else ''}; tutorial pipeline {tutorial_ingest.chunks} chunks, ingest "
             f"{tutorial_ingest.wall_seconds:.1f} s wall / {tutorial_ingest.cpu_seconds:.1f} s CPU "
             f"(load {tutorial_ingest.load_average:.1f})"]
    for backend in args.backends:
        directory = base / f"tutor-{backend}"
        if directory.exists() and IngestFigures.read(directory / "ingest.json") is None:
            # A run stopped mid-ingest: finishing that index would time only what was left.
            from tutor.store import forget_embedded_store

            shutil.rmtree(directory)
            forget_embedded_store(directory)
        service = tutor_service(directory, book.corpus, backend, model_cache)
        ingest = build_tutor(service, files, directory)
        ratio = ingest.cpu_seconds / tutorial_ingest.cpu_seconds if tutorial_ingest.cpu_seconds else 0.0
        lines.append(f"\n{backend}: {ingest.chunks} chunks, ingest {ingest.wall_seconds:.1f} s wall / "
                     f"{ingest.cpu_seconds:.1f} s CPU = {ratio:.2f}x the tutorial's CPU time "
                     f"(load {ingest.load_average:.1f})")
        if args.ingest_only:
            continue
        # The ranking variants share the service's store and query-vector cache.
        variants = {label: Retriever(service.store, service.retriever.queries, config)
                    for label, config in RANKING_VARIANTS.items()}
        retrievers: dict[str, tuple[object, str]] = {
            "dense": (service.retriever, "dense"), "bm25": (service.retriever, "bm25"),
            "hybrid": (service.retriever, "hybrid"), **{label: (r, "hybrid") for label, r in variants.items()}}
        results = evaluate_tutor(service, questions, groups, retrievers)
        probes_refused = sum(service.ask(probe).refused for probe in UNANSWERABLE_PROBES)
        floor = service.retriever.relevance_floor
        lines.append(f"relevance floor: {floor}; off-course probes refused {probes_refused} of "
                     f"{len(UNANSWERABLE_PROBES)}")
        lines.append(f"{'group':<10} {'n':>4} | {'tutorial R@1/R@5':>16} | "
                     + " | ".join(f"{label + ' R@1/R@5/MRR':>18}" for label in retrievers)
                     + f" | {'answer R@1':>10} | {'MCQ':>11} | refused")
        for group, row in results.items():
            cells = [f"{tutorial_ranks[group].recall(1):.3f} / {tutorial_ranks[group].recall(5):.3f}".rjust(16)]
            for label in retrievers:
                ranks = row[label]
                cells.append(f"{ranks.recall(1):.3f}/{ranks.recall(5):.3f}/{ranks.mrr:.3f}".rjust(18))
            mcq = row.get("mcq", Hits())
            cells.append(f"{row['answer'].recall(1):.3f}".rjust(10))
            cells.append(f"{mcq.rate:.3f} ({mcq.total})".rjust(11))
            cells.append(f"{row['refused'].right}")
            lines.append(f"{group:<10} {len(row['answer'].ranks):>4} | " + " | ".join(cells))
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=SHARED, help="the shared/ folder with corpora/ and evalsets/")
    parser.add_argument("--data-dir", type=Path, default=REPO / ".data" / "bench-retrieval",
                        help="indexes are cached here by content hash")
    parser.add_argument("--slice", type=int, default=None, metavar="N",
                        help="N questions a book, with their gold files and N others (for tests)")
    parser.add_argument("--distractors", type=int, default=None, metavar="M",
                        help="with --slice: how many non-gold files to index beside the gold ones (default N)")
    parser.add_argument("--book", type=parse_book, action="append", dest="books",
                        help="NAME=CORPUS_DIR:QUESTIONS.jsonl; repeatable; default: the three shared books")
    parser.add_argument("--only", action="append", default=None, help="run only the named default book(s)")
    parser.add_argument("--ingest-only", action="store_true",
                        help="build (and time) the indexes, ask no question: with a fresh --data-dir, ingest "
                             "figures of the tutorial pipeline and the tutor measured in one run")
    parser.add_argument("--backends", default="torch,onnx-int8",
                        help="comma-separated embedding backends for the tutor's index")
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    books = args.books or [b for b in default_books(args.shared) if not args.only or b.name in args.only]

    started = time.perf_counter()
    print(f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    for book in books:
        for line in run_book(book, args):
            print(line, flush=True)
    print(f"\nload average at end {os.getloadavg()[0]:.1f} (1 min) / {os.getloadavg()[1]:.1f} (5 min); "
          f"{time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
