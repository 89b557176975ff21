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

import numpy as np
import streamlit as st

from evals.report import EvalReport, latest_report as newest_report, load_report
from evals.report.compare import compare_reports
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


def latest_reports(settings: Settings, count: int = 2) -> list[Report]:
    """The newest `count` readable eval reports, newest first (the page compares the first two)."""
    folder = reports_dir(settings)
    candidates = sorted(folder.glob("eval-*.json"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    found: list[Report] = []
    for path in reversed(candidates):
        try:
            found.append(Report(path, load_report(path)))
        except (OSError, ValueError):
            continue  # a half-written or foreign file: fall back to the previous report
        if len(found) == count:
            break
    return found


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


def source_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One question's retrieved passages beside its gold sources: which retrieved files are gold (matched on a
    path suffix, as the retrieval metric does), and the gold files nothing retrieved."""
    gold = [str(g) for g in result.get("gold_sources") or []]

    def is_gold(source: str) -> bool:
        return any(source == g or source.endswith("/" + g) or g.endswith("/" + source) for g in gold)

    rows = [{"rank": r.get("rank"), "source": r.get("source"), "section": r.get("section"), "score": r.get("score"),
             "gold": is_gold(str(r.get("source", "")))} for r in result.get("retrieved") or []]
    retrieved = [str(r.get("source", "")) for r in result.get("retrieved") or []]
    rows += [{"rank": None, "source": g, "section": "(not retrieved)", "score": None, "gold": True}
             for g in gold if not any(s == g or s.endswith("/" + g) or g.endswith("/" + s) for s in retrieved)]
    return rows


def render_drilldown(data: EvalReport) -> None:
    """One question at a time: what was asked and answered, retrieved vs gold sources, citations, flags."""
    # As plain dicts: gold_sources, retrieved and reference_answer are extra fields of the typed result.
    results = [q.model_dump() for q in data.questions]
    if not results:
        return
    st.subheader("One question")
    ids = [str(r.get("id")) for r in results]
    chosen = st.selectbox("Question", ids, key="eval-question", format_func=lambda i: escape_markdown(
        f"{i} — {str(next(r for r in results if str(r.get('id')) == i).get('question', ''))[:90]}"))
    result = next(r for r in results if str(r.get("id")) == chosen)
    st.markdown(escape_markdown(str(result.get("question", ""))))
    if result.get("refused"):
        st.info(escape_markdown(str(result.get("answer", ""))), icon=":material/block:")
    else:
        st.markdown(escape_markdown(str(result.get("answer", ""))))
    if result.get("reference_answer"):
        st.caption(escape_markdown(f"Reference answer: {result['reference_answer']}"))
    st.caption("Retrieved passages and gold sources")
    st.dataframe(source_rows(result), hide_index=True)
    for citation in result.get("citations") or []:
        st.caption(escape_markdown(f"[{citation.get('n')}] {citation.get('source')} › {citation.get('section')}: "
                                   f"“{citation.get('quote')}”"))
    for flag in result.get("flags") or []:
        st.warning(escape_markdown(str(flag)), icon=":material/flag:")


def comparison_rows(previous: EvalReport, current: EvalReport) -> dict[str, Any]:
    """compare_reports(previous, current), as the tables the page draws."""
    result = compare_reports(previous, current)
    metrics = [{"metric": m["metric"], "previous": m["a"], "latest": m["b"], "change": m["delta"]}
               for m in result["metrics"]]
    questions = [{"id": q["id"], "change": q["change"],
                  "what": ", ".join(q.get("diffs", {}))} for q in result["questions"]]
    return {"comparable": result["comparable"], "settings": result["settings"], "metrics": metrics,
            "questions": questions}


def render_comparison(previous: Report, current: Report) -> None:
    st.subheader("Compared with the previous run")
    try:
        rows = comparison_rows(previous.data, current.data)
    except (KeyError, TypeError, AttributeError) as exc:  # a report from an older evals version lacks a field
        st.caption(escape_markdown(f"{previous.path.name} cannot be compared with this report (missing {exc})."))
        return
    st.caption(escape_markdown(f"{previous.path.name} → {current.path.name}"))
    if not rows["comparable"]:
        st.warning("Different dataset or metric definitions: the changes are not like for like.",
                   icon=":material/warning:")
    if rows["settings"]:
        st.caption(escape_markdown("Settings changed: " + "; ".join(
            f"{s['setting']}: {s['a']} → {s['b']}" for s in rows["settings"])))
    st.dataframe(rows["metrics"], hide_index=True)
    st.caption(f"{len(rows['questions'])} question(s) changed")
    if rows["questions"]:
        st.dataframe(rows["questions"], hide_index=True)


def _downloads(json_path: Path) -> None:
    files = [json_path] + [p for p in (json_path.with_suffix(".md"), json_path.with_suffix(".html")) if p.exists()]
    with st.container(horizontal=True):
        for path in files:
            st.download_button(f"Download {path.suffix[1:].upper()}", data=path.read_bytes(), file_name=path.name,
                               on_click="ignore", icon=":material/download:")
