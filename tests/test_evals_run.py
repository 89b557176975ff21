"""`tutor eval run` over the repository's corpus (the session's indexed service): the seed gold set
passes its CI thresholds, two runs give identical scores, thresholds set the exit code, reports
are written in three formats and `eval compare` reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from evals.data import load_questions
from evals.metrics.faithfulness.offline import OfflineScorer
from evals.report import EvalReport, load_report, write_reports
from evals.runner import RunOptions, run
from tutor.cli import main

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow  # the seed gold set answered and scored twice
SEED_GOLD = REPO / "evals" / "datasets" / "seed-gold.jsonl"
# The CI gate on the seed gold set, a margin below the figures measured with the offline answerer
# (faithfulness 1.0, citation recall/precision 1.0, Recall@k 0.94, MRR 0.88, context precision
# 0.74, option accuracy 1.0 on 4 items, refusal accuracy 1.0, answer similarity 0.64).
CI_THRESHOLDS = {"--min-faithfulness": "0.85", "--min-citation-recall": "0.85", "--min-citation-precision": "0.85",
                 "--min-recall": "0.8", "--min-mrr": "0.7", "--min-context-precision": "0.55",
                 "--min-mcq-accuracy": "0.75", "--min-refusal-accuracy": "0.9", "--min-answer-similarity": "0.5"}


def _cli(indexed_service, *args: str):
    settings = indexed_service.settings
    return CliRunner().invoke(main, ["--data-dir", str(settings.data_dir), "--corpus-dir", str(settings.corpus_dir),
                                     "eval", "run", "--quiet", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def gated_run(indexed_service, tmp_path_factory: pytest.TempPathFactory):
    """`tutor eval run` on the seed gold set with the CI thresholds: its result and the reports it wrote."""
    out = tmp_path_factory.mktemp("gated")
    result = _cli(indexed_service, "--dataset", str(SEED_GOLD), "--out", str(out),
                  *[item for pair in CI_THRESHOLDS.items() for item in pair])
    return result, out


@pytest.fixture(scope="module")
def two_reports(indexed_service, gated_run) -> tuple[EvalReport, EvalReport]:
    """The seed gold set run twice on the same index with fresh scorers: by the library's run() on the
    session's service, and by `tutor eval run` (its own service) as written to its JSON report."""
    dataset = load_questions(SEED_GOLD)
    first = run(indexed_service, OfflineScorer(indexed_service.embedder), RunOptions(dataset=dataset))
    _, out = gated_run
    return first, load_report(next(out.glob("eval-seed-gold-*.json")))


def test_two_runs_on_the_same_index_give_identical_scores(two_reports) -> None:
    first, second = two_reports
    assert first.metrics == second.metrics
    # As JSON: the second was read back from its file, where tuples are lists.
    assert [q.model_dump(mode="json") for q in first.questions] == [q.model_dump(mode="json") for q in second.questions]
    assert first.index["fingerprint"] == second.index["fingerprint"]


def test_the_seed_gold_set_scores_every_metric(two_reports, indexed_service) -> None:
    report = two_reports[0]
    metrics = report.metrics
    assert {m: metrics[m].n for m in ("faithfulness", "mcq_accuracy", "unanswerable_refused")} == {
        "faithfulness": 17, "mcq_accuracy": 4, "unanswerable_refused": 5}
    assert metrics["faithfulness"].abstained == 5  # the five refusals, counted
    assert report.index["manifest"] and all(m["chunks"] > 0 for m in report.index["manifest"])
    refused = {q.id for q in report.questions if q.refused}
    assert refused == {q.id for q in report.questions if not q.answerable}
    # Every tuning knob is recorded, by stage.
    assert {"retrieval", "guard", "composer"} <= set(report.knobs)
    # The guard's refusal floor is the corpus's own, calibrated at ingest and stored with the index.
    floor = indexed_service.retriever.relevance_floor
    assert floor is not None and report.knobs["guard"]["min_top_relevance"] == pytest.approx(floor.question)
    assert "max_sentences" in report.knobs["composer"]


def test_reports_are_written_and_compare_shows_no_change(two_reports, tmp_path: Path) -> None:
    first = write_reports(two_reports[0], tmp_path / "a")
    second = write_reports(two_reports[1], tmp_path / "b")
    html = first["html"].read_text()
    assert "<script" not in html and "<svg" in html and "seed-qa-1" in html
    assert "| faithfulness |" in first["markdown"].read_text()
    result = CliRunner().invoke(main, ["eval", "compare", str(first["json"]), str(tmp_path / "b")])
    assert result.exit_code == 0, result.output
    assert "Settings: identical." in result.output and "Questions: no per-question changes." in result.output
    assert load_report(second["json"]).metrics == two_reports[0].metrics
    # The JSON reads back as it was written.
    assert load_report(first["json"]).model_dump(mode="json") == two_reports[0].model_dump(mode="json")


def test_compare_shows_metric_deltas_and_question_changes(two_reports, tmp_path: Path) -> None:
    changed = two_reports[0].model_copy(deep=True)
    changed.questions[0].faithfulness.score = 0.5
    changed.metrics["faithfulness"].value = 0.9
    changed.index["fingerprint"] = "another-index"
    changed.knobs["guard"]["min_top_relevance"] = 0.3
    a, b = write_reports(two_reports[0], tmp_path / "a")["json"], write_reports(changed, tmp_path / "b")["json"]
    result = CliRunner().invoke(main, ["eval", "compare", str(a), str(b)])
    assert "index fingerprint:" in result.output and "another-index" in result.output
    assert "seed-qa-1: faithfulness 1.000 -> 0.500" in result.output
    delta = round(0.9 - two_reports[0].metrics["faithfulness"].value, 3)
    assert f"{delta:+.3f}" in result.output
    before = two_reports[0].knobs["guard"]["min_top_relevance"]
    assert f"guard knobs.min_top_relevance: {before:.3f} -> 0.300" in result.output


def test_the_ci_gate_passes_on_the_seed_gold_set(gated_run) -> None:
    result, out = gated_run
    assert result.exit_code == 0, result.output
    assert "| faithfulness |" in result.output
    assert len(list(out.glob("eval-seed-gold-*.json"))) == 1


def test_a_metric_below_its_threshold_exits_non_zero(indexed_service, tmp_path: Path) -> None:
    result = _cli(indexed_service, "--dataset", str(SEED_GOLD), "--out", str(tmp_path), "--limit", "2",
                  "--min-answer-f1", "0.99", "--min-mcq-accuracy", "0.5")
    assert result.exit_code == 1
    assert "BELOW THRESHOLD answer_f1" in result.output
    assert "mcq_accuracy: nothing was scored" in result.output  # no multiple-choice item among the first two
    report = json.loads(next(tmp_path.glob("*.json")).read_text())
    assert len(report["threshold_failures"]) == 2


def test_a_bad_dataset_is_a_one_line_error(indexed_service, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "question": "Why?"}\n')
    result = _cli(indexed_service, "--dataset", str(bad))
    assert result.exit_code == 2
    assert "bad.jsonl:1: field 'answerable' is missing" in result.output


def test_the_html_report_escapes_what_documents_and_models_wrote(two_reports) -> None:
    from evals.report.render import render_html

    data = two_reports[0].model_dump(mode="json", exclude_unset=True)
    data["questions"][0]["answer"] = '<script>alert("x")</script>'
    data["questions"][0]["citations"] = [{"n": 1, "source": "<img src=x onerror=alert(1)>", "section": "s",
                                          "quote": "<b>q</b>"}]
    page = render_html(EvalReport.model_validate(data))
    assert "<script>" not in page and "<img" not in page and "<b>q" not in page
    assert "&lt;script&gt;" in page and "&lt;img src=x" in page


def test_a_corpus_given_to_eval_run_gets_its_own_incremental_index(tmp_path: Path) -> None:
    corpus = tmp_path / "course"
    corpus.mkdir()
    (corpus / "memory.md").write_text("# Memory\n\nIn 1885, German psychologist Hermann Ebbinghaus analyzed the "
                                      "process of memorization by learning lists of nonsense syllables.\n")
    dataset = tmp_path / "one.jsonl"
    dataset.write_text(json.dumps({"id": "e", "question": "Who analyzed the process of memorization in 1885?",
                                   "answerable": True, "gold_sources": ["memory.md"],
                                   "reference_answer": "Hermann Ebbinghaus"}) + "\n")
    data_dir = tmp_path / "data"
    args = ["--data-dir", str(data_dir), "eval", "run", "--quiet", "--dataset", str(dataset), "--corpus", str(corpus)]
    for out in ("first", "second"):
        result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / out), "--min-recall", "1"])
        assert result.exit_code == 0, result.output
    first, second = (load_report(tmp_path / name) for name in ("first", "second"))
    assert [p.name for p in (data_dir / "evals").iterdir()] == [Path(first.index["store"]).parent.name]
    assert first.index["manifest"] == [{"source": "memory.md", "chunks": 1}]
    assert first.index["fingerprint"] == second.index["fingerprint"]
    assert first.metrics == second.metrics and first.metrics["faithfulness"].value == 1.0
    assert not (data_dir / "chroma").exists()  # the course index was never touched


def test_histograms_count_scores_per_tenth_with_one_in_the_top_bin() -> None:
    from evals.report.render import histogram

    assert histogram([0.0, 0.05, 0.1, 0.55, 0.99, 1.0]) == [2, 1, 0, 0, 0, 1, 0, 0, 0, 2]
    assert histogram([]) == [0] * 10


def test_a_file_that_is_not_a_report_is_refused_by_name(tmp_path: Path) -> None:
    bad = tmp_path / "eval-x.json"
    bad.write_text(json.dumps({"kind": "something-else"}))
    with pytest.raises(ValueError, match="eval-x.json is not a tutor eval report"):
        load_report(bad)
