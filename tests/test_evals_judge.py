"""`tutor eval judge` and the LLM judge. The offline scorer must beat the word-overlap baseline on
every faithfulness dev file; the LLM judge is exercised against the fake chat-completions server
(real HTTP on loopback): claims, verdicts, the verbatim-quote check and the strict-JSON retries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from evals.metrics.faithfulness.llm import JudgeError, LLMJudge
from tests.support.fake_llm_server import FakeLLMServer, Reply, fake_llm  # noqa: F401
from tutor.cli import main
from tutor.settings import Settings

PASSAGE = "In 1885, German psychologist Hermann Ebbinghaus analyzed the process of memorization."


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_judge_prints_figures_per_dataset_beside_the_baseline(tmp_path: Path) -> None:
    rows = [
        {"id": "1", "dataset": "toy", "context": PASSAGE, "label": 1,
         "response": "Ebbinghaus analyzed the process of memorization in 1885."},
        {"id": "2", "dataset": "toy", "context": PASSAGE, "label": 0,
         "response": "I think Ebbinghaus analyzed memorization in 1895, do you like him?"},
        {"id": "3", "dataset": "toy", "context": PASSAGE, "label": 0,
         "response": "Ebbinghaus won a Nobel Prize for his work on dopamine."},
        {"id": "4", "dataset": "other", "context": PASSAGE, "label": 1,
         "response": "Hermann Ebbinghaus was a German psychologist."},
    ]
    result = CliRunner().invoke(main, ["eval", "judge", str(_write(tmp_path / "toy.jsonl", rows)), "--quiet"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert lines["toy"].split()[1:3] == ["3", "1"]
    assert lines["toy"].split()[3:5] == ["|", "1.000"]  # AUROC: the faithful response ranks first
    assert "one class" not in lines["other"]  # the table stays compact; JSON carries the note
    as_json = json.loads(CliRunner().invoke(main, ["eval", "judge", str(tmp_path / "toy.jsonl"), "--json",
                                                   "--quiet"]).output)
    other = as_json["datasets"]["other"]["scorer"]
    assert other["auroc"] == 0.5 and other["note"].startswith("one class only")
    assert set(as_json["datasets"]) == {"toy", "other", "all"}


def test_the_offline_scorer_beats_word_overlap_on_every_dev_file(shared_dir: Path) -> None:
    result = CliRunner().invoke(main, ["eval", "judge", str(shared_dir / "evalsets" / "faithfulness"), "--json",
                                       "--quiet"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)["datasets"]
    assert len(figures) == 5  # four files and "all"
    for name, pair in figures.items():
        assert pair["scorer"]["auroc"] > pair["baseline"]["auroc"], name
        assert pair["scorer"]["balanced_accuracy"] > 0.7, name


def test_judge_rejects_a_malformed_file(tmp_path: Path) -> None:
    bad = _write(tmp_path / "bad.jsonl", [{"id": "1", "context": "c", "response": "r", "label": 3}])
    result = CliRunner().invoke(main, ["eval", "judge", str(bad)])
    assert result.exit_code == 2 and "'label' must be 0 or 1" in result.output


@pytest.fixture
def judge(fake_llm: FakeLLMServer) -> LLMJudge:  # noqa: F811 - the fixture imported above
    return LLMJudge(Settings(openai_api_key="test", openai_base_url=fake_llm.url, llm_model="fake-model",
                             llm_timeout=2.0))


def _claims(*per_sentence: list[str]) -> str:
    return json.dumps({"sentences": [{"sentence": i, "claims": c} for i, c in enumerate(per_sentence, start=1)]})


def test_the_llm_judge_checks_every_claim_and_its_quote(judge: LLMJudge, fake_llm: FakeLLMServer) -> None:  # noqa: F811
    fake_llm.enqueue(
        _claims(["Ebbinghaus analyzed memorization.", "He did so in 1885."], ["Ebbinghaus won a Nobel Prize."]),
        json.dumps({"verdicts": [
            {"claim": 1, "verdict": "supported", "passage": 1, "quote": "Hermann Ebbinghaus analyzed the process"},
            {"claim": 2, "verdict": "supported", "passage": 1, "quote": "In 1885"},
            {"claim": 3, "verdict": "supported", "passage": 1, "quote": "Ebbinghaus was awarded the Nobel Prize"},
        ]}),
    )
    verdicts = judge.judge(["Ebbinghaus analyzed memorization in 1885.", "He won a Nobel Prize."], [PASSAGE])
    assert [(v.score, v.supported) for v in verdicts] == [(1.0, True), (0.0, False)]
    assert verdicts[1].claims[0].reason == "judge said supported, but its quote is not in passage 1"
    requests = fake_llm.chat_requests
    assert len(requests) == 2 and all(r.body["temperature"] == 0 for r in requests)
    assert "[1] In 1885, German psychologist" in requests[1].body["messages"][-1]["content"]
    judge.judge(["Ebbinghaus analyzed memorization in 1885.", "He won a Nobel Prize."], [PASSAGE])
    assert len(fake_llm.chat_requests) == 2  # the same question is not asked twice


def test_the_llm_judge_retries_a_reply_that_is_not_json(judge: LLMJudge, fake_llm: FakeLLMServer) -> None:  # noqa: F811
    fake_llm.enqueue("Sure! Here are the claims.", "```json\n" + _claims(["Ebbinghaus analyzed memorization."]) + "\n```",
                     json.dumps({"verdicts": [{"claim": 1, "verdict": "unsupported", "passage": None, "quote": None}]}))
    verdicts = judge.judge(["Ebbinghaus analyzed memorization."], [PASSAGE])
    assert verdicts[0].supported is False
    retry = fake_llm.chat_requests[1].body["messages"]
    assert "not valid" in retry[-1]["content"] and retry[-2]["content"] == "Sure! Here are the claims."


def test_the_llm_judge_gives_up_with_a_message(judge: LLMJudge, fake_llm: FakeLLMServer) -> None:  # noqa: F811
    fake_llm.enqueue("no", "still no", "never")
    with pytest.raises(JudgeError, match="failed 3 times; last: reply was not the JSON asked for"):
        judge.judge(["Ebbinghaus analyzed memorization."], [PASSAGE])


def test_the_llm_scorer_needs_an_endpoint(tmp_path: Path) -> None:
    rows = [{"id": "1", "dataset": "toy", "context": PASSAGE, "response": "Ebbinghaus.", "label": 1}]
    result = CliRunner().invoke(main, ["eval", "judge", "--scorer", "llm", str(_write(tmp_path / "t.jsonl", rows))])
    assert result.exit_code == 2 and "set OPENAI_API_KEY" in result.output


def test_eval_run_with_the_llm_answerer_and_judge(indexed_service, fake_llm: FakeLLMServer,  # noqa: F811
                                                  tmp_path: Path) -> None:
    dataset = _write(tmp_path / "one.jsonl", [{"id": "enc", "question": "What is encoding?", "answerable": True,
                                               "gold_sources": ["08-1-how-memory-functions.md"]}])
    fake_llm.enqueue("Encoding is the input of information into the memory system [1].",
                     _claims(["Encoding is the input of information into the memory system."]),
                     json.dumps({"verdicts": [{"claim": 1, "verdict": "unsupported", "passage": None, "quote": None,
                                               "reason": "not stated"}]}))
    settings = indexed_service.settings
    result = CliRunner(env={"OPENAI_API_KEY": "test", "OPENAI_BASE_URL": fake_llm.url, "TUTOR_LLM_MODEL": "fake-model"}
                       ).invoke(main, ["--data-dir", str(settings.data_dir), "--corpus-dir", str(settings.corpus_dir),
                                       "eval", "run", "--quiet", "--scorer", "llm", "--dataset", str(dataset),
                                       "--out", str(tmp_path / "reports")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(next((tmp_path / "reports").glob("*.json")).read_text())
    assert report["scorer"]["scorer"] == "llm" and report["answerer"]["mode"] == "fake-model"
    question = report["questions"][0]
    assert question["faithfulness"]["score"] == 0.0
    assert question["faithfulness"]["verdicts"][0]["claims"][0]["reason"] == "not stated"
    assert question["citation_quality"]["recall"] == 0.0
    assert len(fake_llm.chat_requests) == 3  # answer, claims, verdicts: the citation check reused the verdict
