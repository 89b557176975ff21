"""The latest evaluation report (`tutor eval run` writes eval-*.json/.md/.html to <data_dir>/reports),
drawn as scores, a per-question table and charts.

Reading goes through evals.report.load_report, so the page accepts exactly what the evals write.
The Markdown and HTML reports beside the JSON are offered as downloads, never rendered: they quote
documents and model answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from evals.report import EvalReport, latest_report as newest_report
from evals.report.render import BINS, histogram
from evals.summary import METRICS
from tutor.settings import Settings
from tutor_ui.text import escape_markdown

_PLOTTABLE = ("faithfulness", "citation recall", "citation precision", "recall@k", "reciprocal rank", "answer F1")


@dataclass
class Report:
    path: Path
    data: EvalReport


def reports_dir(settings: Settings) -> Path:
    return settings.data_dir / "reports"


def latest_report(settings: Settings) -> Report | None:
    """The newest eval report in the reports directory, or None when there is none."""
    found = newest_report(reports_dir(settings))
    return Report(*found) if found else None


def scored_metrics(data: EvalReport) -> dict[str, float]:
    """Metric -> value for the metrics that scored something (n > 0); the others are shown as notes."""
    return {name: m.value for name, m in data.metrics.items() if m.scored}


def question_rows(data: EvalReport) -> list[dict[str, Any]]:
    rows = []
    for result in data.questions:
        tracked = result.tracked()
        row: dict[str, Any] = {"id": result.id, "question": result.question, "answerable": result.answerable}
        row.update((column, tracked[column]) for column in ("refused", "faithfulness", "citation recall",
                                                             "citation precision", "recall@k", "reciprocal rank",
                                                             "answer F1", "refusal correct"))
        row["flags"] = ", ".join(str(f) for f in result.flags)
        rows.append(row)
    return rows


def render_report(report: Report) -> None:
    data = report.data
    index = data.index
    st.caption(escape_markdown(
        f"{data.created_at} · {Path(data.dataset.path).name} ({data.dataset.items or '?'} "
        f"questions) · answerer {data.answerer.get('llm_model') or data.answerer.get('mode') or '?'} · index "
        f"{index.get('documents', '?')} documents, {index.get('chunks', '?')} chunks ({index.get('fingerprint', '')})"
        f" · {data.seconds if data.seconds is not None else '?'} s"))
    if data.threshold_failures:
        st.error(escape_markdown("Below the minimum: " + "; ".join(data.threshold_failures)), icon=":material/error:")

    st.subheader("Scores")
    columns = st.columns(4)
    for n, (name, metric) in enumerate(data.metrics.items()):
        help_text = f"{METRICS.get(name, name)}. Scored over {metric.n} answers, " \
                    f"{metric.abstained} abstained." + (f" {metric.note}." if metric.note else "")
        columns[n % 4].metric(name.replace("_", " "), f"{metric.value:.2f}" if metric.scored else "—",
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
        edges = np.linspace(0.0, 1.0, BINS + 1)
        st.bar_chart({"questions": {f"{edges[i]:.1f}": c for i, c in enumerate(histogram(values))}},
                     x_label=column, y_label="questions")
    _downloads(report.path)


def _downloads(json_path: Path) -> None:
    files = [json_path] + [p for p in (json_path.with_suffix(".md"), json_path.with_suffix(".html")) if p.exists()]
    with st.container(horizontal=True):
        for path in files:
            st.download_button(f"Download {path.suffix[1:].upper()}", data=path.read_bytes(), file_name=path.name,
                               on_click="ignore", icon=":material/download:")
