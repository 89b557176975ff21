"""The ingestion job against a real embedded Chroma store and the real MiniLM encoder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.documents import write_docx, write_encrypted_pdf, write_pdf
from tutor.service import TutorService
from tutor.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def make_service(tmp_path: Path, corpus: Path, embedder) -> TutorService:
    return TutorService(Settings(data_dir=tmp_path / "data", corpus_dir=corpus), embedder=embedder)


@pytest.fixture
def small_corpus(tmp_path: Path) -> Path:
    """Both seeds, one textbook section, and one file of every other format."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for seed in ("000_224ce50211750157.txt", "001_e2ce60a967ffc981.txt"):
        shutil.copy(REPO / "corpus" / seed, corpus / seed)
    (corpus / "book").mkdir()
    shutil.copy(REPO / "corpus" / "psychology-2e" / "08-4-ways-to-enhance-memory.md", corpus / "book")
    # Licence files are skipped by default; a .tutorignore adds patterns of its own.
    (corpus / "book" / "LICENSE").write_text("licence text, not course material")
    (corpus / "book" / "ATTRIBUTION.md").write_text("# Attribution\n\nBook by its authors.\n")
    (corpus / "book" / "drafts").mkdir()
    (corpus / "book" / "drafts" / "unfinished.md").write_text("# Draft\n\nNot ready for students.\n")
    (corpus / "book" / ".tutorignore").write_text("# work in progress\ndrafts/*\n")
    write_pdf(corpus / "spacing.pdf", ["The spacing effect: distributed practice beats cramming."], title="Spacing")
    write_docx(corpus / "guide.docx", "Study Guide", {"Retrieval Practice": ["Self-testing strengthens memory."]})
    (corpus / "sleep.html").write_text("<html><head><title>Sleep</title></head><body><h1>Sleep</h1>"
                                       "<p>Sleep consolidates memories.</p></body></html>")
    (corpus / "notes.markdown").write_text("# Notes\n\n## Chunking\n\nGrouping items into chunks helps recall.\n")
    return corpus


def test_every_format_is_indexed_with_citation_metadata(tmp_path, small_corpus, counting_embedder) -> None:
    service = make_service(tmp_path, small_corpus, counting_embedder)
    report = service.ingest(quiet=True)
    assert report.exit_code == 0, report.failed
    assert report.count("added") == 7
    sources = {d.source for d in service.documents()}
    assert sources == {"000_224ce50211750157.txt", "001_e2ce60a967ffc981.txt", "book/08-4-ways-to-enhance-memory.md",
                       "spacing.pdf", "guide.docx", "sleep.html", "notes.markdown"}
    chunks = service.store.all_chunks()
    assert counting_embedder.documents_embedded == len(chunks)
    for chunk in chunks:
        assert chunk.source and chunk.title and chunk.chunk_id
        assert chunk.metadata["source_sha256"] and chunk.metadata["ingested_at"]
    qa = [c for c in chunks if c.source == "000_224ce50211750157.txt"]
    assert qa[0].metadata["url"].startswith("/learn/psychology/questions/")
    assert qa[0].metadata["subject"] == "Psychology"
    assert qa[0].text.startswith("The main differences between learning and memory")
    assert any(c.section == "Study Guide › Retrieval Practice" for c in chunks)
    status = service.status()
    assert status["documents"] == 7 and status["chunks"] == len(chunks)
    # The packaged MiniLM, named with its backend unless that is torch (`…@onnx-int8` where the CPU has VNNI).
    assert status["embedding_model"] == counting_embedder.name and status["last_ingest"]
    assert status["embedding_model"].startswith("sentence-transformers/all-MiniLM-L6-v2")


def test_rerun_is_idempotent_and_embeds_nothing(tmp_path, small_corpus, counting_embedder) -> None:
    service = make_service(tmp_path, small_corpus, counting_embedder)
    service.ingest(quiet=True)
    ids_before = sorted(c.chunk_id for c in service.store.all_chunks())
    calls_before = counting_embedder.calls

    again = make_service(tmp_path, small_corpus, counting_embedder).ingest(quiet=True)

    assert again.count("unchanged") == 7 and again.embedded == 0
    assert counting_embedder.calls == calls_before
    assert sorted(c.chunk_id for c in service.store.all_chunks()) == ids_before
    assert "nothing to embed" in again.summary()


def test_changed_file_replaces_exactly_its_own_chunks(tmp_path, small_corpus, counting_embedder) -> None:
    service = make_service(tmp_path, small_corpus, counting_embedder)
    service.ingest(quiet=True)
    before = {c.chunk_id: c for c in service.store.all_chunks()}
    others_before = {i for i, c in before.items() if c.source != "notes.markdown"}

    (small_corpus / "notes.markdown").write_text(
        "# Notes\n\n## Chunking\n\nGrouping items into chunks helps recall.\n\n"
        "## Mnemonics\n\nAcronyms such as ROY G BIV help learners remember lists.\n")
    embedded_before = counting_embedder.documents_embedded
    report = service.ingest(quiet=True)

    assert report.count("updated") == 1 and report.count("unchanged") == 6
    after = {c.chunk_id: c for c in service.store.all_chunks()}
    assert {i for i, c in after.items() if c.source != "notes.markdown"} == others_before
    notes = [c for c in after.values() if c.source == "notes.markdown"]
    assert {c.section for c in notes} == {"Notes › Chunking", "Notes › Mnemonics"}
    # The unchanged passage kept its id and vector: only the new section was embedded.
    assert counting_embedder.documents_embedded - embedded_before == 1
    chunking_ids = [i for i, c in before.items() if c.source == "notes.markdown"]
    assert all(i in after for i in chunking_ids)


def test_prune_lists_with_dry_run_then_removes(tmp_path, small_corpus, counting_embedder) -> None:
    service = make_service(tmp_path, small_corpus, counting_embedder)
    service.ingest(quiet=True)
    count_before = service.store.count()
    (small_corpus / "sleep.html").unlink()

    without_prune = service.ingest(quiet=True)
    assert without_prune.count("removed") == 0 and service.store.count() == count_before

    dry = service.ingest(prune=True, dry_run=True, quiet=True)
    assert [o.source for o in dry.outcomes if o.status == "removed"] == ["sleep.html"]
    assert service.store.count() == count_before

    pruned = service.ingest(prune=True, quiet=True)
    assert [o.source for o in pruned.outcomes if o.status == "removed"] == ["sleep.html"]
    assert "sleep.html" not in {d.source for d in service.documents()}
    assert service.store.count() < count_before


def test_bad_files_are_reported_and_keep_previous_chunks(tmp_path, small_corpus, counting_embedder) -> None:
    service = make_service(tmp_path, small_corpus, counting_embedder)
    service.ingest(quiet=True)
    guide_chunks = [c.chunk_id for c in service.store.all_chunks() if c.source == "guide.docx"]

    # A previously good file turns corrupt; new broken files of every kind appear beside a good one.
    (small_corpus / "guide.docx").write_bytes(b"PK\x03\x04 truncated")
    (small_corpus / "empty.md").write_bytes(b"")
    (small_corpus / "latin1.txt").write_bytes("Caf\u00e9".encode("latin-1"))
    write_encrypted_pdf(small_corpus / "locked.pdf", ["secret"])
    (small_corpus / "scan.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (small_corpus / "fresh.md").write_text("# Fresh\n\nInterference makes similar memories compete.\n")

    report = service.ingest(quiet=True)

    failed = {o.source: o.error for o in report.failed}
    assert set(failed) == {"guide.docx", "empty.md", "latin1.txt", "locked.pdf", "scan.png"}
    assert "not a valid DOCX" in failed["guide.docx"] and "empty" in failed["empty.md"]
    assert "UTF-8" in failed["latin1.txt"] and "encrypted" in failed["locked.pdf"]
    assert "unsupported" in failed["scan.png"]
    assert report.exit_code == 1
    assert report.count("added") == 1  # fresh.md still indexed
    still = [c.chunk_id for c in service.store.all_chunks() if c.source == "guide.docx"]
    assert still == guide_chunks


def test_embedding_model_mismatch_is_refused_until_a_rebuild(tmp_path, small_corpus, embedder) -> None:
    from tests.conftest import CountingEmbedder
    from tutor.errors import EmbeddingModelMismatch

    make_service(tmp_path, small_corpus, embedder).ingest([small_corpus / "notes.markdown"], quiet=True)
    other_model = CountingEmbedder(embedder)
    other_model.name = "some-other-model"
    switched = make_service(tmp_path, small_corpus, other_model)
    with pytest.raises(EmbeddingModelMismatch, match="tutor ingest --rebuild"):
        switched.ingest(quiet=True)

    report = switched.rebuild(quiet=True)  # what the message says to do: it must work despite the mismatch

    assert report.count("added") == 7 and other_model.documents_embedded == switched.store.count()
    assert switched.status()["embedding_model"] == "some-other-model"
    assert switched.ingest(quiet=True).count("unchanged") == 7


def test_prune_removes_a_file_that_is_now_ignored(tmp_path, small_corpus, counting_embedder) -> None:
    service = make_service(tmp_path, small_corpus, counting_embedder)
    service.ingest(quiet=True)
    (small_corpus / ".tutorignore").write_text("notes.markdown\n")

    pruned = service.ingest(prune=True, quiet=True)

    assert [o.source for o in pruned.outcomes if o.status == "removed"] == ["notes.markdown"]
    assert (small_corpus / "notes.markdown").exists()  # the file stays; only the index forgets it
    assert "notes.markdown" not in {d.source for d in service.documents()}


def test_a_second_file_with_the_same_source_name_is_refused(tmp_path, small_corpus, counting_embedder) -> None:
    service = make_service(tmp_path, small_corpus, counting_embedder)
    service.ingest(quiet=True)
    before = [c.chunk_id for c in service.store.all_chunks() if c.source == "notes.markdown"]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "notes.markdown").write_text("# Other notes\n\nSomething else entirely.\n")

    report = service.ingest([elsewhere], quiet=True)

    assert [(o.source, o.status) for o in report.outcomes] == [("notes.markdown", "failed")]
    assert "already indexed as 'notes.markdown'" in report.outcomes[0].error
    assert [c.chunk_id for c in service.store.all_chunks() if c.source == "notes.markdown"] == before


def test_an_unreadable_tutorignore_is_a_clear_error(tmp_path) -> None:
    from tutor.errors import TutorError
    from tutor.ingest import discover

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "notes.md").write_text("# Notes\n\nText.\n")
    (corpus / ".tutorignore").write_bytes("drafts/*\ncaf\u00e9".encode("latin-1"))
    with pytest.raises(TutorError, match=r"\.tutorignore: cannot be read as UTF-8"):
        discover([corpus], corpus)
