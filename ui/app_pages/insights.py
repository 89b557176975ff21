"""Insights (instructors): what students ask, where the course falls short, which documents answer.

Behind the instructor login; the data comes through tutor.insights' instructor_* functions, which
check the session themselves."""

from __future__ import annotations

from datetime import date

import streamlit as st

from tutor.insights import instructor_insights, instructor_records
from tutor.records import QuestionLog
from tutor_ui import resources
from tutor_ui.insights import conversations, render_cited, render_conversation, render_counts, render_gaps
from tutor_ui.instructor import instructor_gate, log_out_button

RECENT = 200

st.title("Insights")
settings = resources.settings()
session = instructor_gate(settings, "The Insights page")

tutor = resources.service()
log = QuestionLog(resources.database())
top = st.columns([2, 1], vertical_alignment="bottom")
picked = top[0].date_input("Questions asked since", value=None, max_value=date.today(), format="YYYY-MM-DD")
with top[1]:
    log_out_button()
since = picked.isoformat() if picked else None
if not settings.record_questions:
    st.warning("Recording is off (TUTOR_RECORD_QUESTIONS=0): new questions are not recorded.",
               icon=":material/visibility_off:")

with st.spinner("Grouping questions into topics…"):
    insights = instructor_insights(tutor, log, session, since)
render_counts(insights)
render_gaps(insights.gaps)
render_cited(insights)

st.subheader("Recent conversations")
search = st.text_input("Search questions and answers", placeholder="e.g. memory")
records = instructor_records(tutor, log, session, since=since, search=search or None, limit=RECENT)
if not records:
    st.info("Nothing recorded matches." if search else "No questions recorded yet.", icon=":material/forum:")
for turns in conversations(records):
    render_conversation(turns)
all_records = instructor_records(tutor, log, session, since=since, search=search or None)
st.download_button("Download the record (CSV)", data=log.export_csv(all_records),
                   file_name=f"tutor-questions{'-since-' + since if since else ''}.csv", mime="text/csv",
                   on_click="ignore", icon=":material/download:")
st.caption(f"Records are kept {settings.record_retention_days} days (TUTOR_RECORD_RETENTION_DAYS)."
           if settings.record_retention_days else "Records are kept until deleted (TUTOR_RECORD_RETENTION_DAYS=0).")
