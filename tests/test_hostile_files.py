"""Hostile files cannot hurt the index, the machine or a student.

A corpus of hostile files (tests/support/hostile.py: bombs, encrypted, corrupt, empty, binary, deep
HTML, a YAML alias bomb, odd names, a symlink out of the library, hidden and planted text) is
ingested once beside good files, with the real embedder and a real Chroma: every bad file fails by
name with its reason, the good ones are indexed, hidden text is nowhere in the index, and planted
instructions are flagged with their line.
"""

from __future__ import annotations

import json
import os
import re
import resource
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support.hostile import (GOOD_FILES, GOOD_HTML, HIDDEN_MARK, HOSTILE_CASES, PLANTED, VISIBLE_PLANTED_MD,
                                   build_hostile_corpus, write_docx_bomb)
from tutor.directives import METADATA_KEY, planted_sentences
from tutor.documents import load_document
from tutor.errors import DocumentError
from tutor.isolation import ParsePool
from tutor.limits import MB, ParseLimits
from tutor.service import TutorService
from tutor.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory, embedder):
    """The hostile corpus ingested once: (service, report, peak RSS growth of this process in bytes)."""
    root = tmp_path_factory.mktemp("hostile")
    corpus = build_hostile_corpus(root / "corpus", root / "outside")
    service = TutorService(Settings(data_dir=root / "data", corpus_dir=corpus), embedder=embedder)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    report = service.ingest(quiet=True)
    growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - before
    return service, report, growth


def _outcome(report, source: str):
    matches = [o for o in report.outcomes if o.source == source]
    assert matches, f"{source!r} is not in the report: {[o.source for o in report.outcomes]}"
    return matches[0]


@pytest.mark.parametrize("case", HOSTILE_CASES, ids=[c.name for c in HOSTILE_CASES])
def test_each_hostile_file_fails_by_name_or_is_indexed_harmlessly(hostile_run, case) -> None:
    _, report, _ = hostile_run
    outcome = _outcome(report, case.name)
    if case.expect == "failed":
        assert outcome.status == "failed", outcome
        assert outcome.error and re.search(case.reason, outcome.error), outcome.error
    else:
        assert outcome.status == "added" and outcome.chunks > 0, outcome


def test_good_files_beside_them_are_indexed_and_the_run_reports_failure(hostile_run) -> None:
    service, report, growth = hostile_run
    for name in GOOD_FILES:
        assert _outcome(report, name).status == "added"
    assert report.exit_code == 1
    assert {d.source for d in service.documents()} >= set(GOOD_FILES)
    # The parsers ran elsewhere: this process grew by far less than any bomb would have cost it.
    assert growth < 1024 * MB


def test_hidden_text_never_reaches_the_index(hostile_run) -> None:
    service, _, _ = hostile_run
    chunks = service.store.all_chunks()
    assert not [c.source for c in chunks if HIDDEN_MARK in c.text.lower()]
    text = {source: " ".join(c.text for c in chunks if c.source == source) for source in ("hidden.html", "hidden.pdf")}
    assert "Selective attention" in text["hidden.html"] and "cocktail party effect" in text["hidden.html"]
    assert "Working memory holds" in text["hidden.pdf"] and "Rehearsal keeps" in text["hidden.pdf"]
    assert "secret" not in " ".join(c.text for c in chunks).lower()  # the symlink target


def test_planted_instructions_are_flagged_with_their_line_and_recorded_on_the_chunk(hostile_run) -> None:
    service, report, _ = hostile_run
    planted = _outcome(report, "planted.md")
    line = VISIBLE_PLANTED_MD.splitlines().index(PLANTED) + 1
    assert len(planted.warnings) == 1 and planted.warnings[0].startswith(f"line {line}:"), planted.warnings
    assert PLANTED in planted.warnings[0]
    assert ("planted.md", planted.warnings[0]) in report.warnings and "1 warning" in report.summary()
    chunks = [c for c in service.store.all_chunks() if c.source == "planted.md"]
    assert [s for c in chunks for s in planted_sentences(c.metadata)] == [PLANTED]
    # Only the planted sentence is flagged: the rest of the course text stays answerable.
    assert all(METADATA_KEY not in c.metadata for c in service.store.all_chunks() if c.source in GOOD_FILES)


def test_a_good_document_overwritten_by_garbage_keeps_its_chunks(tmp_path: Path, embedder) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    victim = corpus / "sleep.html"
    victim.write_text(GOOD_HTML, encoding="utf-8")
    service = TutorService(Settings(data_dir=tmp_path / "data", corpus_dir=corpus), embedder=embedder)
    assert service.ingest(quiet=True).exit_code == 0
    before = sorted((c.chunk_id, c.text) for c in service.store.all_chunks())
    victim.write_bytes(os.urandom(64 * 1024))
    report = service.ingest(quiet=True)
    [outcome] = report.outcomes
    assert outcome.status == "failed" and "binary" in outcome.error
    assert sorted((c.chunk_id, c.text) for c in service.store.all_chunks()) == before


def test_a_symlinked_folder_leading_outside_is_not_followed(tmp_path: Path, embedder) -> None:
    corpus, outside = tmp_path / "corpus", tmp_path / "outside"
    corpus.mkdir()
    outside.mkdir()
    (outside / "exam-answers.md").write_text("# Answers\n\nQuestion one: B.\n", encoding="utf-8")
    (corpus / "notes").symlink_to(outside, target_is_directory=True)
    (corpus / "week1.md").write_text("# Week 1\n\nClassical conditioning pairs stimuli.\n", encoding="utf-8")
    service = TutorService(Settings(data_dir=tmp_path / "data", corpus_dir=corpus), embedder=embedder)
    service.ingest(quiet=True)
    assert [d.source for d in service.documents()] == ["week1.md"]
    report = service.ingest([corpus / "notes" / "exam-answers.md"], quiet=True)  # named explicitly, inside the library
    assert report.outcomes[0].status == "failed" and "symbolic link" in report.outcomes[0].error


def test_cli_names_failures_and_planted_lines(tmp_path: Path) -> None:
    from tutor.cli import main

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "planted.md").write_text(VISIBLE_PLANTED_MD, encoding="utf-8")
    (corpus / "random.html").write_bytes(os.urandom(4096))
    result = CliRunner().invoke(main, ["--corpus-dir", str(corpus), "--data-dir", str(tmp_path / "data"), "ingest"])
    assert result.exit_code == 1, result.output
    assert "FAILED   random.html: looks like a binary file" in result.output
    assert "WARNING  planted.md, line 5: looks like an instruction planted" in result.output
    as_json = CliRunner().invoke(main, ["--corpus-dir", str(corpus), "--data-dir", str(tmp_path / "data"),
                                        "ingest", "--json"])
    files = {f["source"]: f for f in json.loads(as_json.output)["files"]}
    assert files["random.html"]["status"] == "failed"


# --- the worker's own limits, with the cheap checks out of the way -------------------------------------------


def test_a_bomb_past_the_zip_checks_is_stopped_by_the_worker_memory_limit(tmp_path: Path) -> None:
    bomb = write_docx_bomb(tmp_path / "bomb.docx", inflated=1024 * MB)
    limits = ParseLimits(memory_mb=300, zip_max_ratio=10**9, docx_max_unpacked_bytes=10**12,
                         max_bytes={".docx": 100 * MB})
    pool = ParsePool(limits)
    try:
        with pytest.raises(DocumentError, match=r"more than 300 MB|memory|crashed") as failure:
            pool.load(bomb)
        assert failure.value.path == str(bomb)
        good = tmp_path / "after.md"
        good.write_text("# After\n\nThe next file is read by a fresh worker.\n", encoding="utf-8")
        assert pool.load(good).title == "After"  # the pool goes on
    finally:
        pool.close()


def test_a_file_that_takes_too_long_is_stopped_and_named(tmp_path: Path) -> None:
    slow = tmp_path / "slow.html"
    slow.write_text("<html><body>" + "<p>a paragraph about memory</p>" * 300_000 + "</body></html>", encoding="utf-8")
    pool = ParsePool(ParseLimits(timeout_s=0.2))
    try:
        with pytest.raises(DocumentError, match=r"took longer than 0.2 s to read .*TUTOR_PARSE_TIMEOUT"):
            pool.load(slow)
        good = tmp_path / "after.md"
        good.write_text("# After\n\nStill working.\n", encoding="utf-8")
        assert pool.load(good).title == "After"
    finally:
        pool.close()


def test_size_limits_are_settings_and_name_themselves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUTOR_MAX_TEXT_MB", "0.01")
    limits = ParseLimits.from_settings(Settings())
    big = tmp_path / "notes.md"
    big.write_text("# Notes\n\n" + "Memory consolidation. " * 1000, encoding="utf-8")
    with pytest.raises(DocumentError, match=r"limit for \.md files is 0.01 MB \(TUTOR_MAX_TEXT_MB\)"):
        load_document(big, limits)
