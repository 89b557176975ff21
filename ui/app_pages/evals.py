"""Evals (developers): the latest evaluation report, or how to make one."""

from __future__ import annotations

import streamlit as st

from tutor_ui import resources
from tutor_ui.reports import latest_report, render_report, reports_dir

st.title("Evaluation")
settings = resources.settings()
report = latest_report(settings)
if report is None:
    st.info("No evaluation report yet. Score the tutor on a question set with\n\n"
            "`tutor eval run --dataset ../shared/evalsets/psychology-2e-dev.jsonl`\n\n"
            f"The report is written to `{reports_dir(settings)}` and shown here.",
            icon=":material/monitoring:")
    st.stop()
render_report(report)
