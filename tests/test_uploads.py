"""Instructor uploads and library actions: names are sanitised, bad files change nothing, and no action
runs without a session obtained with the instructor password."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tutor.errors import DocumentError, UnsupportedDocument
from tutor.library import (Client, InstructorSession, LibraryLocked, LoginThrottle, NotAuthorized, TooManyAttempts,
                           delete_documents, instructor_login, library_documents, reindex_library,
                           require_instructor)
from tutor.service import TutorService
from tutor.settings import Settings
from tutor.uploads import Upload, add_uploads, replace_document, safe_upload_name

PASSWORD = "correct horse battery staple"
MEMORY_DOC = b"""# Sleep and Memory

## Consolidation

Sleep spindles help consolidate declarative memories overnight. Students who sleep after studying recall more.
"""
NEW_DOC = b"""---
title: Zebrafish Navigation
---
# Zebrafish Navigation

## Lateral line

Zebrafish larvae navigate dark water with the lateral line, a row of hair-cell clusters called neuromasts.
"""


@pytest.fixture
def library(tmp_path: Path, embedder) -> TutorService:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "sleep.md").write_bytes(MEMORY_DOC)
    settings = Settings(data_dir=tmp_path / "data", corpus_dir=corpus, instructor_password=PASSWORD,
                        upload_max_mb=0.01)
    service = TutorService(settings, embedder=embedder)
    assert service.ingest(quiet=True).exit_code == 0
    return service


@pytest.fixture
def session(library: TutorService) -> InstructorSession:
    return instructor_login(library.settings, PASSWORD)


def _files(corpus: Path) -> set[str]:
    return {p.relative_to(corpus).as_posix() for p in corpus.rglob("*")}


@pytest.mark.parametrize(("given", "expected"), [
    ("notes.md", "notes.md"),
    ("../../etc/passwd.md", "passwd.md"),
    ("..\\..\\Windows\\evil.TXT", "evil.txt"),
    ("/abs/path/Week 3: Memory (final).pdf", "Week-3-Memory-final.pdf"),
    (".hidden.md", "hidden.md"),
    ("...md", "document.md"),
    ("naïve café.docx", "naïve-café.docx"),
    ("a\x00b.html", "ab.html"),
])
def test_upload_names_are_reduced_to_a_plain_file_name(given: str, expected: str) -> None:
    assert safe_upload_name(given) == expected


@pytest.mark.parametrize("given", ["script.exe", "noextension", "archive.md.zip", "../", "LICENSE.md", "attribution.txt"])
def test_unsupported_upload_names_are_refused(given: str) -> None:
    with pytest.raises(UnsupportedDocument):
        safe_upload_name(given)


def test_upload_adds_just_that_file_and_it_is_searchable(library: TutorService, session: InstructorSession) -> None:
    (library.settings.corpus_dir / "not-yet-indexed.md").write_bytes(b"# Other\n\nSomething else entirely.")
    [outcome] = add_uploads(library, session, [Upload("../zebrafish.md", NEW_DOC)])
    assert (outcome.status, outcome.source, outcome.error) == ("added", "zebrafish.md", None)
    assert outcome.chunks >= 1
    sources = {d.source for d in library.documents()}
    assert sources == {"sleep.md", "zebrafish.md"}  # the stray file was not ingested with it
    assert (library.settings.corpus_dir / "zebrafish.md").read_bytes() == NEW_DOC
    chunk = next(c for c in library.store.all_chunks() if c.source == "zebrafish.md")
    assert chunk.title == "Zebrafish Navigation" and "Lateral line" in chunk.section


def test_bad_uploads_report_their_error_by_file_and_change_nothing(library: TutorService,
                                                                   session: InstructorSession) -> None:
    corpus = library.settings.corpus_dir
    before_files, before_index = _files(corpus), library.store.fingerprint()
    progress: list[tuple[int, int, str]] = []
    outcomes = add_uploads(library, session, [
        Upload("broken.pdf", b"%PDF-1.7\nthis is not really a pdf"),
        Upload("empty.md", b"   \n"),
        Upload("binary.txt", b"\x00\x01\x02 not text"),
        Upload("huge.md", b"# Big\n\n" + b"word " * 5000),
        Upload("malware.exe", b"MZ"),
        Upload("fine.md", NEW_DOC),
    ], on_progress=lambda *args: progress.append(args))

    by_name = {o.name: o for o in outcomes}
    assert [o.name for o in outcomes if not o.ok] == ["broken.pdf", "empty.md", "binary.txt", "huge.md",
                                                      "malware.exe"]
    assert "PDF" in by_name["broken.pdf"].error
    assert "empty" in by_name["empty.md"].error
    assert "binary" in by_name["binary.txt"].error
    assert "limit is 0.01 MB" in by_name["huge.md"].error
    assert "unsupported file type '.exe'" in by_name["malware.exe"].error
    assert by_name["fine.md"].status == "added"  # one bad file does not stop the others
    assert _files(corpus) == before_files | {"fine.md"}  # no temporary or rejected files left behind
    assert {d.source for d in library.documents()} == {"sleep.md", "fine.md"}
    assert progress[0] == (0, 6, "broken.pdf") and progress[-1] == (6, 6, "")
    assert before_index != library.store.fingerprint()


def test_a_bad_replacement_keeps_the_indexed_document(library: TutorService, session: InstructorSession) -> None:
    before_index = library.store.fingerprint()
    outcome = replace_document(library, session, "sleep.md", Upload("sleep-v2.md", b"\xff\xfe not utf-8"))
    assert outcome.status == "failed" and "UTF-8" in outcome.error
    assert (library.settings.corpus_dir / "sleep.md").read_bytes() == MEMORY_DOC
    assert library.store.fingerprint() == before_index

    wrong_type = replace_document(library, session, "sleep.md", Upload("sleep.txt", b"plain text"))
    assert wrong_type.status == "failed" and "only be replaced by a .md file" in wrong_type.error
    assert replace_document(library, session, "nope.md", Upload("x.md", NEW_DOC)).error == "'nope.md' is not in the library"


def test_replace_then_delete_then_reindex(library: TutorService, session: InstructorSession) -> None:
    corpus = library.settings.corpus_dir
    outcome = replace_document(library, session, "sleep.md", Upload("whatever-name.md", NEW_DOC))
    assert (outcome.status, outcome.source) == ("updated", "sleep.md")
    assert (corpus / "sleep.md").read_bytes() == NEW_DOC
    assert all("Zebrafish" in c.title for c in library.store.all_chunks())

    [removed] = delete_documents(library, session, ["sleep.md"])
    assert removed.status == "removed" and not (corpus / "sleep.md").exists()
    assert library.documents() == []

    (corpus / "dropped-in.md").write_bytes(MEMORY_DOC)  # copied into the folder by hand
    report = reindex_library(library, session)
    assert [(o.source, o.status) for o in report.outcomes] == [("dropped-in.md", "added")]
    [document] = library_documents(library, session)
    assert document.source == "dropped-in.md" and document.chunks and document.ingested_at


def test_wrong_or_forged_sessions_cannot_act(library: TutorService) -> None:
    with pytest.raises(NotAuthorized, match="Wrong instructor password"):
        instructor_login(library.settings, "guess")
    forged = [None, InstructorSession("0" * 64), InstructorSession(""), "a string"]
    other = Settings(data_dir=library.settings.data_dir, corpus_dir=library.settings.corpus_dir,
                     instructor_password="another password")
    forged.append(instructor_login(other, "another password"))  # valid for another password only
    before_files, before_index = _files(library.settings.corpus_dir), library.store.fingerprint()
    for session in forged:
        with pytest.raises(NotAuthorized):
            add_uploads(library, session, [Upload("x.md", NEW_DOC)])  # type: ignore[arg-type]
        with pytest.raises(NotAuthorized):
            replace_document(library, session, "sleep.md", Upload("sleep.md", NEW_DOC))  # type: ignore[arg-type]
        with pytest.raises(NotAuthorized):
            delete_documents(library, session, ["sleep.md"])  # type: ignore[arg-type]
        with pytest.raises(NotAuthorized):
            reindex_library(library, session)  # type: ignore[arg-type]
        with pytest.raises(NotAuthorized):
            library_documents(library, session)  # type: ignore[arg-type]
    assert _files(library.settings.corpus_dir) == before_files
    assert library.store.fingerprint() == before_index


def test_without_a_password_the_library_is_locked_for_everyone(library: TutorService,
                                                               session: InstructorSession) -> None:
    locked = TutorService(Settings(data_dir=library.settings.data_dir, corpus_dir=library.settings.corpus_dir),
                          embedder=library.embedder)
    with pytest.raises(LibraryLocked, match="TUTOR_INSTRUCTOR_PASSWORD"):
        instructor_login(locked.settings, "")
    with pytest.raises(LibraryLocked):
        require_instructor(locked.settings, session)  # a session from before the password was removed
    with pytest.raises(LibraryLocked):
        delete_documents(locked, session, ["sleep.md"])
    assert {d.source for d in locked.documents()} == {"sleep.md"}


def test_document_error_names_the_upload_not_the_temporary_file(library: TutorService,
                                                                session: InstructorSession) -> None:
    [outcome] = add_uploads(library, session, [Upload("week1.docx", b"not a zip")])
    assert outcome.name == "week1.docx" and "DOCX" in outcome.error and ".upload-" not in outcome.error
    assert issubclass(UnsupportedDocument, DocumentError)


def test_password_guessing_slows_down_only_the_guesser(library: TutorService) -> None:
    now = [1000.0]
    throttle = LoginThrottle(free_tries=3, address_free_tries=6, base_delay=2.0, max_delay=60.0, clock=lambda: now[0])
    student, instructor = Client("student-browser", "10.0.0.7"), Client("instructor-browser", "10.0.0.8")
    for _ in range(3):
        with pytest.raises(NotAuthorized, match="Wrong"):
            instructor_login(library.settings, "guess", throttle, client=student)
    # The delay grows with each further wrong password: 2 s, 4 s, 8 s, ... up to max_delay.
    waits = []
    for _ in range(7):
        with pytest.raises(TooManyAttempts, match=r"try again in (\d+) s") as refused:
            instructor_login(library.settings, PASSWORD, throttle, client=student)  # even the right one waits
        waits.append(int(re.search(r"try again in (\d+) s", str(refused.value)).group(1)))
        now[0] += waits[-1]
        with pytest.raises(NotAuthorized, match="Wrong"):
            instructor_login(library.settings, "guess", throttle, client=student)
    assert waits == [2, 4, 8, 16, 32, 60, 60]
    # Meanwhile the instructor, in another browser, logs in at once.
    assert instructor_login(library.settings, PASSWORD, throttle, client=instructor)
    # A fresh session from the guesser's address is still slowed: the address has used its allowance.
    with pytest.raises(TooManyAttempts):
        instructor_login(library.settings, "guess", throttle, client=Client("new-session", "10.0.0.7"))
    now[0] += 61
    assert instructor_login(library.settings, PASSWORD, throttle, client=student)
