"""What the app builds once per process: settings, the embedder, the tutor service, the feedback store.

Settings are read from the environment on every run (cheap) and used as the cache key, so a
changed environment (a test pointing TUTOR_DATA_DIR elsewhere) gets its own service, while every
session of one server shares one embedder, one index client and one answering chain.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import streamlit as st
from langchain_core.embeddings import Embeddings

from tutor.embeddings import build_embedder
from tutor.errors import TutorError
from tutor.feedback import FeedbackStore
from tutor.service import TutorService
from tutor.settings import Settings

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


def feedback_store() -> FeedbackStore:
    current = settings()
    return _feedback_store(str(current.data_dir.resolve()))


@st.cache_resource(show_spinner=False)
def _embedder(embedding_config: str, _settings: Settings) -> Embeddings:
    return build_embedder(_settings)


@st.cache_resource(show_spinner=False)
def _service(settings_json: str, _settings: Settings) -> TutorService:
    embedding_config = json.dumps({k: getattr(_settings, k) for k in _EMBEDDING_FIELDS}, default=str)
    tutor = TutorService(_settings, embedder=_embedder(embedding_config, _settings))
    # Load the encoder model while the student is still reading the page, not after they ask.
    threading.Thread(target=_warm_up, args=(tutor,), name="tutor-warm-up", daemon=True).start()
    return tutor


@st.cache_resource(show_spinner=False)
def _feedback_store(data_dir: str) -> FeedbackStore:
    return FeedbackStore.in_data_dir(Path(data_dir))


def _warm_up(tutor: TutorService) -> None:
    """One search loads the encoder and builds the lexical index, the two slow first-time costs."""
    try:
        tutor.retriever.search("warm up", k=1)
    except Exception:  # an empty index or a broken setup is reported when the student asks, with its message
        return
