"""Generator "openai": any OpenAI-compatible chat-completions endpoint, through langchain-openai.

Any chat-completions endpoint works (OpenAI, vLLM, Ollama, llama.cpp server): settings give the key
(OPENAI_API_KEY), the endpoint (OPENAI_BASE_URL), the model (TUTOR_LLM_MODEL), the per-request
timeout (TUTOR_LLM_TIMEOUT) and the retry budget (TUTOR_LLM_MAX_RETRIES).

Retries happen only until the first piece of text arrives: retrying later would send the reader the
same opening twice. The client's own retries are off (max_retries=0) because it waits up to a minute
on Retry-After and its total wait is not bounded; tenacity does it here with a cap on both. The
clock (`sleep`, `now`, `clock`) is injected so the retry policy and the deadline are tested without waiting.

Every answer is bounded whatever the server does: a deadline counted from the request
(TUTOR_LLM_ANSWER_DEADLINE) covers retries, keep-alive comments and tokens trickling in (a per-read
timeout never fires while bytes keep coming), and the text is cut at a maximum length
(TUTOR_LLM_MAX_ANSWER_TOKENS, also sent to the server, which may ignore it). An answer that is
empty or only whitespace is an error with a message, never a blank bubble.
"""

from __future__ import annotations

import contextvars
import email.utils
import itertools
import logging
import math
import queue
import threading
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import cast

import httpx
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
# The character cap that goes with TUTOR_LLM_MAX_ANSWER_TOKENS: ~4 characters a token in English,
# room for other scripts; it holds when a server ignores the token limit.
CHARS_PER_TOKEN = 8
_LOST = "The connection to the language model was lost mid-answer; the answer below is incomplete."

_Chunks = Generator[BaseMessageChunk, None, None]


def chat_model(settings: Settings, *, streaming: bool, max_tokens: int, timeout: float | None = None,
               http_client: httpx.Client | None = None) -> ChatOpenAI:
    """A ChatOpenAI client for the configured endpoint, deterministic and without its own retries.
    The length cap goes as `max_tokens` to compatible servers (vLLM, Ollama, llama.cpp read that
    name) and as its successor `max_completion_tokens` to OpenAI; never both, which OpenAI rejects."""
    compatible = settings.openai_base_url is not None
    return ChatOpenAI(
        http_client=http_client,
        extra_body={"max_tokens": max_tokens} if compatible else None,
        model=settings.llm_model,
        base_url=settings.openai_base_url,
        api_key=settings.openai_api_key or "not-needed",  # local servers (Ollama, llama.cpp) ignore it
        streaming=streaming,
        timeout=timeout or settings.llm_timeout,
        max_retries=0,
        temperature=0,
        max_tokens=None if compatible else max_tokens,
        use_responses_api=False,  # compatible servers speak chat completions only
        stream_usage=False,  # many compatible servers reject stream_options
    )


class _Expiring(httpx.SyncByteStream):
    """A response body that stops at the answer's deadline, checked whenever bytes arrive: SSE
    comments and keep-alives reach here although the client never shows them as chunks."""

    def __init__(self, inner: httpx.SyncByteStream, expired: Callable[[], bool]) -> None:
        self._inner = inner
        self._expired = expired

    def __iter__(self) -> Iterator[bytes]:
        for part in self._inner:
            if self._expired():
                raise httpx.ReadTimeout("the answer's deadline passed")
            yield part

    def close(self) -> None:
        self._inner.close()


class _ExpiringTransport(httpx.BaseTransport):
    """httpx's own transport, with every response body cut at the answer's deadline."""

    def __init__(self, expired: Callable[[], bool]) -> None:
        self._inner = httpx.HTTPTransport()
        self._expired = expired

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._expired():
            raise httpx.ConnectTimeout("the answer's deadline passed", request=request)
        response = self._inner.handle_request(request)
        return httpx.Response(response.status_code, headers=response.headers,
                              stream=_Expiring(cast(httpx.SyncByteStream, response.stream), self._expired),
                              extensions=response.extensions)

    def close(self) -> None:
        self._inner.close()


class _Timeline:
    """One answer's deadline on the generator's clock; `stop()` ends it early (the reader left)."""

    def __init__(self, clock: Callable[[], float], seconds: float) -> None:
        self.clock = clock
        self.ends_at = clock() + seconds
        self._stopped = threading.Event()

    def remaining(self) -> float:
        return self.ends_at - self.clock()

    def expired(self) -> bool:
        return self._stopped.is_set() or self.remaining() <= 0

    def stop(self) -> None:
        self._stopped.set()


class OpenAICompatibleGenerator:
    """Streams an answer from a chat-completions endpoint, citing the numbered passages as [n]."""

    uses_llm = True

    def __init__(self, settings: Settings, *, max_retry_after: float = MAX_RETRY_AFTER,
                 max_total_wait: float = MAX_TOTAL_WAIT, sleep: Callable[[float], None] = time.sleep,
                 now: Callable[[], float] = time.time, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.name = settings.llm_model
        self.max_retry_after = max_retry_after
        self.max_total_wait = max_total_wait
        self._sleep = sleep
        self._now = now  # wall-clock time, for a Retry-After given as an HTTP date
        self._clock = clock  # monotonic time, for the answer's deadline
        self.max_chars = settings.llm_max_answer_tokens * CHARS_PER_TOKEN
        self._backoff = wait_random_exponential(multiplier=0.5, max=8)

    def stream(self, question: str, passages: Sequence[Passage], history: Sequence[Turn] = (), *,
               mode: str = "explain", reply: str | None = None) -> Iterator[str]:
        """The model's text as it arrives. The request runs in a worker thread so that the deadline
        holds even while the server sends nothing the client would show (comments, a stall)."""
        messages = answer_messages(question, passages, history, mode=mode, reply=reply)
        timeline = _Timeline(self._clock, self.settings.llm_answer_deadline)
        feed: queue.Queue[tuple[str, object]] = queue.Queue()
        context = contextvars.copy_context()  # callbacks and tracing follow the request into the thread
        threading.Thread(target=context.run, args=(self._produce, messages, timeline, feed),
                         name="llm-answer", daemon=True).start()
        sent, visible = 0, False
        try:
            while True:
                try:
                    kind, value = feed.get(timeout=max(timeline.remaining(), 0.0))
                except queue.Empty:
                    raise GenerationInterrupted(self._deadline_message()) from None
                if kind == "error":
                    raise cast(Exception, value)
                if kind == "end":
                    break
                text = cast(str, value)
                room = self.max_chars - sent
                if len(text) > room:
                    if room > 0:
                        yield text[:room]
                    raise GenerationInterrupted(self._too_long_message())
                sent += len(text)
                visible = visible or bool(text.strip())
                yield text
                if timeline.remaining() <= 0:
                    raise GenerationInterrupted(self._deadline_message())
        finally:
            timeline.stop()  # the worker closes the HTTP stream at its next read
        finish_reason = cast("str | None", value)
        if finish_reason is None:  # the body ended without a final chunk: the server went away
            raise GenerationInterrupted(_LOST)
        if finish_reason == "length":
            raise GenerationInterrupted("The answer reached the language model's length limit and was cut short; "
                                        "the answer below is incomplete.")
        if finish_reason == "content_filter":
            raise GenerationInterrupted("The language model's content filter stopped the answer; "
                                        "the answer below is incomplete.")
        if not visible:
            raise GenerationError("The language model returned an empty answer; please try again, or ask the "
                                  "question another way.")

    def _produce(self, messages: list[BaseMessage], timeline: _Timeline, feed: queue.Queue) -> None:
        """Worker: open the stream (with retries), put ("text", str)... then ("end", finish_reason),
        or ("error", exception). Stops at the deadline or when the reader has gone. A client of its
        own per answer, so that its transport knows this answer's deadline."""
        with httpx.Client(transport=_ExpiringTransport(timeline.expired)) as client:
            model = chat_model(self.settings, streaming=True, max_tokens=self.settings.llm_max_answer_tokens,
                               http_client=client)
            try:
                stream, head = self._start(model, messages, timeline)
            except Exception as exc:
                feed.put(("error", exc))
                return
            finish_reason: str | None = None
            try:
                for chunk in itertools.chain(head, stream):
                    if timeline.expired():
                        return
                    if text := _text(chunk):
                        feed.put(("text", text))
                    finish_reason = chunk.response_metadata.get("finish_reason") or finish_reason
            except Exception as exc:  # whatever broke the stream, the reader keeps the partial answer
                feed.put(("error", GenerationInterrupted(self._interrupted_message(exc, timeline))))
                return
            finally:
                stream.close()
            feed.put(("end", finish_reason))

    # --- before the first token: retried ---------------------------------------------------------

    def _start(self, model: ChatOpenAI, messages: list[BaseMessage],
               timeline: _Timeline) -> tuple[_Chunks, list[BaseMessageChunk]]:
        """Open the stream and read up to its first text, retrying transient failures while the
        deadline leaves room for the wait."""
        def stop(state: RetryCallState) -> bool:
            return self._stop(state) or timeline.remaining() - state.upcoming_sleep <= 0

        retrying = Retrying(retry=retry_if_exception(self._transient), wait=self._wait, stop=stop,
                            before_sleep=_log_retry, sleep=self._sleep, reraise=True)
        try:
            for attempt in retrying:
                with attempt:
                    return self._open(model, messages)
        except Exception as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            if timeline.expired():
                raise GenerationInterrupted(self._deadline_message()) from exc
            if self._transient(exc) or _status(exc) == 429:  # 429 beyond the cap: busy, not misconfigured
                raise GenerationInterrupted(self._exhausted_message(exc, attempts)) from exc
            raise GenerationError(self._refused_message(exc)) from exc
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _open(self, model: ChatOpenAI, messages: list[BaseMessage]) -> tuple[_Chunks, list[BaseMessageChunk]]:
        # BaseChatModel.stream is a generator: close() ends the HTTP response if we stop early.
        stream = cast(_Chunks, model.stream(messages))
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

    def _deadline_message(self) -> str:
        return (f"The language model took longer than {self.settings.llm_answer_deadline:g} s "
                "(TUTOR_LLM_ANSWER_DEADLINE) to answer; the answer below is incomplete.")

    def _too_long_message(self) -> str:
        return (f"The answer reached the maximum answer length ({self.max_chars:,} characters, from "
                f"TUTOR_LLM_MAX_ANSWER_TOKENS={self.settings.llm_max_answer_tokens}) and was cut short; "
                "the answer below is incomplete.")

    def _interrupted_message(self, exc: BaseException, timeline: _Timeline) -> str:
        if timeline.remaining() <= 0:
            return self._deadline_message()
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
