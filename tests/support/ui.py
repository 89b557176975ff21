"""Helpers shared by the UI tests (AppTest and browser) and the UI benchmark."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "ui" / "app.py"

# The pages import their helpers as `tutor_ui` because Streamlit puts ui/ on sys.path; so do the tests.
if str(APP.parent) not in sys.path:
    sys.path.insert(0, str(APP.parent))


def copy_index(indexed_service, target: Path) -> tuple[Path, Path]:
    """Copy an indexed service's data and corpus directories under `target`, so a test may change
    them (uploads, feedback) without touching the session's shared index. Chunks keep pointing at the
    shared corpus paths, which is harmless: sources are relative names and only re-index reads paths."""
    data_dir, corpus_dir = target / "data", target / "corpus"
    # Not the records database: CLI tests on the shared index record their questions there, and each UI
    # test starts from an empty record of its own.
    shutil.copytree(indexed_service.settings.data_dir, data_dir, ignore=shutil.ignore_patterns("records.sqlite3*"))
    shutil.copytree(indexed_service.settings.corpus_dir, corpus_dir)
    return data_dir, corpus_dir
