"""`tutor ask` and `tutor chat` end to end with click's CliRunner over the real course index."""

from __future__ import annotations

import json

from click.testing import CliRunner

from tutor.cli import main


def location_args(service) -> list[str]:
    return ["--data-dir", str(service.settings.data_dir), "--corpus-dir", str(service.settings.corpus_dir)]


def run(service, *args: str, input: str | None = None, reuse_service: bool = True):
    """Invoke the CLI on the fixture's index. reuse_service hands the already loaded service to the
    command (saves loading the model again); the settings come from the same flags either way."""
    obj = {"service": service} if reuse_service else None
    return CliRunner().invoke(main, [*location_args(service), *args], input=input, obj=obj)


def test_ask_json_holds_answer_citations_passages_and_refused(indexed_service):
    result = run(indexed_service, "ask", "How does music training affect learning and memory?", "--json",
                 reuse_service=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    # No filler lead-in: the first sentence is already the answer, cited.
    assert data["refused"] is False and not data["answer"].startswith("Here is what")
    assert "music" in data["answer"].split("[")[0].lower()
    assert data["citations"], data
    for citation in data["citations"]:
        assert set(citation) >= {"n", "source", "title", "section", "quote", "chunk_id"}
        assert f"[{citation['n']}]" in data["answer"]
    assert data["citations"][0]["source"] == "001_e2ce60a967ffc981.txt"
    passage_ids = {p["chunk_id"] for p in data["passages"]}
    assert {c["chunk_id"] for c in data["citations"]} <= passage_ids
    for passage in data["passages"]:
        assert {"source", "title", "section", "text", "score", "dense_score", "lexical_score"} <= set(passage)
        assert isinstance(passage["score"], float)


def test_ask_json_for_an_unanswerable_question(indexed_service):
    result = run(indexed_service, "ask", "What is the capital of France?", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["refused"] is True and data["citations"] == []
    assert data["refusal_reason"] == "not_in_course" and "not in the course materials" in data["answer"]


def test_ask_prints_the_answer_and_its_sources(indexed_service):
    result = run(indexed_service, "ask", "What are the main differences between learning and memory?")
    assert result.exit_code == 0, result.output
    answer, sources = result.output.split("\nSources:\n")
    assert "[1]" in answer
    assert "[1] 000_224ce50211750157.txt — What are the main differences between learning and memory?" in sources


def test_chat_keeps_the_conversation_and_starts_over_on_new(indexed_service):
    script = "What is spontaneous recovery?\nwhy does it happen?\n/new\nwhy does it happen?\n/quit\nnever asked\n"
    result = run(indexed_service, "chat", input=script)
    assert result.exit_code == 0, result.output
    replies = [part for part in result.output.split("tutor> ")[1:]]
    assert len(replies) == 3
    assert "06-2-classical-conditioning.md" in replies[1]  # the follow-up was understood
    assert "not in the course materials" in replies[2]  # after /new, "it" refers to nothing
    assert "never asked" not in result.output


def test_chat_ends_at_end_of_input(indexed_service):
    result = run(indexed_service, "chat", input="What is the hippocampus?\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("tutor> ") == 1 and "Sources:" in result.output


def test_ask_answers_through_the_answerer_the_settings_select(indexed_service):
    """TUTOR_ANSWERER=scripted picks the scripted generator through the same registry as the
    real ones; the CLI renders what it wrote, with its citation checked against the passages."""
    from tutor.answer.generators.scripted import ScriptedGenerator
    from tutor.service import TutorService

    service = TutorService(indexed_service.settings.model_copy(update=dict(answerer="scripted")),
                           embedder=indexed_service.embedder)
    assert isinstance(service.generator, ScriptedGenerator)
    service.generator.enqueue(["Encoding is the first stage of memory [2]", " and [7] is not a passage."])
    result = run(service, "ask", "--json", "What is encoding?")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["mode"] == "scripted"
    assert data["answer"] == "Encoding is the first stage of memory [1] and is not a passage."
    assert [c["chunk_id"] for c in data["citations"]] == [service.generator.seen_passages[1].chunk.chunk_id]
    status = run(service, "status", "--json")
    assert json.loads(status.output)["answerer"] == "scripted"


def test_ask_hint_mode_points_to_the_section_without_the_answer(indexed_service):
    result = run(indexed_service, "ask", "--mode", "hint", "--json", "What is latent learning?")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["answer"].startswith("Hint: look at") and data["citations"]
    assert "reason to demonstrate it" not in data["answer"]  # the defining clause is withheld


def test_quiz_command_json_shape(indexed_service):
    result = run(indexed_service, "quiz", "chapter 8", "--count", "3", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["topic"] == "chapter 8" and len(data["items"]) == 3
    for item in data["items"]:
        assert set(item) == {"question", "choices", "answer", "citations"}
        assert item["citations"] and set(item["citations"][0]) == {"source", "section", "quote"}
        if item["choices"] is not None:
            assert item["answer"] in "ABCD"[:len(item["choices"])]


def test_quiz_on_a_topic_the_course_lacks_says_so(indexed_service):
    result = run(indexed_service, "quiz", "habituation")
    assert result.exit_code != 0 and "do not cover" in result.output


def test_chat_hint_then_reveal_and_a_quiz_with_a_score(indexed_service):
    lines = "What is shaping?\nshow me\nquiz me on chapter 6\nA\nB\n/quit\n"
    result = run(indexed_service, "chat", "--mode", "hint", input=lines)
    assert result.exit_code == 0, result.output
    assert "Hint: look at" in result.output and "Here is the answer from the course." in result.output
    assert "Question 1 of 4" in result.output and ("Right." in result.output or "Not quite" in result.output)
