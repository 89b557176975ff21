"""Streamlit entry point: `tutor serve` (or `streamlit run ui/app.py`)."""

import streamlit as st

st.set_page_config(page_title="Course tutor", page_icon="📚")
st.title("Course tutor")
st.write("The chat is being built; the course library is indexed.")
