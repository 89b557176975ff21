"""Reports of an eval run: typed data (`model.py`, the one writer and reader of the JSON), rendered
as Markdown for pull requests and a self-contained HTML page for people (`render.py`), compared
run to run (`compare.py`)."""

from evals.report.model import EvalReport, MetricValue, QuestionResult, latest_report, load_report, write_reports

__all__ = ["EvalReport", "MetricValue", "QuestionResult", "latest_report", "load_report", "write_reports"]
