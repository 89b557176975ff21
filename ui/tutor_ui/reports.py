"""Finding and drawing the latest evaluation report (written by `tutor eval run` into <data_dir>/reports).

The page reads the JSON report only, and tolerates its shape growing: the scores are the numbers
under its summary, the per-question table is its list of question results with scalar fields kept.
The Markdown and HTML reports beside it are offered as downloads, never rendered: they quote
documents and model answers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from tutor.settings import Settings
from tutor_ui.text import escape_markdown

_SUMMARY_KEYS = ("summary", "scores", "metrics", "aggregate", "aggregates", "totals")
_ROW_KEYS = ("questions", "results", "items", "cases", "rows", "per_question")
_META_KEYS = ("created_at", "generated_at", "timestamp", "mode", "answerer", "dataset", "index_fingerprint",
              "fingerprint", "evals_version", "questions_count")


@dataclass
class Report:
    path: Path
    data: dict[str, Any]


def reports_dir(settings: Settings) -> Path:
    return settings.data_dir / "reports"


def latest_report(settings: Settings) -> Report | None:
    """The newest readable JSON report, or None when there is none."""
    folder = reports_dir(settings)
    paths = sorted(folder.rglob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True) if folder.is_dir() else []
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            return Report(path, data)
    return None


def summary_scores(data: Mapping[str, Any]) -> dict[str, float]:
    """Metric name -> score, from the report's summary ({"faithfulness": 0.9} or {"faithfulness":
    {"mean": 0.9, ...}}); booleans and counts of questions are not scores."""
    for key in _SUMMARY_KEYS:
        block = data.get(key)
        if isinstance(block, Mapping):
            scores = {name: value for name, value in ((n, _score(v)) for n, v in block.items())
                      if value is not None and not _is_count(name)}
            if scores:
                return scores
    return {}


def question_rows(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One flat row per question: scalar fields, and nested scores as 'metric.field'."""
    for key in _ROW_KEYS:
        rows = data.get(key)
        if isinstance(rows, list) and rows and all(isinstance(r, Mapping) for r in rows):
            return [_flatten(r) for r in rows]
    return []


def render_report(report: Report) -> None:
    data = report.data
    meta = {k: data[k] for k in _META_KEYS if isinstance(data.get(k), (str, int, float))}
    st.caption(escape_markdown(" · ".join([f"{k.replace('_', ' ')}: {v}" for k, v in meta.items()]
                                          + [f"file: {report.path.name}"])))
    scores = summary_scores(data)
    if scores:
        st.subheader("Scores")
        columns = st.columns(min(len(scores), 4))
        for n, (name, value) in enumerate(scores.items()):
            columns[n % len(columns)].metric(name.replace("_", " "), f"{value:.2f}" if value <= 1.5 else f"{value:g}")
        st.bar_chart({"score": scores}, horizontal=True, y_label="", x_label="score")
    rows = question_rows(data)
    if rows:
        st.subheader(f"Per question ({len(rows)})")
        st.dataframe(rows, hide_index=True)
        numeric = [k for k in rows[0] if all(isinstance(r.get(k), (int, float)) and not isinstance(r.get(k), bool)
                                             for r in rows)]
        if numeric:
            metric = st.selectbox("Distribution of", numeric)
            st.bar_chart(_histogram([float(r[metric]) for r in rows]), x_label=metric, y_label="questions")
    if not scores and not rows:
        st.json(data, expanded=False)
    _downloads(report.path)


def _downloads(json_path: Path) -> None:
    siblings = [json_path] + [json_path.with_suffix(s) for s in (".md", ".html") if json_path.with_suffix(s).exists()]
    with st.container(horizontal=True):
        for path in siblings:
            st.download_button(f"Download {path.suffix[1:].upper()}", data=path.read_bytes(), file_name=path.name,
                               on_click="ignore", icon=":material/download:")


def _is_count(name: str) -> bool:
    return name in {"n", "questions", "count", "total", "errors"} or name.endswith(("_count", "_total"))


def _score(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, Mapping):
        for key in ("mean", "score", "value", "rate", "average"):
            if isinstance(value.get(key), (int, float)) and not isinstance(value.get(key), bool):
                return float(value[key])
    return None


def _flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, (str, int, float, bool)) or value is None:
            flat[name] = value
    return flat


def _histogram(values: list[float], bins: int = 10) -> dict[str, dict[str, int]]:
    low, high = min(values), max(values)
    width = (high - low) / bins or 1.0
    counts = [0] * bins
    for value in values:
        counts[min(int((value - low) / width), bins - 1)] += 1
    return {"questions": {f"{low + i * width:.2f}": c for i, c in enumerate(counts)}}
