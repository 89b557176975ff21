"""The Streamlit app, shipped in the wheel beside `tutor` so `tutor serve` finds it installed too."""
