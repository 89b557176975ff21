"""The eval report as typed data: the one module that writes and reads `eval-*.json`.

`run` builds an `EvalReport`; `write_reports` saves it as JSON beside its Markdown and HTML
renderings; `load_report` and `latest_report` read it back for `eval compare`, the summary and the
app's Evals page. Every model keeps keys it does not name (`extra="allow"`), so a report written by a
newer metric still loads, and the JSON round-trips unchanged. Fields have defaults so an older or
partial report still reads; what a field means is said once, here.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

KIND = "tutor-eval-report"


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow")


class MetricValue(_Record):
    """A mean over `n` scored items; `abstained` items had nothing to score (refusals, for
    faithfulness). With n = 0 the value is 0.0 and `note` says why, never NaN."""

    value: float
    n: int = 0
    abstained: int = 0
    note: str | None = None

    @property
    def scored(self) -> bool:
        return self.n > 0


class Verdict(_Record):
    sentence: str = ""
    supported: bool = False
    score: float = 0.0
    flags: list[str] = Field(default_factory=list)


class Faithfulness(_Record):
    score: float
    unsupported: list[str] = Field(default_factory=list)
    verdicts: list[Verdict] = Field(default_factory=list)


class CitationQuality(_Record):
    recall: float
    precision: float | None = None


class RetrievalResult(_Record):
    recall_at_k: float
    reciprocal_rank: float | None = None
    context_precision: float | None = None


class Choice(_Record):
    letter: str | None = None
    method: str = ""


class Correctness(_Record):
    token_f1: float | None = None
    semantic_similarity: float | None = None
    choice: Choice | None = None
    choice_correct: bool | None = None


class Refusal(_Record):
    correct: bool
    outcome: str = ""


class CitedPassage(_Record):
    n: int
    source: str = ""
    section: str = ""
    quote: str = ""


class Teaching(_Record):
    """Does the answer teach: key facts it contains, and whether its first sentence answers."""

    key_fact_coverage: float | None = None
    missing_facts: list[str] = Field(default_factory=list)
    first_sentence_answers: bool | None = None
    first_sentence: str = ""
    letter_stated_correct: bool | None = None  # multiple choice: the right letter stated first


class QuestionResult(_Record):
    """Every score of one answered question."""

    id: str
    question: str = ""
    answerable: bool = True
    answer: str = ""
    refused: bool = False
    citations: list[CitedPassage] = Field(default_factory=list)
    faithfulness: Faithfulness | None = None
    citation_quality: CitationQuality | None = None
    retrieval: RetrievalResult | None = None
    correctness: Correctness | None = None
    refusal: Refusal | None = None
    teaching: Teaching | None = None
    flags: list[str] = Field(default_factory=list)

    def tracked(self) -> dict[str, Any]:
        """The per-question values worth following from run to run (`eval compare`, the app's table)."""
        c, r = self.citation_quality, self.retrieval
        return {
            "refused": self.refused,
            "faithfulness": self.faithfulness.score if self.faithfulness else None,
            "citation recall": c.recall if c else None,
            "citation precision": c.precision if c else None,
            "recall@k": r.recall_at_k if r else None,
            "reciprocal rank": r.reciprocal_rank if r else None,
            "answer F1": self.correctness.token_f1 if self.correctness else None,
            "right option": self.correctness.choice_correct if self.correctness else None,
            "refusal correct": self.refusal.correct if self.refusal else None,
        }


class ModeScores(_Record):
    recall_at_k: float
    mrr: float
    n: int = 0


class Dataset(_Record):
    path: str = ""
    sha256: str | None = None
    items: int = 0


class EvalReport(_Record):
    kind: Literal["tutor-eval-report"]
    evals_version: str | None = None
    tutor_version: str | None = None
    created_at: str = ""
    seconds: float | None = None
    dataset: Dataset = Field(default_factory=Dataset)
    index: dict[str, Any] = Field(default_factory=dict)  # fingerprint, manifest, embedding model, store
    answerer: dict[str, Any] = Field(default_factory=dict)  # mode, model, top_k, chunking
    # Every tuning knob of the run, by stage (retrieval, guard, composer): `eval compare` names each change.
    knobs: dict[str, dict[str, Any]] = Field(default_factory=dict)
    scorer: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, MetricValue] = Field(default_factory=dict)
    retrieval_modes: dict[str, ModeScores] = Field(default_factory=dict)
    questions: list[QuestionResult] = Field(default_factory=list)
    threshold_failures: list[str] = Field(default_factory=list)

    @property
    def name(self) -> str:
        """The file name stem: dataset and time, e.g. eval-seed-gold-20261201T170000Z."""
        stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(self.dataset.path).stem)
        stamp = datetime.fromisoformat(self.created_at).strftime("%Y%m%dT%H%M%SZ")
        return f"eval-{stem}-{stamp}"

    def to_json(self) -> str:
        return self.model_dump_json(indent=2, exclude_unset=True) + "\n"


def write_reports(report: EvalReport, out_dir: Path) -> dict[str, Path]:
    """The report as JSON, Markdown and HTML, side by side under one name."""
    from evals.report.render import render_html, render_markdown

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / f"{report.name}.json", "markdown": out_dir / f"{report.name}.md",
             "html": out_dir / f"{report.name}.html"}
    paths["json"].write_text(report.to_json(), encoding="utf-8")
    paths["markdown"].write_text(render_markdown(report), encoding="utf-8")
    paths["html"].write_text(render_html(report), encoding="utf-8")
    return paths


def load_report(path: Path) -> EvalReport:
    """A JSON report; given a directory, the newest report in it."""
    if path.is_dir():
        newest = latest_report(path)
        if newest is None:
            raise FileNotFoundError(f"no eval-*.json report in {path}")
        return newest[1]
    try:
        return EvalReport.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise ValueError(f"{path} is not a tutor eval report ({exc.error_count()} problems, first: "
                         f"{'.'.join(map(str, exc.errors()[0]['loc']))}: {exc.errors()[0]['msg']})") from None


def latest_report(folder: Path) -> tuple[Path, EvalReport] | None:
    """The newest readable eval-*.json in `folder`: a half-written or foreign file is passed over."""
    candidates = sorted(folder.glob("eval-*.json"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    for path in reversed(candidates):
        try:
            return path, load_report(path)
        except (OSError, ValueError):
            continue
    return None
