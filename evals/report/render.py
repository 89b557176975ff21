"""The report for people: Markdown for pull requests and a self-contained HTML page (inline CSS and
SVG, no scripts, nothing fetched), both from Jinja2 templates in `templates/`. The HTML environment
autoescapes, so nothing the dataset, the documents or a model wrote can become markup; Markdown
cells lose pipes and line breaks instead."""

from __future__ import annotations

from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from evals.report.model import EvalReport, MetricValue, QuestionResult
from evals.summary import METRICS

BINS = 10


def histogram(values: list[float], bins: int = BINS) -> list[int]:
    """Counts of scores in [0, 1] per tenth (the top bin includes 1.0)."""
    counts, _ = np.histogram(np.clip(np.asarray(values, dtype=float), 0.0, 1.0), bins=bins, range=(0.0, 1.0))
    return [int(c) for c in counts]


def distributions(questions: list[QuestionResult]) -> dict[str, list[float]]:
    """Per-question score lists for the charts (questions without that score are left out)."""
    series: dict[str, list[float | None]] = {
        "faithfulness": [q.faithfulness.score if q.faithfulness else None for q in questions],
        "citation recall": [q.citation_quality.recall if q.citation_quality else None for q in questions],
        "recall@k": [q.retrieval.recall_at_k if q.retrieval else None for q in questions],
        "answer similarity": [q.correctness.semantic_similarity if q.correctness else None for q in questions],
    }
    return {name: [float(v) for v in values if v is not None] for name, values in series.items()}


def _cell(text: Any) -> str:
    """Table-safe Markdown text: no pipes or line breaks, shortened."""
    value = " ".join(str(text if text is not None else "").split()).replace("|", "\\|")
    return value if len(value) <= 160 else value[:157] + "..."


def _meaning(name: str, metric: MetricValue) -> str:
    return METRICS.get(name, "") + (f" ({metric.note})" if metric.note else "")


def _environment(autoescape: bool) -> Environment:
    env = Environment(loader=PackageLoader("evals.report", "templates"), undefined=StrictUndefined,
                      autoescape=select_autoescape(default=autoescape, default_for_string=autoescape),
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["cell"] = _cell
    env.filters["num"] = lambda value, digits=2: "—" if value is None else f"{value:.{digits}f}"
    env.globals.update(meaning=_meaning, histogram=histogram, bins=BINS)
    return env


_MARKDOWN = _environment(autoescape=False)
_HTML = _environment(autoescape=True)


def render_markdown(report: EvalReport) -> str:
    return _MARKDOWN.get_template("report.md.j2").render(report=report)


def metric_table(report: EvalReport) -> str:
    """The metrics as a Markdown table (printed by `eval run`)."""
    return _MARKDOWN.get_template("metrics.md.j2").render(report=report).rstrip("\n")


def render_html(report: EvalReport) -> str:
    return _HTML.get_template("report.html.j2").render(report=report, charts=distributions(report.questions))
