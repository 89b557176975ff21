"""Shared fixtures. Every test runs with outbound network refused (loopback only) and its own
data directory; the real corpus is indexed once per session and shared read-only."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.support import network
from tests.support.postgres import database_url, postgres_server  # noqa: F401  (fixtures for every test module)

REPO = Path(__file__).resolve().parents[1]
# TUTOR_TEST_SHARED_DIR, else ../shared beside the repository (a git worktree one level deeper,
# wt/<branch>, finds it further up).
SHARED = Path(os.environ.get("TUTOR_TEST_SHARED_DIR") or next(
    (p / "shared" for p in REPO.parents if (p / "shared" / "evalsets").is_dir()), REPO.parent / "shared"))

network.install()  # before any test module imports something that might phone home

for _var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "TUTOR_CHROMA_URL", "TUTOR_LLM_MODEL", "TUTOR_DATA_DIR",
             "TUTOR_CORPUS_DIR", "TUTOR_EMBEDDING_MODEL", "TUTOR_EMBEDDING_BASE_URL", "TUTOR_EMBEDDING_API_KEY",
             "TUTOR_INSTRUCTOR_PASSWORD", "TUTOR_DATABASE_URL", "TUTOR_RECORD_QUESTIONS", "TUTOR_RECORD_RETENTION_DAYS",
             "TUTOR_EMBEDDING_BACKEND"):
    os.environ.pop(_var, None)
# Exported ONNX models are cached by weights and recipe, so every test (and every run) can share
# one export instead of paying seconds per data directory.
os.environ["TUTOR_MODEL_CACHE_DIR"] = str(Path(tempfile.gettempdir()) / "tutor-test-models")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked slow first, otherwise in file order: on `make test`'s two workers the long modules
    start at once, rather than one of them running alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Anything that builds Settings() without arguments writes under tmp_path, never ./.data."""
    data_dir = tmp_path / "data"
    monkeypatch.setenv("TUTOR_DATA_DIR", str(data_dir))
    return data_dir


@pytest.fixture(scope="session")
def embedder():
    """The real packaged MiniLM model, loaded once per test session."""
    from tutor.embeddings import build_embedder
    from tutor.settings import Settings

    return build_embedder(Settings())


class CountingEmbedder:
    """Wraps a real embedder and counts what it is asked to embed (for idempotency tests)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.documents_embedded = 0
        self.calls = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        self.documents_embedded += len(texts)
        return self.inner.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.inner.embed_query(text)


@pytest.fixture
def counting_embedder(embedder) -> CountingEmbedder:
    return CountingEmbedder(embedder)


@pytest.fixture(scope="session")
def corpus_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only copy of the repository's corpus/ (tests must not edit the real one)."""
    target = tmp_path_factory.mktemp("corpus") / "corpus"
    shutil.copytree(REPO / "corpus", target)
    return target


@pytest.fixture(scope="session")
def indexed_service(tmp_path_factory: pytest.TempPathFactory, corpus_copy: Path, embedder):
    """A TutorService over the real course corpus, indexed once for the whole session. Read-only:
    tests that change the index build their own."""
    from tutor.service import TutorService
    from tutor.settings import Settings

    settings = Settings(data_dir=tmp_path_factory.mktemp("indexed") / "data", corpus_dir=corpus_copy)
    service = TutorService(settings, embedder=embedder)
    report = service.ingest(quiet=True)
    assert report.exit_code == 0, report.failed
    return service


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is not beside the repository")
    return SHARED
