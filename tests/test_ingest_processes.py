"""Ingestion as separate processes: the CLI's exit codes and output, two concurrent writers on one
embedded store, a real `chroma run` server on loopback, and no outbound network at run time."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from filelock import FileLock

from tests.support.network import OutboundNetworkBlocked
from tests.support.processes import guarded_env, start_chroma_server, venv_bin
from tutor.service import TutorService
from tutor.settings import Settings

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # tutor processes that load the model, a `chroma run` server


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    (corpus / "book").mkdir(parents=True)
    shutil.copy(REPO / "corpus" / "000_224ce50211750157.txt", corpus)
    for name in ("08-0-introduction.md", "08-4-ways-to-enhance-memory.md"):
        shutil.copy(REPO / "corpus" / "psychology-2e" / name, corpus / "book")
    return corpus


def run_tutor(args: list[str], data_dir: Path, corpus: Path, netlog: Path, **env: str) -> subprocess.CompletedProcess:
    environment = guarded_env(TUTOR_DATA_DIR=str(data_dir), TUTOR_CORPUS_DIR=str(corpus),
                              TUTOR_NETGUARD_LOG=str(netlog), **env)
    return subprocess.run([venv_bin("tutor"), *args], env=environment, capture_output=True, text=True,
                          timeout=240, cwd=corpus.parent)


def test_outbound_network_is_blocked_in_tests() -> None:
    with pytest.raises(OutboundNetworkBlocked):
        socket.create_connection(("192.0.2.10", 80), timeout=1)
    with pytest.raises(OutboundNetworkBlocked):
        socket.getaddrinfo("huggingface.co", 443)


def test_cli_ingest_json_status_and_bad_file_exit_code(tmp_path: Path, corpus: Path) -> None:
    data, netlog = tmp_path / "data", tmp_path / "net.log"
    (corpus / "broken.pdf").write_bytes(b"%PDF-1.4 nonsense")

    first = run_tutor(["ingest", "--json"], data, corpus, netlog)
    assert first.returncode == 1, first.stderr
    report = json.loads(first.stdout)
    assert report["summary"] == {"added": 3, "updated": 0, "unchanged": 0, "removed": 0, "failed": 1}
    assert [f["source"] for f in report["files"] if f["status"] == "failed"] == ["broken.pdf"]
    assert "Embedding" not in first.stderr  # --json keeps the progress bar quiet

    (corpus / "broken.pdf").unlink()
    (corpus / "book" / "08-0-introduction.md").unlink()
    dry = run_tutor(["ingest", "--prune", "--dry-run"], data, corpus, netlog)
    assert dry.returncode == 0, dry.stderr
    assert "would remove book/08-0-introduction.md" in dry.stdout
    assert "0 added, 0 updated, 2 unchanged, 1 removed, 0 failed; nothing to embed" in dry.stdout

    status = run_tutor(["status", "--json"], data, corpus, netlog)
    assert json.loads(status.stdout)["documents"] == 3  # the dry run removed nothing

    text_status = run_tutor(["status"], data, corpus, netlog)
    assert "sentence-transformers/all-MiniLM-L6-v2" in text_status.stdout
    assert str(data / "chroma") in text_status.stdout
    assert not netlog.exists(), netlog.read_text()


def test_two_concurrent_ingests_on_one_embedded_store(tmp_path: Path, corpus: Path) -> None:
    data, netlog = tmp_path / "data", tmp_path / "net.log"
    environment = guarded_env(TUTOR_DATA_DIR=str(data), TUTOR_CORPUS_DIR=str(corpus), TUTOR_NETGUARD_LOG=str(netlog))
    processes = [subprocess.Popen([venv_bin("tutor"), "ingest"], env=environment, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, cwd=tmp_path) for _ in range(2)]
    results = [(p.wait(timeout=240), *p.communicate()) for p in processes]

    assert [code for code, _, _ in results] == [0, 0], results
    outputs = sorted(out for _, out, _ in results)
    # One did the work; the other waited for it, then found nothing to do.
    assert "0 added, 0 updated, 3 unchanged" in outputs[0] and "3 added" in outputs[1]
    assert any("waiting" in err for _, _, err in results)
    service = TutorService(Settings(data_dir=data, corpus_dir=corpus))
    chunks = service.store.all_chunks()
    assert len(chunks) == len({c.chunk_id for c in chunks}) == service.status()["chunks"]
    assert not netlog.exists()


def test_second_writer_refuses_when_the_lock_stays_busy(tmp_path: Path, corpus: Path) -> None:
    data, netlog = tmp_path / "data", tmp_path / "net.log"
    data.mkdir()
    with FileLock(str(data / "ingest.lock")):
        refused = run_tutor(["ingest"], data, corpus, netlog, TUTOR_LOCK_TIMEOUT="1")
    assert refused.returncode == 2
    assert "Another ingest is still writing" in refused.stderr and "Traceback" not in refused.stderr


def test_ingest_into_a_real_chroma_server(tmp_path: Path, corpus: Path, embedder) -> None:
    server, url = start_chroma_server(tmp_path / "chroma-server", log_path=tmp_path / "chroma.log")
    try:
        settings = Settings(data_dir=tmp_path / "data", corpus_dir=corpus, chroma_url=url)
        service = TutorService(settings, embedder=embedder)
        report = service.ingest(quiet=True)
        assert report.count("added") == 3 and report.exit_code == 0
        assert service.status()["store"] == url and service.status()["store_kind"] == "chroma-server"
        again = TutorService(settings, embedder=embedder).ingest(quiet=True)
        assert again.count("unchanged") == 3 and again.embedded == 0
        # The data lives in the server, not in the local data directory.
        assert not (tmp_path / "data" / "chroma").exists()
        netlog = tmp_path / "net.log"
        status = run_tutor(["status", "--json"], tmp_path / "data", corpus, netlog, TUTOR_CHROMA_URL=url)
        assert json.loads(status.stdout)["chunks"] == service.store.count()
    finally:
        server.stop()


def test_unreachable_chroma_server_is_a_clear_error(tmp_path: Path, corpus: Path) -> None:
    result = run_tutor(["status"], tmp_path / "data", corpus, tmp_path / "net.log",
                       TUTOR_CHROMA_URL="http://127.0.0.1:9")
    assert result.returncode == 2
    assert "Cannot reach the Chroma server at http://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr
