"""Reports of an eval run: JSON for machines (and `eval compare`), Markdown for pull requests, a
self-contained HTML page for people. All three are written side by side under one name."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from evals.report.html import render_html
from evals.report.markdown import render_markdown


def report_name(report: dict[str, Any]) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(report["dataset"]["path"]).stem)
    stamp = datetime.fromisoformat(report["created_at"]).strftime("%Y%m%dT%H%M%SZ")
    return f"eval-{stem}-{stamp}"


def write_reports(report: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    name = report_name(report)
    paths = {"json": out_dir / f"{name}.json", "markdown": out_dir / f"{name}.md", "html": out_dir / f"{name}.html"}
    paths["json"].write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    paths["markdown"].write_text(render_markdown(report), encoding="utf-8")
    paths["html"].write_text(render_html(report), encoding="utf-8")
    return paths


def load_report(path: Path) -> dict[str, Any]:
    """A JSON report; given a directory, the newest report in it."""
    if path.is_dir():
        candidates = sorted(path.glob("eval-*.json"), key=lambda p: p.stat().st_mtime)
        if not candidates:
            raise FileNotFoundError(f"no eval-*.json report in {path}")
        path = candidates[-1]
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("kind") != "tutor-eval-report":
        raise ValueError(f"{path} is not a tutor eval report")
    return data
