"""Small helpers for the Streamlit pages: cached resources, safe rendering, chat state.

The pages in ../app_pages lay widgets out; everything they decide comes from here or from `tutor`.
Importable as `tutor_ui` because Streamlit puts the app's directory (ui/) on sys.path.
"""
