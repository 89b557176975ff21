"""Streamlit entry point: `tutor serve` (or `streamlit run ui/app.py`).

Four pages, for three audiences, in app_pages/ (not pages/: Streamlit would also list a pages/
folder on its own, beside st.navigation's menu). Settings come from the environment (`tutor serve` passes
TUTOR_DATA_DIR, TUTOR_CORPUS_DIR and TUTOR_COLLECTION); the pages only call the `tutor` library.
"""

from pathlib import Path

import streamlit as st

# A local file, not ":material/school:": Streamlit fetches a Material icon favicon from an outside font
# host, and the app must load nothing from outside (campus machines may be offline; no third party
# learns who uses the tutor).
ICON = Path(__file__).resolve().parent / "static" / "icon.png"
st.set_page_config(page_title="Course tutor", page_icon=str(ICON), layout="centered")

pages = {
    "Students": [st.Page("app_pages/chat.py", title="Chat", icon=":material/chat:", default=True)],
    "Instructors": [st.Page("app_pages/library.py", title="Library", icon=":material/library_books:"),
                    st.Page("app_pages/insights.py", title="Insights", icon=":material/insights:")],
    # Behind the instructor login too: a report quotes the course and the tutor's answers in bulk.
    "Developers": [st.Page("app_pages/evals.py", title="Evals", icon=":material/monitoring:")],
}
st.navigation(pages).run()
