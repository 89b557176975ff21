"""What the app builds once per process: settings, the embedder, the tutor service, the records database
(feedback, the record of questions).

Settings are read from the environment on every run (cheap) and used as the cache key, so a
changed environment (a test pointing TUTOR_DATA_DIR elsewhere) gets its own service, while every
session of one server shares one embedder, one index client and one answering chain.
"""

from __future__ import annotations

import json
import threading
import weakref

import streamlit as st
from langchain_core.embeddings import Embeddings

from tutor.embeddings import build_embedder
from tutor.errors import TutorError
from tutor.records import Database, FeedbackStore, QuestionRecorder, SavedChats, database_url, new_session_id
from tutor.service import TutorService
from tutor.settings import Settings

_WARMED: weakref.WeakKeyDictionary[TutorService, threading.Event] = weakref.WeakKeyDictionary()
_EMBEDDING_FIELDS = ("embedding_model", "embedding_base_url", "embedding_api_model", "embedding_batch_size",
                     "openai_api_key", "llm_timeout", "llm_max_retries")


def settings() -> Settings:
    """The settings from the environment; a configuration mistake stops the page with its message."""
    try:
        return Settings()
    except (TutorError, ValueError) as exc:
        st.error(f"The tutor is misconfigured: {exc}")
        st.stop()
        raise  # st.stop() raises; this line only tells type checkers so


def service() -> TutorService:
    current = settings()
    return _service(current.model_dump_json(), _settings=current)


def saved_chats() -> SavedChats | None:
    """Saved chats in the records database, per browser session id; None when the database cannot be
    reached (students still get answers, the chats are just not kept)."""
    current = settings()
    try:
        return SavedChats(_database(database_url(current), _settings=current))
    except TutorError:
        return None


def database() -> Database:
    """The records database (opened, migrated, retention applied once per process and URL); a database
    that cannot be reached stops the page with its message."""
    current = settings()
    try:
        return _database(database_url(current), _settings=current)
    except TutorError as exc:
        st.error(str(exc), icon=":material/error:")
        st.stop()
        raise


def feedback_store() -> FeedbackStore | None:
    """The feedback store, or None when the records database cannot be reached: students still get
    answers, only the thumbs are not offered."""
    current = settings()
    try:
        return FeedbackStore(_database(database_url(current), _settings=current))
    except TutorError:
        return None


def recorder() -> QuestionRecorder:
    """The recording hook for this app's settings (TUTOR_RECORD_QUESTIONS off: it records nothing)."""
    current = settings()
    return _recorder(database_url(current), current.record_questions, _settings=current)


def record_session_id() -> str:
    """The pseudonymous id of this browser session: random, made on its first question, never tied to a
    name or an address."""
    return st.session_state.setdefault("record_session_id", new_session_id())


@st.cache_resource(show_spinner=False)
def _embedder(embedding_config: str, _settings: Settings) -> Embeddings:
    return build_embedder(_settings)


@st.cache_resource(show_spinner=False)
def _service(settings_json: str, _settings: Settings) -> TutorService:
    embedding_config = json.dumps({k: getattr(_settings, k) for k in _EMBEDDING_FIELDS}, default=str)
    tutor = TutorService(_settings, embedder=_embedder(embedding_config, _settings))
    # Load the encoder model while the student is still reading the page, not after they ask.
    _WARMED[tutor] = threading.Event()
    threading.Thread(target=_warm_up, args=(tutor,), name="tutor-warm-up", daemon=True).start()
    return tutor


def warm_up_done(tutor: TutorService) -> threading.Event | None:
    """Set once the service's first search (model load, lexical index) has finished; None if it
    was not warmed up here."""
    return _WARMED.get(tutor)


@st.cache_resource(show_spinner=False)
def _database(url: str, _settings: Settings) -> Database:
    return Database.open(_settings)


@st.cache_resource(show_spinner=False)
def _recorder(url: str, enabled: bool, _settings: Settings) -> QuestionRecorder:
    return QuestionRecorder(_settings, open_database=lambda _: _database(url, _settings=_settings))


def _warm_up(tutor: TutorService) -> None:
    """One search loads the encoder and builds the lexical index, the two slow first-time costs."""
    try:
        tutor.retriever.search("warm up", k=1)
    except Exception:  # an empty index or a broken setup is reported when the student asks, with its message
        pass
    finally:
        _WARMED[tutor].set()
