"""The multi-course retrieval benchmark runs end to end on a small slice of each shared book."""

from __future__ import annotations

import json
import re

import pytest

from benchmarks import retrieval


@pytest.mark.slow
@pytest.mark.timeout(900)  # three small indexes and two embedders: ~1-2 min on an idle 2-core machine
def test_the_benchmark_runs_on_a_slice_of_every_book(tmp_path, shared_dir, capsys) -> None:
    data = tmp_path / "bench"
    retrieval.main(["--slice", "2", "--distractors", "1", "--backends", "onnx-int8", "--shared", str(shared_dir),
                    "--data-dir", str(data)])
    out = capsys.readouterr().out
    for book in ("psychology-2e", "microbiology", "us-history"):
        assert f"## {book}: " in out
    assert re.search(r"load average at start \d", out) and "load average at end" in out
    rows = [line for line in out.splitlines() if re.match(r"(all|dev-tune|dev-held)\s+\d+ \|", line)]
    assert len(rows) >= 3
    for row in rows:
        values = [float(v) for v in re.findall(r"\d\.\d{3}", row)]
        assert values and all(0.0 <= v <= 1.0 for v in values), row
    assert out.count("relevance floor: question ") == 3
    # Indexes are cached by content hash: a second run embeds nothing and reads the same figures.
    cached = sorted(p.read_text() for p in data.glob("*/*/ingest.json"))
    retrieval.main(["--slice", "2", "--distractors", "1", "--backends", "onnx-int8", "--shared", str(shared_dir),
                    "--data-dir", str(data), "--only", "us-history"])
    assert sorted(p.read_text() for p in data.glob("*/*/ingest.json")) == cached
    # --ingest-only reports the ingest figures and asks nothing. An index left without figures (a run
    # stopped mid-ingest) is built again from scratch, not finished and timed as if it were the book.
    (figures,) = data.glob("us-history-*/tutor-onnx-int8/ingest.json")
    whole = json.loads(figures.read_text())["chunks"]
    figures.unlink()
    leftover = figures.parent / "leftover-from-the-stopped-run"
    leftover.write_text("x")
    capsys.readouterr()
    retrieval.main(["--slice", "2", "--distractors", "1", "--backends", "onnx-int8", "--shared", str(shared_dir),
                    "--data-dir", str(data), "--only", "us-history", "--ingest-only"])
    out = capsys.readouterr().out
    assert re.search(r"onnx-int8: \d+ chunks, ingest [\d.]+ s wall / [\d.]+ s CPU = [\d.]+x the tutorial", out)
    assert "relevance floor" not in out and not re.search(r"^all\s+\d+ \|", out, re.MULTILINE)
    assert not leftover.exists() and json.loads(figures.read_text())["chunks"] == whole


def test_the_dev_split_is_deterministic_and_roughly_even(shared_dir) -> None:
    from evals.data import load_questions

    ids = [q.id for q in load_questions(shared_dir / "evalsets" / "psychology-2e-dev.jsonl").questions]
    halves = [retrieval.dev_half(i) for i in ids]
    assert halves == [retrieval.dev_half(i) for i in ids]
    assert 0.35 < halves.count("tune") / len(halves) < 0.65


def test_a_course_of_ones_own_is_given_as_name_corpus_and_questions(tmp_path) -> None:
    book = retrieval.parse_book(f"mycourse={tmp_path}/notes:{tmp_path}/q.jsonl")
    assert book.name == "mycourse" and book.corpus == tmp_path / "notes" and book.questions == tmp_path / "q.jsonl"
    with pytest.raises(Exception, match="NAME=CORPUS_DIR:QUESTIONS.jsonl"):
        retrieval.parse_book("just-a-name")
