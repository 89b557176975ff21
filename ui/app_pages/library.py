"""Library (instructors): upload, inspect, replace, delete and re-index course documents.

Every action below goes through tutor.library / tutor.uploads, which check the instructor session
themselves; this page only decides what to show.
"""

from __future__ import annotations

import math

import streamlit as st

from tutor.documents import SUPPORTED_SUFFIXES
from tutor.errors import TutorError
from tutor.library import delete_documents, library_documents, reindex_library, rename_document
from tutor.titles import MAX_TITLE_LENGTH
from tutor.uploads import Upload, add_uploads, replace_document
from tutor_ui import resources
from tutor_ui.library import (add_notice, by_title, chunk_table, document_choice, document_table, log_out,
                              planted_in, render_notices, short_time, show_outcomes, upload_widget_key)
from tutor_ui.instructor import instructor_gate
from tutor_ui.text import escape_markdown

st.title("Course library")
settings = resources.settings()

session = instructor_gate(settings, "The Library")

tutor = resources.service()
status = tutor.status()
top = st.columns([1, 1, 2, 1], vertical_alignment="bottom")
top[0].metric("Documents", status["documents"])
top[1].metric("Chunks", status["chunks"])
top[2].metric("Last ingest", short_time(status["last_ingest"]))
top[3].button("Log out", on_click=log_out, icon=":material/logout:")

st.subheader("Add documents")
suffixes = sorted(s.lstrip(".") for s in SUPPORTED_SUFFIXES)
files = st.file_uploader(f"Course documents ({', '.join(suffixes)}; up to {settings.upload_max_mb:g} MB each)",
                         type=suffixes, accept_multiple_files=True, key=upload_widget_key("add"),
                         max_upload_size=math.ceil(settings.upload_max_mb))
if st.button("Add to library", type="primary", disabled=not files, icon=":material/upload:"):
    progress = st.progress(0.0, text="Indexing…")
    outcomes = add_uploads(tutor, session, [Upload(f.name, f.getvalue()) for f in files or []],
                           on_progress=lambda done, total, name: progress.progress(
                               done / max(total, 1), text=f"Indexing {escape_markdown(name)}…" if name else "Done"))
    show_outcomes(outcomes, reset_widget="add")
render_notices("add")

if st.button("Re-index the library", icon=":material/refresh:",
             help="Index new and changed files in the library folder and drop files that are gone."):
    with st.status("Re-indexing the library…", expanded=True) as progress:
        report = reindex_library(tutor, session)
        for outcome in report.outcomes:
            if outcome.status != "unchanged":
                st.write(escape_markdown(f"{outcome.status}: {outcome.source}" +
                                         (f" — {outcome.error}" if outcome.error else "")))
            for warning in outcome.warnings:
                st.warning(escape_markdown(f"{outcome.source}, {warning}"), icon=":material/warning:")
        progress.update(label=escape_markdown(report.summary()), state="error" if report.failed else "complete")

documents = by_title(library_documents(tutor, session))
st.subheader(f"Documents ({len(documents)})")
if not documents:
    st.info("Nothing is indexed yet: add documents above.", icon=":material/info:")
    st.stop()
st.dataframe(document_table(documents), hide_index=True)

st.subheader("Rename, replace or delete a document")
by_source = {d.source: d for d in documents}
chosen = st.selectbox("Document", list(by_source), index=None, placeholder="Choose a document…",
                      format_func=lambda source: document_choice(by_source[source]), key="manage-document")
render_notices("manage")
if chosen:
    document = by_source[chosen]
    with st.form(f"rename-{chosen}", border=False):
        new_title = st.text_input("Title students see", value=document.title, key=f"title-{chosen}",
                                  max_chars=MAX_TITLE_LENGTH)
        if st.form_submit_button("Save title", icon=":material/edit:"):
            try:
                saved = rename_document(tutor, session, chosen, new_title)
                add_notice("success", f"Renamed {chosen} to “{saved}”")
            except TutorError as exc:
                add_notice("error", f"{chosen}: {exc}")
            st.rerun()
    suffix = chosen.rsplit(".", 1)[-1].lower() if "." in chosen else ""
    replacement = st.file_uploader(escape_markdown(f"New version of {chosen}"), type=[suffix] if suffix else None,
                                   key=upload_widget_key(f"replace-{chosen}"),
                                   max_upload_size=math.ceil(settings.upload_max_mb))
    if st.button("Replace", disabled=replacement is None, icon=":material/swap_horiz:"):
        with st.spinner(f"Indexing the new version of {escape_markdown(chosen)}…"):
            outcome = replace_document(tutor, session, chosen, Upload(replacement.name, replacement.getvalue()))
        show_outcomes([outcome], reset_widget=f"replace-{chosen}", where="manage")
    confirm = st.checkbox(escape_markdown(f"Yes, delete {chosen} from the library"), key=f"confirm-delete-{chosen}")
    if st.button("Delete", disabled=not confirm, icon=":material/delete:"):
        for removed in delete_documents(tutor, session, [chosen]):
            add_notice("success", f"Deleted {removed.source} ({removed.chunks} chunks)")
        st.rerun()
    for sentence in planted_in(document):
        st.warning(escape_markdown(f"Planted instruction, kept out of answers: {sentence}"), icon=":material/warning:")
    with st.expander(escape_markdown(f"Its {len(document.chunks)} chunks · file {document.path} · "
                                     f"last ingested {short_time(document.ingested_at)}")):
        st.dataframe(chunk_table(document.chunks), hide_index=True)
