"""Finding and drawing the latest evaluation report (written by `evals` into <data_dir>/reports)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from tutor.settings import Settings
from tutor_ui.text import escape_markdown


@dataclass
class Report:
    path: Path
    data: dict[str, Any]


def reports_dir(settings: Settings) -> Path:
    return settings.data_dir / "reports"


def latest_report(settings: Settings) -> Report | None:
    """The newest JSON report, or None when there is none (or it cannot be read)."""
    folder = reports_dir(settings)
    candidates = sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True) if folder.is_dir() else []
    for path in candidates:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            return Report(path, data)
    return None


def render_report(report: Report) -> None:
    st.caption(escape_markdown(f"Report: {report.path}"))
    st.json(report.data, expanded=False)
