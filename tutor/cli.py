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


def _record(ctx: click.Context, answer, *, session_id: str, channel: str, started: float) -> None:
    """The recording hook (tutor.records): one row per answered question, unless TUTOR_RECORD_QUESTIONS=0."""
    import time

    from tutor.records import QuestionRecorder

    recorder = ctx.obj.setdefault("recorder", QuestionRecorder(_settings(ctx)))
    recorder.record(answer, session_id=session_id, channel=channel, latency_s=time.perf_counter() - started)
    if recorder.last_error:
        click.echo(f"(warning: {recorder.last_error})", err=True)


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
@click.option("--rebuild", is_flag=True,
              help="Re-embed the whole corpus into a new index; it replaces the current one when complete.")
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
    on_wait = lambda message: click.echo(message, err=True)  # noqa: E731
    if rebuild:
        report = service.rebuild(quiet=as_json, on_wait=on_wait)
    else:
        report = service.ingest(list(paths) or None, prune=prune, dry_run=dry_run, quiet=as_json, on_wait=on_wait)
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
                "live_collection", "generation", "corpus_dir", "answerer"):
        click.echo(f"{key.replace('_', ' '):<16} {status[key] if status[key] is not None else 'never'}")
    floor = status["relevance_floor"]
    click.echo(f"{'relevance floor':<16} " + (
        f"{floor['question']:.3f} (questions), {floor['passage']:.3f} (passages); off-course probes reach "
        f"{floor['off_course']:.3f}, the course's own sentences {floor['in_course']:.3f}" if floor
        else "not calibrated yet (the next `tutor ingest` computes it)"))
    if status["interrupted"]:
        click.echo(f"INTERRUPTED      {status['interrupted']}")
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


_ASK_MODES = click.Choice(["explain", "hint"])


@main.command("ask")
@click.argument("question")
@click.option("--mode", type=_ASK_MODES, default="explain", show_default=True,
              help="explain: the answer, cited; hint: a guiding question that points to the section.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the answer, citations, retrieved passages with scores and `refused` as JSON.")
@click.pass_context
def ask_command(ctx: click.Context, question: str, mode: str, as_json: bool) -> None:
    """Answer QUESTION from the course documents, citing its sources [n].

    Exits 1 when the language model failed (no answer, or an incomplete one), so scripts can tell."""
    import time

    from tutor.records import new_session_id

    service = _service(ctx)
    started = time.perf_counter()
    if as_json:
        answer = service.ask(question, mode=mode)
        click.echo(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
    else:
        stream = service.ask_stream(question, mode=mode)
        for delta in stream:
            click.echo(delta, nl=False)
        click.echo()
        answer = stream.answer
        _render_answer(answer)
    _record(ctx, answer, session_id=new_session_id(), channel="ask", started=started)
    if answer.error or answer.incomplete:
        sys.exit(1)


@main.command("quiz")
@click.argument("topic", nargs=-1, required=True)
@click.option("--count", default=4, show_default=True, type=click.IntRange(1, 20), help="Number of questions.")
@click.option("--json", "as_json", is_flag=True, help="Print the quiz as JSON (answer keys included).")
@click.pass_context
def quiz_command(ctx: click.Context, topic: tuple[str, ...], count: int, as_json: bool) -> None:
    """A quiz on TOPIC ("chapter 8", "reinforcement"): cloze and multiple-choice items on the key
    terms of the best-matching sections, each with its answer key quoted from a cited passage."""
    quiz = _service(ctx).quiz(" ".join(topic), count=count)
    if as_json:
        click.echo(json.dumps(quiz.to_dict(), indent=2, ensure_ascii=False))
        return
    if not quiz.items:
        raise click.ClickException(f"No quiz: the course materials do not cover “{quiz.topic}”.")
    from tutor.answer.tutoring import item_text

    for number, item in enumerate(quiz.items, start=1):
        click.echo(item_text(item, number, len(quiz.items)))
        answer = f"{item.answer}. {item.choices['ABCD'.index(item.answer)]}" if item.choices else item.answer
        click.echo(f"  Answer: {answer} — “{item.citations[0].quote}” ({item.citations[0].source})\n")


@main.command("chat")
@click.option("--mode", type=click.Choice(["explain", "hint", "quiz"]), default="explain", show_default=True,
              help="explain: answers; hint: guiding questions first; quiz: each line is a topic to be quizzed on.")
@click.pass_context
def chat_command(ctx: click.Context, mode: str) -> None:
    """A conversation in the terminal: one question a line; /new starts over, /quit or EOF ends.
    "quiz me on TOPIC" (or any line in --mode quiz) starts a quiz: answer each item on its own line."""
    import time

    from tutor.answer.tutoring import QuizSession, quiz_request
    from tutor.models import Turn
    from tutor.records import new_session_id

    service = _service(ctx)
    session_id = new_session_id()  # one pseudonym for the whole terminal conversation
    history: list[Turn] = []
    session: QuizSession | None = None
    last_sources: list[str] = []  # files the last answer cited: a bare "quiz me" quizzes on them
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
            history, session = [], None
            click.echo("(new conversation)", err=True)
            continue
        if session is not None:
            _, feedback = session.answer(question)
            click.echo(f"tutor> {feedback}")
            click.echo(session.prompt() if not session.done else session.summary())
            if session.done:
                session = None
            continue
        topic = quiz_request(question) if mode != "quiz" else (quiz_request(question) or question)
        if topic is not None:
            quiz = service.quiz(topic, sources=last_sources if not topic else ())
            if not quiz.items:
                click.echo(f"tutor> No quiz: the course materials do not cover “{topic}”.")
                continue
            session = QuizSession(quiz)
            click.echo(f"tutor> A quiz on {topic or 'the last answer'} ({len(quiz.items)} questions).")
            click.echo(session.prompt())
            continue
        click.echo("tutor> ", nl=False)
        started = time.perf_counter()
        stream = service.ask_stream(question, history, mode="hint" if mode == "hint" else "explain")
        for delta in stream:
            click.echo(delta, nl=False)
        click.echo()
        answer = stream.answer
        _render_answer(answer)
        _record(ctx, answer, session_id=session_id, channel="chat", started=started)
        click.echo()
        history += [Turn("user", question), Turn("assistant", answer.text)]
        last_sources = [c.source for c in answer.citations] or last_sources


@main.command("insights")
@click.option("--since", help="Only questions asked on or after this day (YYYY-MM-DD, UTC).")
@click.option("--json", "as_json", is_flag=True, help="Print the insights as JSON.")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path, dir_okay=False),
              help="Also write the record of questions (since --since) to this CSV file.")
@click.pass_context
def insights_command(ctx: click.Context, since: str | None, as_json: bool, csv_path: Path | None) -> None:
    """What students asked: counts, course gaps (refused and thumbs-down questions by topic), most cited."""
    from datetime import date

    from tutor.insights import course_insights
    from tutor.records import Database, QuestionLog

    if since is not None:
        try:
            since = date.fromisoformat(since).isoformat()
        except ValueError as exc:
            raise click.BadParameter(f"{since!r} is not a day like 2026-11-30", param_hint="--since") from exc
    log = QuestionLog(Database.open(_settings(ctx)))
    insights = course_insights(log, _service(ctx), since)
    if csv_path is not None:
        csv_path.write_text(log.export_csv(log.records(since=since)), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(insights.to_dict(), indent=2, ensure_ascii=False))
        return
    share = f" ({insights.refused / insights.questions:.0%})" if insights.questions else ""
    click.echo(f"questions {insights.questions} · refused {insights.refused}{share} · "
               f"thumbs up {insights.feedback['up']} · down {insights.feedback['down']}")
    click.echo("\nCourse gaps (refused or disliked, by topic):" if insights.gaps else "\nNo course gaps.")
    for gap in insights.gaps:
        click.echo(f"  {gap.count:>3}  {gap.label}")
        for example in gap.examples:
            click.echo(f"         “{example}”")
        if gap.nearest:
            click.echo("         nearest: " + "; ".join(f"{n['source']} › {n['section'] or n['title']}"
                                                       for n in gap.nearest))
    click.echo("\nMost cited documents:" if insights.most_cited else "\nNothing cited yet.")
    for cited in insights.most_cited[:10]:
        click.echo(f"  {cited.count:>3}  {cited.source}")
    never = [c.source for c in insights.least_cited if c.count == 0]
    if never:
        click.echo(f"\nNever cited ({len(never)}): " + ", ".join(never[:10]) + (" …" if len(never) > 10 else ""))


def _attach_eval_commands() -> None:
    from evals.cli import eval_group  # evals/cli.py imports only click and settings; its commands load the rest

    main.add_command(eval_group, "eval")


_attach_eval_commands()
