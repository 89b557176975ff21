"""The instructor login in front of the instructor-only pages (Insights, Evals): the same password,
session and throttle as the Library (tutor_ui.library / tutor.library), drawn as the same form."""

from __future__ import annotations

import streamlit as st

from tutor.library import HOW_TO_ENABLE, InstructorSession, NotAuthorized, library_enabled
from tutor.settings import Settings
from tutor_ui.library import current_session, log_in, log_out
from tutor_ui.text import escape_markdown


def instructor_gate(settings: Settings, what: str) -> InstructorSession:
    """The logged-in instructor's session; otherwise the login form (or how to enable it) and st.stop()."""
    if not library_enabled(settings):
        st.info(f"{what} is for instructors, and no instructor password is set. {HOW_TO_ENABLE}",
                icon=":material/lock:")
        st.stop()
    session = current_session(settings)
    if session is None:
        st.caption(f"{what} is for instructors: log in with the instructor password.")
        with st.form("login"):
            password = st.text_input("Instructor password", type="password")
            if st.form_submit_button("Log in", type="primary"):
                try:
                    log_in(settings, password)
                    st.rerun()
                except NotAuthorized as exc:
                    st.error(escape_markdown(str(exc)), icon=":material/lock:")
        st.stop()
    return session


def log_out_button() -> None:
    st.button("Log out", on_click=log_out, icon=":material/logout:")
