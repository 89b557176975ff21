"""An answer's sources as controls: one compact button per citation [n] (or per nearby section of a
refusal) that opens the passage in a side panel, rendered as Markdown with the cited sentences
highlighted, and the whole section on request.

A st.dialog drawer rather than an expander: it opens in view wherever the button is (the top of a
phone screen, not below the fold), and it is Streamlit's own widget, so nothing is rendered as HTML.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import streamlit as st

from tutor.text import heading_label
from tutor.models import Answer, Chunk, Passage
from tutor.service import TutorService
from tutor.titles import is_hash_like
from tutor_ui.text import escape_markdown, passage_markdown

_LABEL_CHARS = 34  # a button label that fits one line on a 390 px phone
_PAGE = re.compile(r"Page (\d+)")


@dataclass(frozen=True)
class SourceView:
    """What the panel shows: one passage, and what of it to highlight."""

    n: int | None  # the citation number, or None for a section offered after a refusal
    chunk: Chunk
    quote: str  # empty: nothing in the passage matched what the answer said closely enough


def citation_views(answer: Answer) -> list[SourceView]:
    """One view per citation, its passage's full text from the answer's passages (the quote alone
    when the passage is no longer among them)."""
    chunks = {p.chunk.chunk_id: p.chunk for p in answer.passages}
    views = []
    for c in answer.citations:
        chunk = chunks.get(c.chunk_id) or Chunk(c.chunk_id, c.quote, c.source, c.title, c.section, 0)
        # A citation that supports none of its sentences is not shown as support: nothing is highlighted.
        views.append(SourceView(c.n, chunk, "" if c.n in answer.weak_citations else c.quote))
    return views


def section_views(passages: Sequence[Passage]) -> list[SourceView]:
    """Nearby sections after a refusal: one view per section, its best passage, nothing highlighted."""
    seen: dict[tuple[str, str], SourceView] = {}
    for passage in passages:
        seen.setdefault((passage.chunk.source, passage.chunk.section), SourceView(None, passage.chunk, ""))
    return list(seen.values())


def place(chunk: Chunk) -> str:
    """The readable heading: "Memory 8.1 — How Memory Functions › Encoding"."""
    return heading_label(chunk.title, chunk.section)


def button_label(view: SourceView) -> str:
    """'[2] Encoding': the number and the most specific heading, short enough for one line."""
    parts = [p for p in view.chunk.section.split(" › ") if p]
    name = parts[-1] if parts else view.chunk.title
    page = _PAGE.fullmatch(name)
    if page:  # a PDF's "Page 3" says nothing on its own
        suffix = f", p. {page.group(1)}"
        name = _shorten(view.chunk.title, _LABEL_CHARS - len(suffix)) + suffix
    name = _shorten(name, _LABEL_CHARS)
    return (f"\\[{view.n}\\] " if view.n is not None else "") + escape_markdown(name)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def render_source_buttons(tutor: TutorService, views: Sequence[SourceView], key: str, caption: str) -> None:
    """A caption and a row of buttons; the one clicked opens its passage."""
    if not views:
        return
    st.caption(caption)
    opened = None
    with st.container(horizontal=True, gap="small"):
        for i, view in enumerate(views):
            if st.button(button_label(view), key=f"{key}-{i}", help=escape_markdown(place(view.chunk)),
                         type="secondary", icon=":material/menu_book:" if view.n is None else None):
                opened = view
    if opened is not None:
        show_source(tutor, opened, key=f"{key}-{views.index(opened)}")


def show_source(tutor: TutorService, view: SourceView, key: str) -> None:
    title = f"Source {view.n}" if view.n is not None else "Nearby section"
    st.dialog(title, width="medium", position="right")(_source_panel)(tutor, view, key)


def _source_panel(tutor: TutorService, view: SourceView, key: str) -> None:
    chunk = view.chunk
    st.markdown(f"#### {escape_markdown(place(chunk))}")
    details = [] if is_hash_like(chunk.source) else [f":material/description: {escape_markdown(chunk.source)}"]
    if view.n is not None and view.quote:
        details.append(":orange-background[Highlighted]: what the answer relies on")
    if details:
        st.caption(" · ".join(details))
    if view.n is not None and not view.quote:
        st.warning("No sentence of this passage closely matches what the answer says: read it with care.",
                   icon=":material/help:")
    with st.container(border=True, key=f"passage-{key}"):
        st.markdown(passage_markdown(chunk.text, view.quote))
    if st.toggle("Read the whole section", key=f"whole-{key}"):
        whole = tutor.section_text(chunk.source, chunk.section)
        with st.container(border=True, key=f"section-{key}"):
            st.markdown(passage_markdown(whole or chunk.text, view.quote))
