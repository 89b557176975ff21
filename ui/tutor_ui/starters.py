"""Starter questions for the empty chat, recomputed only when the index changes."""

from __future__ import annotations

import streamlit as st

from tutor.service import TutorService
from tutor.starters import starter_questions


def cached_starters(tutor: TutorService, limit: int = 4) -> list[str]:
    store = tutor.store
    # The last-ingest stamp and the chunk count change with every upload, replacement or deletion.
    return _starters(store.location, store.collection_name, store.last_ingest() or "", store.count(), limit,
                     _tutor=tutor)


@st.cache_data(show_spinner=False, max_entries=16)
def _starters(location: str, collection: str, last_ingest: str, chunks: int, limit: int,
              _tutor: TutorService) -> list[str]:
    return starter_questions(_tutor.store.all_chunks(), limit=limit) if chunks else []
