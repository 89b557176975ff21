"""The `tutor` command. It only calls the library; expected failures print a one-line reason."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from tutor.errors import TutorError
from tutor.settings import Settings


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]


def _service(ctx: click.Context):
    from tutor.service import TutorService  # imports torch: only for commands that need it

    if "service" not in ctx.obj:
        ctx.obj["service"] = TutorService(_settings(ctx))
    return ctx.obj["service"]


class TutorGroup(click.Group):
    """Turns the tutor's own errors into a message and exit code 2, not a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except TutorError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=TutorGroup)
@click.option("--data-dir", type=click.Path(path_type=Path), help="Data directory (env TUTOR_DATA_DIR).")
@click.option("--corpus-dir", type=click.Path(path_type=Path), help="Course library (env TUTOR_CORPUS_DIR).")
@click.option("--chroma-url", help="Chroma server URL (env TUTOR_CHROMA_URL).")
@click.option("--collection", help="Chroma collection (env TUTOR_COLLECTION).")
@click.version_option(package_name="tutor")
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None, corpus_dir: Path | None, chroma_url: str | None,
         collection: str | None) -> None:
    """A course tutor that answers from the course documents, with citations."""
    overrides = {k: v for k, v in dict(data_dir=data_dir, corpus_dir=corpus_dir, chroma_url=chroma_url,
                                       collection=collection).items() if v is not None}
    ctx.ensure_object(dict)
    try:
        ctx.obj["settings"] = Settings(**overrides)
    except (TutorError, ValueError) as exc:
        raise click.UsageError(str(exc)) from exc


@main.command("ingest")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--prune", is_flag=True, help="Remove indexed files that no longer exist under PATHS.")
@click.option("--dry-run", is_flag=True, help="Show what would change (with --prune: what would be removed).")
@click.option("--rebuild", is_flag=True, help="Drop the whole index first and re-embed everything.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON report; no progress bar.")
@click.pass_context
def ingest_command(ctx: click.Context, paths: tuple[Path, ...], prune: bool, dry_run: bool, rebuild: bool,
                   as_json: bool) -> None:
    """Index course documents (default: the corpus directory) into Chroma.

    Reads .md/.markdown/.txt (YAML front matter becomes metadata), .pdf, .html/.htm and .docx.
    Unchanged files are skipped; changed files replace their own chunks. Exits 1 if any file failed.
    """
    if rebuild and dry_run:
        raise click.UsageError("--rebuild and --dry-run cannot be combined")
    if rebuild and paths:
        raise click.UsageError("--rebuild re-indexes the whole corpus directory; run it without PATHS")
    service = _service(ctx)
    if rebuild:
        service.rebuild()
    report = service.ingest(list(paths) or None, prune=prune, dry_run=dry_run, quiet=as_json,
                            on_wait=lambda message: click.echo(message, err=True))
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        for outcome in report.outcomes:
            if outcome.status == "failed":
                click.echo(f"FAILED   {outcome.source}: {outcome.error}", err=True)
            elif outcome.status == "removed":
                verb = "would remove" if report.dry_run else "removed"
                click.echo(f"{verb:<8} {outcome.source} ({outcome.chunks} chunks)")
            elif outcome.status != "unchanged":
                verb = f"would {outcome.status[:-1]}" if report.dry_run else outcome.status
                click.echo(f"{verb:<8} {outcome.source} ({outcome.chunks} chunks, {outcome.embedded} embedded)")
        for source, warning in report.warnings:
            click.echo(f"WARNING  {source}, {warning}", err=True)
        click.echo(report.summary())
    sys.exit(report.exit_code)


@main.command("remove")
@click.argument("sources", nargs=-1, required=True)
@click.pass_context
def remove_command(ctx: click.Context, sources: tuple[str, ...]) -> None:
    """Remove documents from the index by source name (as `tutor status --documents` lists them)."""
    for outcome in _service(ctx).remove(list(sources)):
        click.echo(f"removed  {outcome.source} ({outcome.chunks} chunks)")


@main.command("status")
@click.option("--documents", is_flag=True, help="List every indexed document.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def status_command(ctx: click.Context, documents: bool, as_json: bool) -> None:
    """What is indexed: documents, chunks, last ingest, embedding model, store location."""
    service = _service(ctx)
    status = service.status()
    docs = service.documents() if documents or as_json else []
    if as_json:
        status["files"] = [d.__dict__ for d in docs]
        click.echo(json.dumps(status, indent=2))
        return
    for key in ("documents", "chunks", "last_ingest", "embedding_model", "store", "store_kind", "collection",
                "corpus_dir", "answerer"):
        click.echo(f"{key.replace('_', ' '):<16} {status[key] if status[key] is not None else 'never'}")
    for doc in docs:
        click.echo(f"  {doc.source}  ({doc.chunks} chunks, {doc.ingested_at})  {doc.title}")


def app_path() -> Path:
    """The Streamlit app: `ui/` sits beside the `tutor` package in a checkout and in an installed
    wheel alike (the wheel ships it, pages included)."""
    app = Path(__file__).resolve().parent.parent / "ui" / "app.py"
    if not app.exists():
        raise TutorError(f"The Streamlit app is missing at {app}")
    return app


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8501, show_default=True, type=int)
@click.pass_context
def serve_command(ctx: click.Context, host: str, port: int) -> None:
    """Serve the chat (Streamlit) on HOST:PORT."""
    import os

    app = app_path()
    settings = _settings(ctx)
    env = dict(os.environ, TUTOR_DATA_DIR=str(settings.data_dir.resolve()),
               TUTOR_CORPUS_DIR=str(settings.corpus_dir.resolve()), TUTOR_COLLECTION=settings.collection)
    if settings.chroma_url:
        env["TUTOR_CHROMA_URL"] = settings.chroma_url
    click.echo(f"Serving the tutor at http://{host}:{port}", err=True)
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", host,
               "--server.port", str(port), "--server.headless", "true", "--browser.gatherUsageStats", "false",
               "--client.toolbarMode", "viewer", "--client.showErrorDetails", "none"]
    # showErrorDetails none: a student never sees a traceback, only Streamlit's short error notice.
    # Replace this process with Streamlit: stopping `tutor serve` (Ctrl-C, SIGTERM) stops the server,
    # with no orphaned child left listening on the port.
    os.execve(sys.executable, command, env)


def _render_answer(answer, *, show_sources: bool = True) -> None:
    """Plain-text rendering of an Answer: its text, then where each [n] comes from."""
    from tutor.text import heading_label

    if answer.incomplete:
        click.echo(f"(incomplete: {answer.error})", err=True)
    elif answer.error:
        click.echo(f"(error: {answer.error})", err=True)
    if not show_sources or not answer.citations:
        return
    click.echo("\nSources:")
    for citation in answer.citations:
        click.echo(f"  [{citation.n}] {citation.source} — {heading_label(citation.title, citation.section)}")
        click.echo(f"      “{citation.quote}”")


@main.command("ask")
@click.argument("question")
@click.option("--json", "as_json", is_flag=True,
              help="Print the answer, citations, retrieved passages with scores and `refused` as JSON.")
@click.pass_context
def ask_command(ctx: click.Context, question: str, as_json: bool) -> None:
    """Answer QUESTION from the course documents, citing its sources [n]."""
    service = _service(ctx)
    if as_json:
        click.echo(json.dumps(service.ask(question).to_dict(), indent=2, ensure_ascii=False))
        return
    stream = service.ask_stream(question)
    for delta in stream:
        click.echo(delta, nl=False)
    click.echo()
    _render_answer(stream.answer)


@main.command("chat")
@click.pass_context
def chat_command(ctx: click.Context) -> None:
    """A conversation in the terminal: one question a line; /new starts over, /quit or EOF ends."""
    from tutor.models import Turn

    service = _service(ctx)
    history: list[Turn] = []
    interactive = sys.stdin.isatty()
    click.echo("Ask about the course. /new starts a new conversation, /quit ends.", err=True)
    while True:
        if interactive:
            click.echo("you> ", nl=False, err=True)
        line = sys.stdin.readline()
        if not line or line.strip() == "/quit":
            break
        question = line.strip()
        if not question:
            continue
        if question == "/new":
            history = []
            click.echo("(new conversation)", err=True)
            continue
        click.echo("tutor> ", nl=False)
        stream = service.ask_stream(question, history)
        for delta in stream:
            click.echo(delta, nl=False)
        click.echo()
        answer = stream.answer
        _render_answer(answer)
        click.echo()
        history += [Turn("user", question), Turn("assistant", answer.text)]


def _attach_eval_commands() -> None:
    from evals.cli import eval_group  # evals/cli.py imports only click and settings; its commands load the rest

    main.add_command(eval_group, "eval")


_attach_eval_commands()
