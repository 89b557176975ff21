"""Streamlit entry point: `tutor serve` (or `streamlit run ui/app.py`).

Three pages, one per audience. Settings come from the environment (`tutor serve` passes
TUTOR_DATA_DIR, TUTOR_CORPUS_DIR and TUTOR_COLLECTION); the pages only call the `tutor` library.
"""

import streamlit as st

st.set_page_config(page_title="Course tutor", page_icon=":material/school:", layout="centered")

pages = {
    "Students": [st.Page("pages/chat.py", title="Chat", icon=":material/chat:", default=True)],
    "Instructors": [st.Page("pages/library.py", title="Library", icon=":material/library_books:")],
    "Developers": [st.Page("pages/evals.py", title="Evals", icon=":material/monitoring:")],
}
st.navigation(pages).run()
