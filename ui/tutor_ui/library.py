"""Library page helpers: the instructor's login in session_state, notices that survive a rerun,
and the tables. Authorization itself lives in tutor.library, checked by every action."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

import streamlit as st

from tutor.directives import planted_sentences
from tutor.library import (Client, InstructorSession, LibraryDocument, NotAuthorized, instructor_login,
                           require_instructor)
from tutor.models import Chunk
from tutor.settings import Settings
from tutor.titles import is_hash_like
from tutor.uploads import UploadOutcome
from tutor_ui.text import escape_markdown

SESSION_KEY = "instructor"
CLIENT_KEY = "client-id"
NOTICES_KEY = "library-notices"


def current_session(settings: Settings) -> InstructorSession | None:
    """The logged-in instructor's session, if it is still valid (a changed password ends it)."""
    session = st.session_state.get(SESSION_KEY)
    try:
        require_instructor(settings, session)
    except NotAuthorized:
        st.session_state.pop(SESSION_KEY, None)
        return None
    return session


def log_in(settings: Settings, password: str) -> None:
    st.session_state[SESSION_KEY] = instructor_login(settings, password, client=this_client())


def this_client() -> Client:
    """This browser session (a random id kept in its session_state) and, where Streamlit knows it,
    its network address: what the password throttle counts wrong tries by."""
    session = st.session_state.setdefault(CLIENT_KEY, secrets.token_hex(16))
    try:
        address = st.context.ip_address
    except Exception:  # outside a served app (bare mode) there is no connection to ask about
        address = None
    return Client(session, address or None)


def log_out() -> None:
    st.session_state.pop(SESSION_KEY, None)


def upload_widget_key(name: str) -> str:
    """A key that changes after each upload, so the uploader comes back empty."""
    return f"upload-{name}-{st.session_state.get(f'upload-generation-{name}', 0)}"


def show_outcomes(outcomes: Sequence[UploadOutcome], reset_widget: str, where: str = "add") -> None:
    """Keep one message per file for the next run, empty the uploader, and redraw."""
    for outcome in outcomes:
        if outcome.ok:
            add_notice("success", f"{outcome.name}: {outcome.status} as {outcome.source} "
                                  f"({outcome.chunks} chunk{'s' if outcome.chunks != 1 else ''})", where)
            for warning in outcome.warnings:
                add_notice("warning", f"{outcome.source}, {warning}", where)
        else:
            add_notice("error", f"{outcome.name}: {outcome.error}", where)
    generation = f"upload-generation-{reset_widget}"
    st.session_state[generation] = st.session_state.get(generation, 0) + 1
    st.rerun()


def add_notice(kind: str, message: str, where: str = "manage") -> None:
    """A result to show on the next run, beside the control that caused it (`where`)."""
    st.session_state.setdefault(NOTICES_KEY, []).append((kind, message, where))


def render_notices(where: str) -> None:
    """The results kept for this place, inline and as a toast: the instructor sees them wherever
    the page is scrolled to."""
    notices = st.session_state.get(NOTICES_KEY, [])
    st.session_state[NOTICES_KEY] = [n for n in notices if n[2] != where]
    for kind, message, _ in (n for n in notices if n[2] == where):
        icon, show = {"success": (":material/check_circle:", st.success),
                      "warning": (":material/warning:", st.warning)}.get(kind, (":material/error:", st.error))
        show(escape_markdown(message), icon=icon)
        st.toast(escape_markdown(message), icon=icon)


def document_choice(document: LibraryDocument) -> str:
    """How the picker names a document: its title, and its file unless that is an id-like name."""
    return document.title if is_hash_like(document.source) else f"{document.title} ({document.source})"


def by_title(documents: Sequence[LibraryDocument]) -> list[LibraryDocument]:
    return sorted(documents, key=lambda d: (d.title.casefold(), d.source))


def short_time(stamp: str | None) -> str:
    """'2026-11-20T23:58:12+00:00' -> '2026-11-20 23:58' (UTC, as ingest records it)."""
    return stamp[:16].replace("T", " ") if stamp else "never"


def document_table(documents: Sequence[LibraryDocument]) -> list[dict[str, Any]]:
    return [{"Document": d.title, "File": d.source, "Chunks": len(d.chunks),
             "Planted instructions": sum(len(planted_sentences(c.metadata)) for c in d.chunks),
             "Last ingested (UTC)": short_time(d.ingested_at)}
            for d in documents]


def planted_in(document: LibraryDocument) -> list[str]:
    """The sentences of a document that ingest flagged as planted instructions (kept out of answers)."""
    return [s for c in document.chunks for s in planted_sentences(c.metadata)]


def chunk_table(chunks: Sequence[Chunk]) -> list[dict[str, Any]]:
    return [{"#": c.position, "Section": c.section, "Text": c.text} for c in chunks]
