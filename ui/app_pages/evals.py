"""Evals (developers): the latest evaluation report, or how to make one."""

from __future__ import annotations

import streamlit as st

from tutor_ui import resources
from tutor_ui.reports import latest_report, render_report

st.title("Evaluation")
settings = resources.settings()
report = latest_report(settings)
if report is None:
    st.info("No evaluation report yet. Run `make eval` (or `.venv/bin/python -m evals`) to score the tutor on "
            f"the evaluation questions; the report is written to `{settings.data_dir / 'reports'}` and shown here.",
            icon=":material/monitoring:")
    st.stop()
render_report(report)
