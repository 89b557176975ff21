"""Evals (developers, behind the instructor login): the latest evaluation report, one question at a time,
and what changed since the previous run."""

from __future__ import annotations

import streamlit as st

from tutor_ui import resources
from tutor_ui.instructor import instructor_gate
from tutor_ui.reports import latest_reports, render_comparison, render_drilldown, render_report, reports_dir

st.title("Evaluation")
settings = resources.settings()
instructor_gate(settings, "The Evals page")
reports = latest_reports(settings, 2)
if not reports:
    st.info("No evaluation report yet. Score the tutor on a question set with\n\n"
            "`tutor eval run --dataset ../shared/evalsets/psychology-2e-dev.jsonl`\n\n"
            f"The report is written to `{reports_dir(settings)}` and shown here.",
            icon=":material/monitoring:")
    st.stop()
render_report(reports[0])
render_drilldown(reports[0].data)
if len(reports) > 1:
    render_comparison(reports[1], reports[0])
