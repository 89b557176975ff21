"""The index as a deployment uses it: a long-lived service keeps answering while other processes
ingest, remove and rebuild (embedded store and `chroma run` server); a rebuild SIGKILLed at several
points leaves the old index serving and `tutor status` says what was interrupted.

Embeddings come from the loopback fake endpoint (deterministic bag-of-words vectors), so the writer
processes start in seconds and need no model."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.documents import write_large_library
from tests.support.fake_llm_server import FakeLLMServer, fake_llm  # noqa: F401  (fixture)
from tests.support.processes import guarded_env, start_chroma_server, venv_bin
from tutor.retrieve import RetrievalConfig, Retriever
from tutor.service import TutorService
from tutor.settings import Settings

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # tutor processes, `chroma run` servers

TOPICS = {
    "habituation.md": "# Habituation\n\nHabituation is a decrease in response to a stimulus that is repeated "
                      "without consequence, such as ceasing to notice a ticking clock.\n",
    "mnemonics.md": "# Mnemonic devices\n\nA mnemonic device such as an acronym or the method of loci helps "
                    "learners encode and retrieve lists of items.\n",
}
NEW_TOPIC = ("zeitgeber.md", "# Circadian rhythm\n\nA zeitgeber such as daylight drives entrainment of the "
                             "circadian clock, which regulates sleep.\n")
STABLE_QUESTION = "What is habituation to a repeated stimulus?"


def _corpus(root: Path) -> Path:
    corpus = root / "corpus"
    corpus.mkdir()
    for name, text in TOPICS.items():
        (corpus / name).write_text(text, encoding="utf-8")
    return corpus


def _run_tutor(args: list[str], env: dict[str, str], cwd: Path, *, wrapper: list[str] | None = None
               ) -> subprocess.CompletedProcess:
    command = [sys.executable, *wrapper, *args] if wrapper else [venv_bin("tutor"), *args]
    # Generous: on an idle 2-core machine each run takes seconds, on a shared one up to minutes.
    return subprocess.run(command, env=guarded_env(**env), capture_output=True, text=True, timeout=900, cwd=cwd)


def _status(settings: Settings, *args: str) -> str:
    """`tutor status` as a reader that opens the index afresh sees it (in this process: only the writers
    need processes of their own, to be killed)."""
    from click.testing import CliRunner

    from tutor.cli import main

    result = CliRunner().invoke(main, ["status", *args], obj={"service": TutorService(settings)},
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@dataclass
class Asker:
    """Asks the long-lived service in a loop from another thread, recording every failure."""

    service: TutorService
    answers: int = 0
    errors: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                answer = self.service.ask(STABLE_QUESTION)
            except Exception as exc:  # anything at all: the point is that nothing escapes
                self.errors.append(f"{type(exc).__name__}: {exc}")
                continue
            self.answers += 1
            if answer.refused or "habituation.md" not in {c.source for c in answer.citations}:
                self.wrong.append(answer.text[:200])

    def __enter__(self) -> Asker:
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


@pytest.fixture(params=["embedded", "chroma-server"])
def deployment(request, tmp_path: Path, fake_llm: FakeLLMServer) -> Iterator[tuple[Settings, dict[str, str]]]:  # noqa: F811
    corpus = _corpus(tmp_path)
    env = {"TUTOR_DATA_DIR": str(tmp_path / "data"), "TUTOR_CORPUS_DIR": str(corpus),
           "TUTOR_EMBEDDING_BASE_URL": fake_llm.url, "TUTOR_LOCK_TIMEOUT": "120"}
    server = None
    if request.param == "chroma-server":
        server, url = start_chroma_server(tmp_path / "chroma-server", log_path=tmp_path / "chroma.log")
        env["TUTOR_CHROMA_URL"] = url
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=corpus, embedding_base_url=fake_llm.url,
                        chroma_url=env.get("TUTOR_CHROMA_URL"))
    try:
        yield settings, env
    finally:
        if server is not None:
            server.stop()


def _long_lived_service(settings: Settings) -> TutorService:
    service = TutorService(settings)
    assert service.ingest(quiet=True).exit_code == 0
    # Check the change marker on every question: the harshest setting for readers beside writers.
    service.__dict__["retriever"] = Retriever(service.store, service.retriever.queries,
                                              RetrievalConfig(recheck_seconds=0))
    return service


@pytest.mark.timeout(1800)  # several CLI processes: well under a minute when the machine is not shared
def test_a_service_keeps_answering_while_other_processes_ingest_remove_and_rebuild(deployment, tmp_path: Path):
    settings, env = deployment
    service = _long_lived_service(settings)
    corpus = settings.corpus_dir

    with Asker(service) as asker:
        (corpus / NEW_TOPIC[0]).write_text(NEW_TOPIC[1], encoding="utf-8")
        added = _run_tutor(["ingest"], env, tmp_path)
        assert added.returncode == 0, added.stderr
        found = service.retriever.search("zeitgeber entrainment circadian", k=3)
        assert found and found[0].chunk.source == "zeitgeber.md"

        removed = _run_tutor(["remove", "mnemonics.md"], env, tmp_path)
        assert removed.returncode == 0, removed.stderr
        sources = {p.chunk.source for p in service.retriever.search("mnemonic acronym method of loci", k=5,
                                                                    apply_threshold=False)}
        assert "mnemonics.md" not in sources

        live_before = service.status()["live_collection"]
        rebuilt = _run_tutor(["ingest", "--rebuild"], env, tmp_path)
        assert rebuilt.returncode == 0, rebuilt.stderr
        status = service.status()
        assert status["live_collection"] != live_before and status["interrupted"] is None
        # The rebuild re-indexed the corpus directory, where mnemonics.md still is.
        assert {d.source for d in service.documents()} == {"habituation.md", "mnemonics.md", "zeitgeber.md"}
        assert service.retriever.search("zeitgeber entrainment circadian", k=1)[0].chunk.source == "zeitgeber.md"
        answer = service.ask("What does a zeitgeber do?")
        assert not answer.refused and "zeitgeber.md" in {c.source for c in answer.citations}

    assert asker.errors == [], asker.errors[:5]
    assert asker.wrong == [], asker.wrong[:3]
    assert asker.answers > 10


# Points at which the rebuild process is killed: just before the Nth call of a store method.
KILL_POINTS = [
    ("ChunkStore.add", 1),  # new collection created and recorded, nothing written to it yet
    ("ChunkStore.record_file", 4),  # one file complete in the new collection, the next one half-written
    ("ChunkStore.drop_retired", 2),  # pointer swapped to the new collection, the old one not dropped yet
]


@pytest.mark.timeout(1800)
def test_a_rebuild_killed_at_any_point_leaves_an_index_serving(tmp_path: Path, fake_llm: FakeLLMServer):  # noqa: F811
    corpus = _corpus(tmp_path)
    for n in range(4):
        (corpus / f"extra-{n}.md").write_text(f"# Extra {n}\n\nFiller passage number {n} about sleep stages.\n")
    env = {"TUTOR_DATA_DIR": str(tmp_path / "data"), "TUTOR_CORPUS_DIR": str(corpus),
           "TUTOR_EMBEDDING_BASE_URL": fake_llm.url}
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=corpus, embedding_base_url=fake_llm.url)
    service = _long_lived_service(settings)
    documents = {d.source for d in service.documents()}

    for method, nth in KILL_POINTS:
        live_before = service.status()["live_collection"]
        killed = _run_tutor(["ingest", "--rebuild"], env, tmp_path,
                            wrapper=["-m", "tests.support.killpoints", method, str(nth), "--"])
        assert killed.returncode == -9, (method, killed.stdout, killed.stderr)

        answer = service.ask(STABLE_QUESTION)
        assert not answer.refused and "habituation.md" in {c.source for c in answer.citations}, method
        status = json.loads(_status(settings, "--json"))
        assert status["documents"] == len(documents) and status["chunks"] > 0
        if method == "ChunkStore.drop_retired":
            assert status["live_collection"] != live_before and status["interrupted"] is None
        else:
            assert status["live_collection"] == live_before, method
            assert "rebuild" in status["interrupted"] and "did not finish" in status["interrupted"]
            text = _status(settings)
            assert "INTERRUPTED" in text and "tutor ingest --rebuild" in text

    completed = _run_tutor(["ingest", "--rebuild"], env, tmp_path)
    assert completed.returncode == 0, completed.stderr
    status = service.status()
    assert status["interrupted"] is None and {d.source for d in service.documents()} == documents
    # Nothing is left behind: the live chunks, their manifest and the state, nothing else.
    names = {c.name for c in service.store.client.list_collections()}
    live = status["live_collection"]
    assert names == {live, f"{live}__files", f"{settings.collection}__state"}, names
    assert service.ask(STABLE_QUESTION).citations


@pytest.mark.timeout(1800)
def test_an_interrupted_ingest_is_reported_and_the_next_one_completes_it(tmp_path: Path,
                                                                        fake_llm: FakeLLMServer):  # noqa: F811
    corpus = _corpus(tmp_path)
    env = {"TUTOR_DATA_DIR": str(tmp_path / "data"), "TUTOR_CORPUS_DIR": str(corpus),
           "TUTOR_EMBEDDING_BASE_URL": fake_llm.url}
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=corpus, embedding_base_url=fake_llm.url)
    killed = _run_tutor(["ingest"], env, tmp_path,
                        wrapper=["-m", "tests.support.killpoints", "ChunkStore.record_file", "4", "--"])
    assert killed.returncode == -9
    status = json.loads(_status(settings, "--json"))
    assert "ingest" in status["interrupted"]
    again = _run_tutor(["ingest", "--json"], env, tmp_path)
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    # The file cut off halfway (chunks written, record still incomplete) is redone; the one
    # completed before the kill is not.
    assert report["summary"]["unchanged"] == 1 and report["summary"]["updated"] == 1
    status = json.loads(_status(settings, "--json"))
    assert status["interrupted"] is None and status["documents"] == 2


def _rows(ids: object) -> int:
    return 0 if ids is None else 1 if isinstance(ids, str) else len(ids)  # type: ignore[arg-type]


@pytest.fixture
def chroma_requests(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """(method, rows) of every read and write on a Chroma collection: the ids sent, and for a read the
    rows it returned."""
    from chromadb.api.models.Collection import Collection

    seen: list[tuple[str, int]] = []

    def watch(method: str) -> None:
        original = getattr(Collection, method)

        def recorded(self, *args, **kwargs):
            result = original(self, *args, **kwargs)
            rows = _rows(kwargs["ids"] if "ids" in kwargs else (args[0] if args else None))
            if method == "get":
                rows = max(rows, len(result["ids"]))
            seen.append((method, rows))
            return result

        monkeypatch.setattr(Collection, method, recorded)

    for method in ("get", "add", "upsert", "update", "delete"):
        watch(method)
    return seen


def test_a_large_file_is_indexed_served_and_removed_without_a_request_over_the_batch_size(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chroma_requests: list[tuple[str, int]]) -> None:
    """Chroma refuses a single request of more than ~32k rows ("too many SQL variables"); every read and
    write pages at max_batch_size. With a batch of 7 rows, a few hundred chunks page many times through
    ingest, status, answering, an unchanged re-ingest and removal, as 40k+ chunks do at Chroma's own
    limit (`python -m benchmarks.big_file` runs that size)."""
    from click.testing import CliRunner

    from tests.support.embedders import HashEmbedder
    from tutor.cli import main

    monkeypatch.setattr("tutor.store._MAX_BATCH", 7)
    corpus = tmp_path / "corpus"
    write_large_library(corpus, big_paragraphs=360, small_files=5, small_paragraphs=20)
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=corpus, chunk_size=200, chunk_overlap=0)

    def tutor(*args: str):
        # A fresh service per command, as separate `tutor` processes would have.
        service = TutorService(settings, embedder=HashEmbedder())
        result = CliRunner().invoke(main, ["--data-dir", str(settings.data_dir), "--corpus-dir", str(corpus), *args],
                                    obj={"service": service}, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert service.store.batch_size == 7
        return json.loads(result.output) if "--json" in args else result.output

    assert tutor("ingest", "--json")["summary"]["added"] == 6
    status = tutor("status", "--json")
    total = status["chunks"]
    big_chunks = next(f["chunks"] for f in status["files"] if f["source"] == "big.md")
    assert big_chunks >= 360 and total >= big_chunks + 100 and status["documents"] == 6

    # The bag-of-words test embedder meets the corpus's calibrated relevance floor only with shared
    # words (its vectors carry no meaning): the question repeats the passage's own.
    answer = tutor("ask", "--json", "Quokkaphobia is the invented fear of what?")
    assert not answer["refused"] and "big.md" in {c["source"] for c in answer["citations"]}

    again = tutor("ingest", "--json")
    assert again["summary"]["unchanged"] == 6 and again["embedded_chunks"] == 0

    assert "big.md" in tutor("remove", "big.md")
    status = tutor("status", "--json")
    assert status["chunks"] == total - big_chunks and status["documents"] == 5

    assert max(rows for _, rows in chroma_requests) <= 7, sorted(chroma_requests, key=lambda r: -r[1])[:5]
    for method in ("get", "upsert", "delete"):  # each paged many times, not only a few small requests
        assert sum(1 for m, rows in chroma_requests if m == method and rows == 7) > 10, method


def test_a_reader_whose_collection_was_just_dropped_by_a_rebuild_catches_up(tmp_path: Path, embedder) -> None:
    """A rebuild elsewhere swaps the index and drops the old collection between a reader's check of
    the change marker and its next read (the deployment test above met this once in many runs):
    every read of the answering path catches up instead of failing the student's question."""
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=_corpus(tmp_path))
    reader = TutorService(settings, embedder=embedder)
    assert reader.ingest(quiet=True).exit_code == 0
    # A clock that never moves: the reader never re-checks the marker on its own.
    reader.__dict__["retriever"] = Retriever(reader.store, reader.retriever.queries, clock=lambda: 0.0)
    reader.retriever.chunks_mentioning("habituation")  # the lexical view is built over the old collection
    passages = reader.retriever.search(STABLE_QUESTION)
    assert TutorService(settings, embedder=embedder).rebuild(quiet=True).exit_code == 0

    _, chunks = reader.retriever.chunks_mentioning("habituation")
    assert [c.source for c in chunks][:1] == ["habituation.md"]
    assert TutorService(settings, embedder=embedder).rebuild(quiet=True).exit_code == 0
    scenario = "I keep hearing the clock tick. After a while I stop noticing it. What is this called?"
    assert reader.retriever.relevance(scenario, passages) is not None  # a sentence's nearest passage
    assert TutorService(settings, embedder=embedder).rebuild(quiet=True).exit_code == 0
    assert "ticking clock" in reader.section_text("habituation.md", passages[0].chunk.section)
    answer = reader.ask("What is habituation?")
    assert not answer.refused and "habituation.md" in {c.source for c in answer.citations}
