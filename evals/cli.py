"""The `tutor eval` commands (also `python -m evals`). They only call the evals library."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import click

from tutor.errors import TutorError
from tutor.settings import Settings

# Threshold options: --min-<metric> for every summary metric (see evals/summary.py).
_THRESHOLDS = {
    "faithfulness": "faithfulness", "citation-recall": "citation_recall",
    "citation-precision": "citation_precision", "recall": "recall_at_k", "mrr": "mrr",
    "context-precision": "context_precision", "answer-f1": "answer_f1", "answer-similarity": "answer_similarity",
    "mcq-accuracy": "mcq_accuracy", "refusal-accuracy": "refusal_accuracy",
}


def _settings(ctx: click.Context) -> Settings:
    """The parent `tutor` group's settings, or fresh ones under `python -m evals`."""
    root = ctx.find_root()
    if isinstance(root.obj, dict) and isinstance(root.obj.get("settings"), Settings):
        return root.obj["settings"]
    return Settings()


def _eval_settings(settings: Settings, corpus: Path) -> Settings:
    """Its own index per corpus (under <data_dir>/evals/<hash of the corpus path>), so re-runs are
    incremental and the course index is never touched."""
    key = hashlib.sha256(str(corpus.resolve()).encode()).hexdigest()[:12]
    update: dict[str, object] = {"data_dir": settings.data_dir / "evals" / key, "corpus_dir": corpus}
    if settings.chroma_url:  # a shared server: keep the eval index in its own collection
        update["collection"] = f"eval-{key}"
    return settings.model_copy(update=update)


def _progress(label: str):
    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(total=total, desc=label, file=sys.stderr, leave=False)
        bar.update(1)
        if done == total:
            bar.close()

    return update


class EvalGroup(click.Group):
    """Expected failures (bad dataset, nothing indexed, unreachable judge) become one line and exit 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (TutorError, FileNotFoundError, ValueError) as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)


@click.group("eval", cls=EvalGroup)
def eval_group() -> None:
    """Measure the tutor: faithfulness, citations, retrieval, correctness, refusals."""


def _threshold_options(command):
    for flag, metric in reversed(_THRESHOLDS.items()):
        command = click.option(f"--min-{flag}", metric, type=click.FloatRange(0, 1), default=None,
                               help=f"Exit 1 if {metric} is below this.")(command)
    return command


@eval_group.command("run")
@click.option("--dataset", "dataset_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Question set (.jsonl, schema in ../shared/README.md).")
@click.option("--corpus", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Index this directory into its own eval index first (incremental) and ask over it.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where to write the reports [default: <data dir>/reports].")
@click.option("--scorer", type=click.Choice(["offline", "llm"]), default="offline", show_default=True,
              help="Faithfulness scorer; llm needs OPENAI_API_KEY (and OPENAI_BASE_URL).")
@click.option("--limit", type=click.IntRange(1), help="Only the first N questions.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@_threshold_options
@click.pass_context
def run_command(ctx: click.Context, dataset_path: Path, corpus: Path | None, out_dir: Path | None, scorer: str,
                limit: int | None, quiet: bool, **minimums: float | None) -> None:
    """Ask every question of DATASET through the answering chain and score the answers.

    Writes eval-<dataset>-<time>.json/.md/.html and prints the metrics. With --min-* thresholds,
    exits 1 when a metric is below its minimum (or nothing was scored for it).
    """
    from evals.data import load_questions
    from evals.metrics.faithfulness import build_scorer
    from evals.report import write_reports
    from evals.report.render import metric_table
    from evals.runner import RunOptions, run
    from evals.summary import check_thresholds
    from tutor.service import TutorService

    settings = _settings(ctx)
    dataset = load_questions(dataset_path)
    service_settings = _eval_settings(settings, corpus) if corpus else settings
    service = TutorService(service_settings)
    if corpus:
        report = service.ingest([corpus], prune=True, quiet=quiet)
        for outcome in report.failed:
            click.echo(f"warning: not indexed: {outcome.source} ({outcome.error})", err=True)
    faithfulness_scorer = build_scorer(scorer, service_settings, service.embedder)
    thresholds = {metric: value for metric, value in minimums.items() if value is not None}
    result = run(service, faithfulness_scorer,
                 RunOptions(dataset=dataset, corpus=corpus, limit=limit,
                            on_progress=None if quiet else _progress("questions")))
    failures = check_thresholds(result.metrics, thresholds)
    result.thresholds = thresholds  # type: ignore[attr-defined]  # an extra field, kept in the JSON
    result.threshold_failures = failures
    paths = write_reports(result, out_dir or settings.data_dir / "reports")
    click.echo(metric_table(result))
    click.echo(f"index {result.index['fingerprint']}; reports: {paths['json']}, {paths['markdown'].name}, "
               f"{paths['html'].name}")
    for failure in failures:
        click.echo(f"BELOW THRESHOLD {failure}", err=True)
    if failures:
        sys.exit(1)


@eval_group.command("judge")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--scorer", type=click.Choice(["offline", "llm"]), default="offline", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.pass_context
def judge_command(ctx: click.Context, files: tuple[Path, ...], scorer: str, as_json: bool, quiet: bool) -> None:
    """Score human-labelled faithfulness judgements (FILES: .jsonl or directories of them).

    Prints AUROC, balanced accuracy and F1 at the scorer's threshold per dataset, beside a plain
    word-overlap baseline computed in the same run.
    """
    from evals.data import load_judgements
    from evals.judge import format_table, judge_all
    from evals.metrics.faithfulness import build_scorer
    from tutor.embeddings import build_embedder

    settings = _settings(ctx)
    judgements = load_judgements(list(files))
    embedder = build_embedder(settings)
    faithfulness_scorer = build_scorer(scorer, settings, embedder)
    result = judge_all(judgements, faithfulness_scorer, None if quiet else _progress("judgements"))
    click.echo(json.dumps(result, indent=2) if as_json else format_table(result, faithfulness_scorer.name))


@eval_group.command("compare")
@click.argument("report_a", type=click.Path(exists=True, path_type=Path))
@click.argument("report_b", type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare_command(report_a: Path, report_b: Path, as_json: bool) -> None:
    """Show what changed from report A to report B (JSON reports, or directories: their newest)."""
    from evals.report import load_report
    from evals.report.compare import compare_reports, format_comparison

    result = compare_reports(load_report(report_a), load_report(report_b))
    click.echo(json.dumps(result, indent=2) if as_json else format_comparison(result))
