"""Bounded LLM answers against the real chat-completions server on 127.0.0.1: a total deadline per
answer whatever the server sends (keep-alive comments, trickling tokens), a maximum length (also
sent as max_tokens), an empty completion is an error, and `tutor ask` exits non-zero on failure."""

from __future__ import annotations

import itertools

import pytest
from click.testing import CliRunner

from tests.support.fake_llm_server import FakeLLMServer, Reply, fake_llm  # noqa: F401
from tests.test_llm_generator import PASSAGES, Clock, assert_reader_message, collect, llm_settings
from tutor.answer.generators.openai import CHARS_PER_TOKEN, OpenAICompatibleGenerator
from tutor.cli import main
from tutor.errors import GenerationError, GenerationInterrupted

pytestmark = pytest.mark.timeout(60)


class SteppingClock:
    """A monotonic clock that moves `step` seconds each time it is read: deadlines pass after a
    known number of reads, without the test waiting for them."""

    def __init__(self, step: float) -> None:
        self._ticks = itertools.count()
        self.step = step

    def __call__(self) -> float:
        return next(self._ticks) * self.step


def test_keep_alive_comments_do_not_hold_an_answer_past_the_deadline(fake_llm: FakeLLMServer) -> None:
    # Every comment line resets the per-read timeout, so only a deadline counted from the request ends this.
    fake_llm.enqueue(Reply("Encoding is the first stage [1].", keepalive=40))
    generator = OpenAICompatibleGenerator(llm_settings(fake_llm, llm_timeout=5.0, llm_answer_deadline=1.0))
    pieces, error = collect(generator)
    assert pieces == []
    assert isinstance(error, GenerationInterrupted)
    assert_reader_message(error, "1 s", "TUTOR_LLM_ANSWER_DEADLINE")


def test_trickling_tokens_stop_at_the_deadline_and_keep_the_partial_answer(fake_llm: FakeLLMServer) -> None:
    words = " ".join(f"word{i}" for i in range(200)) + " [1]."
    fake_llm.enqueue(Reply(words, chunk_delay=0.005))
    clock = SteppingClock(step=1.0)  # one second per read of the clock
    generator = OpenAICompatibleGenerator(llm_settings(fake_llm, llm_answer_deadline=20.0), clock=clock)
    pieces, error = collect(generator)
    assert isinstance(error, GenerationInterrupted)
    assert_reader_message(error, "20 s", "incomplete")
    assert 0 < len(pieces) < 40  # what had arrived is kept; the rest of the 200 words is not waited for
    assert "".join(pieces).startswith("word0 word1")


def test_a_deadline_that_is_not_reached_changes_nothing(fake_llm: FakeLLMServer) -> None:
    fake_llm.enqueue(Reply("Encoding is the first stage of memory [1].", chunk_delay=0.01))
    generator = OpenAICompatibleGenerator(llm_settings(fake_llm, llm_answer_deadline=60.0))
    pieces, error = collect(generator)
    assert error is None and "".join(pieces) == "Encoding is the first stage of memory [1]."


def test_a_huge_reply_is_cut_at_the_maximum_length(fake_llm: FakeLLMServer) -> None:
    # 2 MB from a server that ignores max_tokens, in 1 kB deltas.
    fake_llm.enqueue(Reply(pieces=["x" * 1023 + " "] * 2048))
    generator = OpenAICompatibleGenerator(llm_settings(fake_llm, llm_max_answer_tokens=200))
    pieces, error = collect(generator)
    assert isinstance(error, GenerationInterrupted)
    assert_reader_message(error, "maximum answer length", "incomplete")
    assert len("".join(pieces)) <= 200 * CHARS_PER_TOKEN
    assert fake_llm.chat_requests[-1].body["max_tokens"] == 200


@pytest.mark.parametrize("reply", [Reply(""), Reply(pieces=["  ", "\n", " "])], ids=["empty", "whitespace"])
def test_an_empty_completion_is_an_error_with_a_message(fake_llm: FakeLLMServer, reply: Reply) -> None:
    fake_llm.enqueue(reply)
    generator = OpenAICompatibleGenerator(llm_settings(fake_llm))
    pieces, error = collect(generator)
    assert "".join(pieces).strip() == ""
    assert isinstance(error, GenerationError) and not isinstance(error, GenerationInterrupted)
    assert_reader_message(error, "empty answer")


def test_the_deadline_covers_retries_before_the_first_token(fake_llm: FakeLLMServer) -> None:
    # Each 429 asks for 4 s; a 10 s deadline leaves room for two waits, not the five the retry budget allows.
    fake_llm.enqueue(*[Reply.rate_limited(retry_after=4)] * 6)
    clock = Clock()
    generator = OpenAICompatibleGenerator(llm_settings(fake_llm, llm_max_retries=5, llm_answer_deadline=10.0),
                                          sleep=clock.sleep, now=clock.now, clock=clock.now)
    pieces, error = collect(generator, passages=PASSAGES)
    assert pieces == [] and error is not None
    assert clock.sleeps == [4.0, 4.0]
    assert len(fake_llm.chat_requests) == 3


@pytest.fixture
def llm_service(indexed_service, fake_llm: FakeLLMServer):
    from tutor.service import TutorService

    settings = indexed_service.settings.model_copy(update=dict(
        openai_api_key="test", openai_base_url=fake_llm.url, llm_model="fake-model", llm_timeout=2.0,
        llm_max_retries=0))
    return TutorService(settings, embedder=indexed_service.embedder)


def _ask(service, *args: str):
    location = ["--data-dir", str(service.settings.data_dir), "--corpus-dir", str(service.settings.corpus_dir)]
    return CliRunner().invoke(main, [*location, "ask", *args, "What is encoding in memory?"],
                              obj={"service": service})


@pytest.mark.slow
@pytest.mark.parametrize("reply", [Reply(""), Reply.server_error(500), Reply("Encoding is first [1].", cut_after=2)],
                         ids=["empty", "server-error", "cut-stream"])
def test_ask_exits_non_zero_when_the_llm_fails(llm_service, fake_llm: FakeLLMServer, reply: Reply) -> None:
    for args in ((), ("--json",)):
        fake_llm.enqueue(reply)
        result = _ask(llm_service, *args)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output


@pytest.mark.slow
def test_an_empty_completion_reaches_the_student_as_a_message(llm_service, fake_llm: FakeLLMServer) -> None:
    fake_llm.enqueue(Reply("   "))
    answer = llm_service.ask("What is encoding in memory?")
    assert answer.error and "empty answer" in answer.error
    assert answer.text.strip() and "empty answer" in answer.text  # not a blank bubble


@pytest.mark.slow
def test_ask_exits_zero_when_the_llm_answers(llm_service, fake_llm: FakeLLMServer) -> None:
    fake_llm.enqueue(Reply("Encoding is the first stage of memory [1]."))
    result = _ask(llm_service)
    assert result.exit_code == 0, result.output
