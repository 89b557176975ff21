"""The latest evaluation report (`tutor eval run` writes eval-*.json/.md/.html to <data_dir>/reports),
drawn as scores, a per-question table and charts.

Reading goes through evals.report.load_report, so the page accepts exactly what the evals write.
The Markdown and HTML reports beside the JSON are offered as downloads, never rendered: they quote
documents and model answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from evals.report import load_report
from evals.summary import METRICS
from tutor.settings import Settings
from tutor_ui.text import escape_markdown

# Per-question columns: header -> path into a question's result.
QUESTION_COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("id",),
    "question": ("question",),
    "answerable": ("answerable",),
    "refused": ("refused",),
    "faithfulness": ("faithfulness", "score"),
    "citation recall": ("citation_quality", "recall"),
    "citation precision": ("citation_quality", "precision"),
    "recall@k": ("retrieval", "recall_at_k"),
    "reciprocal rank": ("retrieval", "reciprocal_rank"),
    "answer F1": ("correctness", "token_f1"),
    "refusal correct": ("refusal", "correct"),
}
_PLOTTABLE = ("faithfulness", "citation recall", "citation precision", "recall@k", "reciprocal rank", "answer F1")


@dataclass
class Report:
    path: Path
    data: dict[str, Any]


def reports_dir(settings: Settings) -> Path:
    return settings.data_dir / "reports"


def latest_report(settings: Settings) -> Report | None:
    """The newest eval report in the reports directory, or None when there is none."""
    folder = reports_dir(settings)
    candidates = sorted(folder.glob("eval-*.json"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    for path in reversed(candidates):
        try:
            return Report(path, load_report(path))
        except (OSError, ValueError):
            continue  # a half-written or foreign file: fall back to the previous report
    return None


def scored_metrics(data: Mapping[str, Any]) -> dict[str, float]:
    """Metric -> value for the metrics that scored something (n > 0); the others are shown as notes."""
    return {name: float(m["value"]) for name, m in data.get("metrics", {}).items() if m.get("n", 0) > 0}


def question_rows(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for result in data.get("questions", []):
        row = {header: _get(result, path) for header, path in QUESTION_COLUMNS.items()}
        row["flags"] = ", ".join(str(f) for f in result.get("flags") or [])
        rows.append(row)
    return rows


def render_report(report: Report) -> None:
    data = report.data
    answerer = data.get("answerer", {})
    index = data.get("index", {})
    dataset = data.get("dataset", {})
    st.caption(escape_markdown(
        f"{data.get('created_at', '')} · {Path(str(dataset.get('path', ''))).name} ({dataset.get('items', '?')} "
        f"questions) · answerer {answerer.get('llm_model') or answerer.get('mode') or '?'} · index "
        f"{index.get('documents', '?')} documents, {index.get('chunks', '?')} chunks ({index.get('fingerprint', '')})"
        f" · {data.get('seconds', '?')} s"))
    failures = data.get("threshold_failures") or []
    if failures:
        st.error(escape_markdown("Below the minimum: " + "; ".join(failures)), icon=":material/error:")

    st.subheader("Scores")
    metrics = data.get("metrics", {})
    columns = st.columns(4)
    for n, (name, metric) in enumerate(metrics.items()):
        scored = metric.get("n", 0) > 0
        help_text = f"{METRICS.get(name, name)}. Scored over {metric.get('n', 0)} answers, " \
                    f"{metric.get('abstained', 0)} abstained." + (f" {metric['note']}." if metric.get("note") else "")
        columns[n % 4].metric(name.replace("_", " "), f"{metric['value']:.2f}" if scored else "—",
                              help=escape_markdown(help_text))
    scores = scored_metrics(data)
    if scores:
        st.bar_chart({"score": scores}, horizontal=True, x_label="score", y_label="")

    rows = question_rows(data)
    st.subheader(f"Per question ({len(rows)})")
    st.dataframe(rows, hide_index=True)
    plottable = [c for c in _PLOTTABLE if any(isinstance(r[c], (int, float)) for r in rows)]
    if plottable:
        column = st.selectbox("Distribution of", plottable)
        values = [float(r[column]) for r in rows if isinstance(r[column], (int, float))]
        st.bar_chart(_histogram(values), x_label=column, y_label="questions")
    _downloads(report.path)


def _downloads(json_path: Path) -> None:
    files = [json_path] + [p for p in (json_path.with_suffix(".md"), json_path.with_suffix(".html")) if p.exists()]
    with st.container(horizontal=True):
        for path in files:
            st.download_button(f"Download {path.suffix[1:].upper()}", data=path.read_bytes(), file_name=path.name,
                               on_click="ignore", icon=":material/download:")


def _get(result: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = result
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _histogram(values: list[float], bins: int = 10) -> dict[str, dict[str, int]]:
    """Counts per tenth of the 0..1 range (scores are shares), labelled by their lower edge."""
    counts = [0] * bins
    for value in values:
        counts[min(max(int(value * bins), 0), bins - 1)] += 1
    return {"questions": {f"{i / bins:.1f}": c for i, c in enumerate(counts)}}
