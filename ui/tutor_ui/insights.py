"""Drawing the insights: charts, course gaps, citation tables, and the record of conversations.
Everything students or documents wrote is escaped; answers keep only light formatting (model_markdown)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from tutor.insights import Gap, Insights
from tutor.records.questions import CitedCount, QuestionRecord
from tutor_ui.text import escape_markdown, model_markdown

LIBRARY_PAGE = "app_pages/library.py"


def render_counts(insights: Insights) -> None:
    columns = st.columns(4)
    share = f"{insights.refused / insights.questions:.0%}" if insights.questions else "—"
    columns[0].metric("Questions", insights.questions)
    columns[1].metric("Refused", insights.refused, help=f"{share} of the questions were not answered by the course.")
    columns[2].metric("Thumbs up", insights.feedback["up"])
    columns[3].metric("Thumbs down", insights.feedback["down"])
    if not insights.per_day:
        return
    days = [d.day for d in insights.per_day]
    st.caption("Questions per day (UTC)")
    # Bars, not lines: a course's first days (or a --since of one day) would draw a line of one point.
    st.bar_chart({"answered": dict(zip(days, (d.questions - d.refused for d in insights.per_day))),
                  "refused": dict(zip(days, (d.refused for d in insights.per_day)))},
                 x_label="day", y_label="questions")
    if any(d.up or d.down for d in insights.per_day):
        st.caption("Feedback per day")
        st.bar_chart({"thumbs up": dict(zip(days, (d.up for d in insights.per_day))),
                      "thumbs down": dict(zip(days, (d.down for d in insights.per_day)))},
                     x_label="day", y_label="ratings", stack=False)


def render_gaps(gaps: Sequence[Gap]) -> None:
    st.subheader(f"Course gaps ({len(gaps)})")
    if not gaps:
        st.info("No refused or disliked questions yet.", icon=":material/check_circle:")
        return
    st.caption("Questions the course did not answer, or whose answer got a thumbs down, grouped by topic.")
    for n, gap in enumerate(gaps):
        with st.container(border=True, key=f"gap-{n}"):
            st.markdown(f"**{escape_markdown(gap.label)}** · {gap.count} question{'s' if gap.count != 1 else ''}")
            for example in gap.examples:
                st.markdown(f"- {escape_markdown(example)}")
            if gap.nearest:
                st.caption("Nearest sections: " + escape_markdown(" · ".join(
                    f"{s['source']} › {s['section'] or s['title']}" for s in gap.nearest)))
            st.page_link(LIBRARY_PAGE, label="Add material in the Library", icon=":material/library_add:")


def cited_table(counts: Sequence[CitedCount], sections: bool = False) -> list[dict[str, Any]]:
    if sections:
        return [{"Document": c.source, "Section": c.section or c.title, "Answers citing it": c.count} for c in counts]
    return [{"Document": c.source, "Answers citing it": c.count} for c in counts]


def render_cited(insights: Insights, top: int = 10) -> None:
    st.subheader("Most and least cited")
    documents, sections = st.tabs(["Documents", "Sections"])
    with documents:
        left, right = st.columns(2)
        left.caption("Most cited")
        left.dataframe(cited_table(insights.most_cited[:top]), hide_index=True)
        right.caption("Least cited")
        right.dataframe(cited_table(insights.least_cited[:top]), hide_index=True)
    with sections:
        st.caption("Most cited")
        st.dataframe(cited_table(insights.most_cited_sections[:top], sections=True), hide_index=True)
        st.caption("Least cited")
        st.dataframe(cited_table(insights.least_cited_sections[:top], sections=True), hide_index=True)


def conversations(records: Sequence[QuestionRecord]) -> list[list[QuestionRecord]]:
    """Records grouped by session (one conversation each), newest conversation first, turns in order."""
    grouped: dict[str, list[QuestionRecord]] = {}
    for record in records:  # newest first
        grouped.setdefault(record.session_id, []).append(record)
    return [list(reversed(turns)) for turns in grouped.values()]


def render_conversation(turns: Sequence[QuestionRecord]) -> None:
    first = turns[0]
    label = (f"{first.asked_at[:16].replace('T', ' ')} · {first.channel} · {len(turns)} question"
             f"{'s' if len(turns) != 1 else ''} · {first.question[:70]}")
    with st.expander(escape_markdown(label)):
        st.caption(escape_markdown(f"Session {first.session_id} (pseudonymous)"))
        for record in turns:
            with st.chat_message("user"):
                st.markdown(escape_markdown(record.question))
                if record.standalone_question and record.standalone_question != record.question:
                    st.caption(escape_markdown(f"Understood as: {record.standalone_question}"))
            with st.chat_message("assistant"):
                if record.refused:
                    st.info(model_markdown(record.answer), icon=":material/block:")
                else:
                    st.markdown(model_markdown(record.answer))
                for citation in record.citations:
                    place = " › ".join(str(p) for p in (citation.get("title"), citation.get("section")) if p)
                    st.caption(escape_markdown(f"[{citation.get('n')}] {place} ({citation.get('source')}): "
                                               f"“{citation.get('quote', '')}”"))
                feedback = {"up": "👍", "down": "👎"}.get(record.rating or "", "")
                details = [record.asked_at[11:19], record.answerer, f"{record.latency_ms:.0f} ms"]
                if record.refused:
                    details.append(f"refused: {record.refusal_reason}")
                if feedback:
                    details.append(feedback + (f" “{record.comment}”" if record.comment else ""))
                st.caption(escape_markdown(" · ".join(details)))
