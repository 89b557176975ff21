"""Insights over the record of questions: course gaps grouped with the real MiniLM encoder, citation
counts against the real course index, and `tutor insights` (and the recording by `tutor ask`/`chat`)
end to end with CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchmarks.gaps import HELD_OUT, TUNING, pairwise_scores
from tutor.cli import main
from tutor.errors import NotAuthorized
from tutor.insights import GAP_DISTANCE, course_insights, instructor_insights, instructor_records, topic_label
from tutor.library import instructor_login
from tutor.models import Answer, Citation
from tutor.records import Database, FeedbackStore, QuestionLog
from tutor.service import TutorService
from tutor.settings import Settings


def _refused(question: str) -> Answer:
    return Answer(question=question, text="That is not in the course materials.", citations=[], passages=[],
                  refused=True, refusal_reason="not_in_course")


@pytest.fixture
def service(indexed_service, embedder, tmp_path: Path, database_url: str | None) -> TutorService:
    """The session's indexed course, with a records database of this test's own (SQLite or PostgreSQL)."""
    settings = indexed_service.settings.model_copy(update={"data_dir": tmp_path / "data",
                                                           "database_url": database_url})
    service = TutorService(settings, embedder=embedder)
    service.__dict__["store"] = indexed_service.store  # read-only: share the index, not the records
    return service


def test_near_duplicate_refused_questions_group_together_and_unrelated_ones_apart(service: TutorService) -> None:
    database = Database.open(service.settings)
    log = QuestionLog(database)
    for question in ["What is the capital of France?", "Which city is the capital of France?",
                     "france capital city?", "How do I bake sourdough bread?", "What is a good recipe for sourdough?",
                     "Who won the football world cup in 2018?"]:
        log.add(_refused(question), session_id="s", channel="app", latency_s=0.1)
    # A thumbs-down answer is a gap too; a liked one is not.
    disliked = log.add(Answer("How long should sourdough bread rise?", "Something [1].", [], []), session_id="s",
                       channel="app", latency_s=0.1)
    FeedbackStore(database).record(Answer("How long should sourdough bread rise?", "Something [1].", [], []), "down",
                                   question_id=disliked)
    liked = log.add(Answer("What is encoding?", "Encoding is [1].", [], []), session_id="s", channel="app",
                    latency_s=0.1)
    FeedbackStore(database).record(Answer("What is encoding?", "Encoding is [1].", [], []), "up", question_id=liked)

    insights = course_insights(log, service)
    groups = [(g.label, g.count, sorted(g.examples)) for g in insights.gaps]
    assert [count for _, count, _ in groups] == [3, 3, 1]
    france, sourdough, football = insights.gaps
    assert "capital" in france.label and "france" in france.label
    assert all("France" in e or "france" in e for e in france.examples)
    assert "sourdough" in sourdough.label
    assert "How long should sourdough bread rise?" in sourdough.examples
    assert "world" in football.label or "football" in football.label
    assert all("encoding" not in e for g in insights.gaps for e in g.examples)
    assert france.nearest and {"source", "title", "section", "similarity"} <= set(france.nearest[0])
    assert (insights.questions, insights.refused, insights.feedback) == (8, 6, {"up": 1, "down": 1})
    database.close()


def test_the_threshold_groups_the_tuning_and_the_held_out_questions_exactly(embedder) -> None:
    assert pairwise_scores(embedder, TUNING, GAP_DISTANCE)[:2] == (1.0, 1.0)
    assert pairwise_scores(embedder, HELD_OUT, GAP_DISTANCE)[:2] == (1.0, 1.0)


def test_a_topic_is_labelled_by_the_words_most_of_its_questions_use() -> None:
    assert topic_label(["How do vaccines work?", "What do vaccines train?", "Are vaccines safe for children?"]) \
        .startswith("vaccines")
    assert topic_label(["What is the Krebs cycle?"]) == "krebs, cycle"


def test_most_and_least_cited_cover_every_indexed_document(service: TutorService) -> None:
    answer = service.ask("What is encoding?")
    database = Database.open(service.settings)
    log = QuestionLog(database)
    log.add(answer, session_id="s", channel="ask", latency_s=0.1)
    insights = course_insights(log, service)
    cited = {c.source for c in answer.citations}
    assert {c.source for c in insights.most_cited} == cited
    indexed = {d.source for d in service.documents()}
    assert {c.source for c in insights.least_cited} == indexed
    assert insights.least_cited[0].count == 0 and insights.least_cited[-1].source in cited
    assert insights.most_cited_sections[0].count == 1
    assert any(c.count == 0 for c in insights.least_cited_sections)
    database.close()


def test_insights_and_the_record_need_an_instructor_session(service: TutorService) -> None:
    database = Database.open(service.settings)
    log = QuestionLog(database)
    with pytest.raises(NotAuthorized):
        instructor_insights(service, log, None)
    settings = service.settings.model_copy(update={"instructor_password": "pw"})
    locked = TutorService(settings, embedder=service.embedder)
    with pytest.raises(NotAuthorized):
        instructor_records(locked, log, None)
    session = instructor_login(settings, "pw")
    assert instructor_records(locked, log, session) == []
    database.close()


# --- the CLI ---------------------------------------------------------------------------------------------------


def _run(service: TutorService, *args: str, input: str | None = None, env: dict[str, str] | None = None):
    location = ["--data-dir", str(service.settings.data_dir), "--corpus-dir", str(service.settings.corpus_dir)]
    return CliRunner().invoke(main, [*location, *args], input=input, obj={"service": service}, env=env)


def _db_env(service: TutorService) -> dict[str, str]:
    return {"TUTOR_DATABASE_URL": service.settings.database_url or ""}


def test_ask_and_chat_are_recorded_and_insights_reports_them(service: TutorService) -> None:
    env = _db_env(service)
    assert _run(service, "ask", "What is the capital of France?", env=env).exit_code == 0
    assert _run(service, "ask", "--json", "What is encoding?", env=env).exit_code == 0
    chat = _run(service, "chat", input="What is spontaneous recovery?\nwhy does it happen?\n", env=env)
    assert chat.exit_code == 0, chat.output

    log = QuestionLog(Database.open(Settings(data_dir=service.settings.data_dir,
                                             database_url=service.settings.database_url)))
    records = log.records()
    assert [(r.channel, r.question) for r in reversed(records)] == [
        ("ask", "What is the capital of France?"), ("ask", "What is encoding?"),
        ("chat", "What is spontaneous recovery?"), ("chat", "why does it happen?")]
    france, encoding, first, follow_up = reversed(records)
    assert france.refused and france.refusal_reason == "not_in_course" and france.citations == []
    assert encoding.citations and not encoding.refused and encoding.answerer == "offline"
    assert first.session_id == follow_up.session_id != france.session_id != encoding.session_id
    assert "spontaneous recovery" in follow_up.standalone_question.lower()
    assert all(r.latency_ms > 0 for r in records)

    result = _run(service, "insights", "--json", env=env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {"questions", "refused", "gaps", "most_cited", "feedback"} <= set(data)
    assert (data["questions"], data["refused"], data["feedback"]) == (4, 1, {"up": 0, "down": 0})
    assert data["gaps"][0]["count"] == 1 and data["gaps"][0]["examples"] == ["What is the capital of France?"]
    assert {"label", "count", "examples", "nearest"} <= set(data["gaps"][0])
    assert all(set(c) == {"source", "count"} for c in data["most_cited"]) and data["most_cited"][0]["count"] >= 1

    later = _run(service, "insights", "--json", "--since", "2999-01-01", env=env)
    assert json.loads(later.output)["questions"] == 0
    text = _run(service, "insights", env=env)
    assert "questions 4 · refused 1 (25%)" in text.output and "capital" in text.output
    bad = _run(service, "insights", "--since", "last week", env=env)
    assert bad.exit_code == 2 and "--since" in bad.output


def test_csv_export_from_the_cli(service: TutorService, tmp_path: Path) -> None:
    env = _db_env(service)
    _run(service, "ask", "What is the capital of France?", env=env)
    out = tmp_path / "record.csv"
    assert _run(service, "insights", "--csv", str(out), env=env).exit_code == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("id,asked_at,session_id") and "What is the capital of France?" in lines[1]


def test_recording_off_records_nothing_from_the_cli(service: TutorService) -> None:
    env = {**_db_env(service), "TUTOR_RECORD_QUESTIONS": "false"}
    assert _run(service, "ask", "What is encoding?", env=env).exit_code == 0
    assert _run(service, "chat", input="What is encoding?\n", env=env).exit_code == 0
    log = QuestionLog(Database.open(Settings(data_dir=service.settings.data_dir,
                                             database_url=service.settings.database_url)))
    assert log.totals()["questions"] == 0
