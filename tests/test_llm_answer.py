"""End to end with an LLM: TutorService.ask over the real course corpus, answering through the
OpenAI-compatible path against the fake chat-completions server on 127.0.0.1. The answering chain
must keep only citations of retrieved passages, flag uncited sentences and mark cut answers."""

from __future__ import annotations

import re

import pytest

from tests.support.fake_llm_server import FakeLLMServer, Reply, fake_llm  # noqa: F401
from tutor.models import Answer, Turn

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

QUESTION = "What is encoding in memory?"
_BLOCK = re.compile(r'<passage n="(\d+)" source="([^"]*)" section="([^"]*)">\n(.*?)\n</passage>', re.S)


@pytest.fixture
def llm_service(indexed_service, fake_llm: FakeLLMServer):
    """The session's indexed corpus, answered by the fake LLM instead of the offline composer."""
    from tutor.service import TutorService

    settings = indexed_service.settings.model_copy(update=dict(
        openai_api_key="test", openai_base_url=fake_llm.url, llm_model="fake-model", llm_timeout=2.0,
        llm_max_retries=1))
    return TutorService(settings, embedder=indexed_service.embedder)


def fenced_passages(server: FakeLLMServer) -> list[tuple[str, str, str, str]]:
    streamed = [r for r in server.chat_requests if r.body.get("stream")]
    return _BLOCK.findall(streamed[-1].body["messages"][-1]["content"])


def assert_citations_are_retrieved(answer: Answer) -> None:
    retrieved = {p.chunk.chunk_id for p in answer.passages}
    assert answer.citations and all(c.chunk_id in retrieved for c in answer.citations)
    shown = {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)}
    assert shown == {c.n for c in answer.citations}


def test_an_llm_answer_cites_the_passages_it_was_given(llm_service, fake_llm: FakeLLMServer) -> None:
    fake_llm.enqueue(Reply("Encoding is the input of information into the memory system [1]. "
                           "It is the first of three stages [2]."))
    answer = llm_service.ask(QUESTION)

    assert answer.mode == "fake-model" and not answer.refused and not answer.incomplete
    assert_citations_are_retrieved(answer)
    assert answer.uncited_sentences == []
    sent = fenced_passages(fake_llm)
    assert [text for *_, text in sent] == [p.chunk.text for p in answer.passages]  # the model saw the retrieved set
    assert [source for _, source, *_ in sent] == [p.chunk.source for p in answer.passages]
    first_cited = next(c for c in answer.citations if c.n == 1)
    assert first_cited.chunk_id == answer.passages[0].chunk.chunk_id
    assert first_cited.source.startswith("psychology-2e/08-")


def test_an_invalid_citation_is_removed_and_uncited_sentences_flagged(llm_service, fake_llm: FakeLLMServer) -> None:
    fake_llm.enqueue(Reply("Encoding is the input of information into the memory system [1]. "
                           "Memory is also stored on the moon, according to nobody [9]. "
                           "Sleep helps people remember things they learned the day before."))
    answer = llm_service.ask(QUESTION)

    assert "[9]" not in answer.text
    assert_citations_are_retrieved(answer)
    assert "Memory is also stored on the moon, according to nobody." in answer.uncited_sentences
    assert "Sleep helps people remember things they learned the day before." in answer.uncited_sentences


def test_a_citation_that_does_not_support_its_sentence_is_flagged(llm_service, fake_llm: FakeLLMServer) -> None:
    from tutor.answer.citations import MIN_QUOTE_SUPPORT, support_share

    fake_llm.enqueue(Reply("Encoding is the input of information into the memory system [1]. "
                           "Volcanic eruptions on Jupiter's moon Io release sulphur plumes [2]."))
    answer = llm_service.ask(QUESTION)

    by_n = {c.n: c for c in answer.citations}
    text_of = {p.chunk.chunk_id: p.chunk.text for p in answer.passages}
    assert support_share("Volcanic eruptions on Jupiter's moon Io release sulphur plumes.",
                         text_of[by_n[2].chunk_id]) < MIN_QUOTE_SUPPORT
    assert answer.weak_citations == [2]  # [1] supports its sentence; [2] supports nothing it is cited for
    assert answer.unsupported_sentences == ["Volcanic eruptions on Jupiter's moon Io release sulphur plumes."]
    assert answer.uncited_sentences == []  # it cites something: weak, not uncited


def test_a_stream_cut_mid_answer_gives_an_incomplete_answer(llm_service, fake_llm: FakeLLMServer) -> None:
    fake_llm.enqueue(Reply("Encoding is the input of information [1]. Storage is the second stage [2].",
                           cut_after=7))
    answer = llm_service.ask(QUESTION)

    assert answer.incomplete is True and answer.error and "incomplete" in answer.error
    assert answer.text.startswith("Encoding is the input of information [1].")
    assert "Storage is the second" not in answer.text
    assert "Traceback" not in answer.error
    assert len(fake_llm.chat_requests) == 1  # never retried once text was shown


def test_an_unreachable_model_gives_a_message_not_a_traceback(llm_service, fake_llm: FakeLLMServer) -> None:
    fake_llm.enqueue(Reply.server_error(500), Reply.server_error(500))
    answer = llm_service.ask(QUESTION)

    assert answer.error and "HTTP 500" in answer.error and "Traceback" not in answer.error
    assert answer.incomplete is True and answer.citations == []


def test_tokens_stream_through_the_chain(llm_service, fake_llm: FakeLLMServer) -> None:
    fake_llm.enqueue(Reply("Encoding is the input of information into the memory system [1].", hold_after=3))
    stream = llm_service.ask_stream(QUESTION)
    pieces = iter(stream)

    first = next(pieces)
    assert fake_llm.holding.wait(10), "the first words should arrive while the model is still writing"
    fake_llm.release()
    text = first + "".join(pieces)

    assert text.startswith("Encoding is the input") and stream.answer is not None
    assert stream.answer.text == "Encoding is the input of information into the memory system [1]."


def test_a_follow_up_is_condensed_by_the_model(llm_service, fake_llm: FakeLLMServer) -> None:
    fake_llm.enqueue(Reply("What is storage, the second stage of memory?"),
                     Reply("Storage is the retention of encoded information over time [1]."))
    history = [Turn("user", "What are the three stages of memory?"),
               Turn("assistant", "Encoding, storage and retrieval [1].")]
    answer = llm_service.ask("and the second one?", history)

    assert answer.standalone_question == "What is storage, the second stage of memory?"
    condense, generate = fake_llm.chat_requests
    assert not condense.body.get("stream") and generate.body.get("stream")
    assert "Student's question: What is storage, the second stage of memory?" in generate.body["messages"][-1]["content"]
    assert [m["role"] for m in generate.body["messages"]] == ["system", "user", "assistant", "user"]
    assert_citations_are_retrieved(answer)


def test_a_failed_condense_falls_back_to_the_offline_rewrite(llm_service, fake_llm: FakeLLMServer) -> None:
    fake_llm.enqueue(Reply("", status=500),
                     Reply("Storage is the retention of encoded information over time [1]."))
    history = [Turn("user", "What are the three stages of memory?"),
               Turn("assistant", "The three stages are:\n1. encoding [1]\n2. storage [1]\n3. retrieval [1]")]
    answer = llm_service.ask("and what about the second one?", history)

    assert answer.standalone_question is not None and "storage" in answer.standalone_question.lower()
    assert_citations_are_retrieved(answer)


def test_the_models_not_in_materials_reply_is_a_refusal(llm_service, fake_llm: FakeLLMServer) -> None:
    from tutor.answer.prompts import NOT_IN_MATERIALS

    fake_llm.enqueue(Reply(NOT_IN_MATERIALS))
    answer = llm_service.ask("What does the course say about encoding and the weather?")

    assert answer.refused and answer.refusal_reason == "not_in_course"
    assert answer.citations == [] and answer.uncited_sentences == []
    # Sections are named only when they are near the question (GuardConfig.near_section_relevance).
    assert "not in the course materials" in answer.text


def test_closing_a_stream_early_stops_generation(llm_service, fake_llm: FakeLLMServer) -> None:
    fake_llm.enqueue(Reply("Encoding is the input of information into the memory system [1]. " * 5))
    stream = llm_service.ask_stream(QUESTION)
    first = next(iter(stream))
    stream.close()

    assert first and stream.answer is None
    assert list(stream) == []  # nothing more comes once closed
