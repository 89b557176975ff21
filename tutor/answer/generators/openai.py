"""Generator "openai": any OpenAI-compatible chat-completions endpoint, through langchain-openai.

Any chat-completions endpoint works (OpenAI, vLLM, Ollama, llama.cpp server): settings give the key
(OPENAI_API_KEY), the endpoint (OPENAI_BASE_URL), the model (TUTOR_LLM_MODEL), the per-request
timeout (TUTOR_LLM_TIMEOUT) and the retry budget (TUTOR_LLM_MAX_RETRIES).

Retries happen only until the first piece of text arrives: retrying later would send the reader the
same opening twice. The client's own retries are off (max_retries=0) because it waits up to a minute
on Retry-After and its total wait is not bounded; tenacity does it here with a cap on both. The
clock (`sleep`, `now`) is injected so the retry policy is tested without waiting.

Seam for answer deadlines: `_start` (before the first token) and the loop in `stream` (between
tokens) are the two places a per-answer deadline would be checked.
"""

from __future__ import annotations

import email.utils
import itertools
import logging
import math
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import cast

import openai
from langchain_core.messages import BaseMessage, BaseMessageChunk
from langchain_openai import ChatOpenAI
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_random_exponential

from tutor.answer.prompts import answer_messages, declined
from tutor.errors import GenerationError, GenerationInterrupted
from tutor.models import Passage, Turn
from tutor.settings import Settings

logger = logging.getLogger(__name__)

# Longest Retry-After the tutor honours; a server asking for more gets a message now, not a stall.
MAX_RETRY_AFTER = 20.0
# Cap on the time slept between attempts of one answer (request time comes on top, bounded by the timeout).
MAX_TOTAL_WAIT = 30.0
# A runaway model must not stream forever; a tutor answer is a few sentences.
MAX_ANSWER_TOKENS = 1024
_LOST = "The connection to the language model was lost mid-answer; the answer below is incomplete."

_Chunks = Generator[BaseMessageChunk, None, None]


def chat_model(settings: Settings, *, streaming: bool, max_tokens: int, timeout: float | None = None) -> ChatOpenAI:
    """A ChatOpenAI client for the configured endpoint, deterministic and without its own retries."""
    return ChatOpenAI(
        model=settings.llm_model,
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key or "not-needed",  # local servers (Ollama, llama.cpp) ignore it
        streaming=streaming,
        timeout=timeout or settings.llm_timeout,
        max_retries=0,
        temperature=0,
        max_tokens=max_tokens,
        use_responses_api=False,  # compatible servers speak chat completions only
        stream_usage=False,  # many compatible servers reject stream_options
    )


class OpenAICompatibleGenerator:
    """Streams an answer from a chat-completions endpoint, citing the numbered passages as [n]."""

    uses_llm = True

    def __init__(self, settings: Settings, *, max_retry_after: float = MAX_RETRY_AFTER,
                 max_total_wait: float = MAX_TOTAL_WAIT, sleep: Callable[[float], None] = time.sleep,
                 now: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.name = settings.llm_model
        self.max_retry_after = max_retry_after
        self.max_total_wait = max_total_wait
        self._sleep = sleep
        self._now = now  # wall-clock time, for a Retry-After given as an HTTP date
        self._model = chat_model(settings, streaming=True, max_tokens=MAX_ANSWER_TOKENS)
        self._backoff = wait_random_exponential(multiplier=0.5, max=8)

    def stream(self, question: str, passages: Sequence[Passage], history: Sequence[Turn] = (), *,
               mode: str = "explain", reply: str | None = None) -> Iterator[str]:
        messages = answer_messages(question, passages, history, mode=mode, reply=reply)
        stream, head = self._start(messages)
        finish_reason: str | None = None
        try:
            for chunk in itertools.chain(head, stream):
                if text := _text(chunk):
                    yield text
                finish_reason = chunk.response_metadata.get("finish_reason") or finish_reason
        except Exception as exc:  # whatever broke the stream, the reader keeps the partial answer
            raise GenerationInterrupted(self._interrupted_message(exc)) from exc
        finally:
            stream.close()
        if finish_reason is None:  # the body ended without a final chunk: the server went away
            raise GenerationInterrupted(_LOST)
        if finish_reason == "length":
            raise GenerationInterrupted("The answer reached the language model's length limit and was cut short; "
                                        "the answer below is incomplete.")
        if finish_reason == "content_filter":
            raise GenerationInterrupted("The language model's content filter stopped the answer; "
                                        "the answer below is incomplete.")

    # --- before the first token: retried ---------------------------------------------------------

    def _start(self, messages: list[BaseMessage]) -> tuple[_Chunks, list[BaseMessageChunk]]:
        """Open the stream and read up to its first text, retrying transient failures."""
        retrying = Retrying(retry=retry_if_exception(self._transient), wait=self._wait, stop=self._stop,
                            before_sleep=_log_retry, sleep=self._sleep, reraise=True)
        try:
            for attempt in retrying:
                with attempt:
                    return self._open(messages)
        except Exception as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            if self._transient(exc) or _status(exc) == 429:  # 429 beyond the cap: busy, not misconfigured
                raise GenerationInterrupted(self._exhausted_message(exc, attempts)) from exc
            raise GenerationError(self._refused_message(exc)) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _open(self, messages: list[BaseMessage]) -> tuple[_Chunks, list[BaseMessageChunk]]:
        # BaseChatModel.stream is a generator: close() ends the HTTP response if we stop early.
        stream = cast(_Chunks, self._model.stream(messages))
        head: list[BaseMessageChunk] = []
        try:
            for chunk in stream:
                head.append(chunk)
                if _text(chunk) or chunk.response_metadata.get("finish_reason"):
                    break
        except BaseException:
            stream.close()
            raise
        return stream, head

    def declined(self, text: str) -> bool:
        return declined(text)

    def _transient(self, exc: BaseException) -> bool:
        if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
            return True
        status = _status(exc)
        if status == 429:
            hinted = _retry_after(exc, self._now)
            return hinted is None or hinted <= self.max_retry_after
        return status is not None and (status in (408, 409) or status >= 500)

    def _wait(self, state: RetryCallState) -> float:
        """The server's Retry-After when it sent one (already checked against the cap), else backoff."""
        exc = state.outcome.exception() if state.outcome else None
        hinted = _retry_after(exc, self._now) if exc else None
        return max(hinted, 0.0) if hinted is not None else self._backoff(state)

    def _stop(self, state: RetryCallState) -> bool:
        out_of_attempts = state.attempt_number > self.settings.llm_max_retries
        return out_of_attempts or state.idle_for + state.upcoming_sleep > self.max_total_wait

    # --- messages for the reader --------------------------------------------------------------------

    def _where(self) -> str:
        return self.settings.openai_base_url or "the OpenAI API"

    def _exhausted_message(self, exc: BaseException, attempts: int) -> str:
        tried = f"tried {attempts} time{'s' if attempts != 1 else ''}"
        if isinstance(exc, openai.APITimeoutError):
            return (f"The language model did not respond within {self.settings.llm_timeout:g} s ({tried}); "
                    "no answer could be written. Try again, or raise TUTOR_LLM_TIMEOUT.")
        if isinstance(exc, openai.APIConnectionError):
            return (f"Could not reach the language model at {self._where()} ({tried}); check OPENAI_BASE_URL "
                    "and that the server is running.")
        status = _status(exc)
        if status == 429:
            hinted = _retry_after(exc, self._now)
            if hinted is not None and hinted > self.max_retry_after:
                return (f"The language model service is busy and asked the tutor to wait {hinted:g} s, longer "
                        f"than it waits ({self.max_retry_after:g} s); please try again later.")
            return f"The language model service is busy (HTTP 429, {tried}); please try again in a minute."
        return f"The language model service failed (HTTP {status}, {tried}); please try again later."

    def _refused_message(self, exc: BaseException) -> str:
        status = _status(exc)
        if status in (401, 403):
            return f"The language model endpoint rejected the API key (HTTP {status}); check OPENAI_API_KEY."
        if status == 404:
            return (f"The model '{self.settings.llm_model}' was not found at {self._where()} (HTTP 404); "
                    "check TUTOR_LLM_MODEL and OPENAI_BASE_URL.")
        if status is not None:
            detail = getattr(exc, "message", "") or ""
            return f"The language model endpoint refused the request (HTTP {status}): {detail[:200]}"
        return f"The language model request failed ({type(exc).__name__}); no answer could be written."

    def _interrupted_message(self, exc: BaseException) -> str:
        if isinstance(exc, openai.APITimeoutError):
            return (f"The language model stopped responding after {self.settings.llm_timeout:g} s; "
                    "the answer below is incomplete.")
        return _LOST


def _text(chunk: BaseMessageChunk) -> str:
    return chunk.content if isinstance(chunk.content, str) else ""


def _status(exc: BaseException) -> int | None:
    return exc.status_code if isinstance(exc, openai.APIStatusError) else None


def _retry_after(exc: BaseException, now: Callable[[], float] = time.time) -> float | None:
    """Seconds the server asked us to wait (Retry-After-Ms, Retry-After seconds or HTTP date)."""
    if not isinstance(exc, openai.APIStatusError):
        return None
    headers = exc.response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            parsed = email.utils.parsedate_tz(value)
            seconds = float(email.utils.mktime_tz(parsed) - now()) if parsed else math.nan
        return seconds if math.isfinite(seconds) else None
    return None


def _log_retry(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome else None
    reason = f"HTTP {_status(exc)}" if exc is not None and _status(exc) else type(exc).__name__
    logger.info("language model request failed (%s); retrying in %.1f s", reason, state.upcoming_sleep)
