"""The Markdown report: header, metrics table, then the questions that need a look."""

from __future__ import annotations

from typing import Any

from evals.summary import METRICS


def _cell(text: Any) -> str:
    """Table-safe text: no pipes or line breaks, shortened."""
    value = " ".join(str(text if text is not None else "").split()).replace("|", "\\|")
    return value if len(value) <= 160 else value[:157] + "..."


def metric_rows(metrics: dict[str, dict[str, Any]]) -> list[str]:
    rows = ["| metric | value | n | abstained | meaning |", "|---|---:|---:|---:|---|"]
    for name, metric in metrics.items():
        meaning = METRICS.get(name, "") + (f" ({metric['note']})" if metric.get("note") else "")
        rows.append(f"| {name} | {metric['value']:.3f} | {metric['n']} | {metric['abstained']} | {_cell(meaning)} |")
    return rows


def render_markdown(report: dict[str, Any]) -> str:
    index, scorer = report["index"], report["scorer"]
    lines = [
        f"# Tutor eval: {report['dataset']['path']}",
        "",
        f"- created {report['created_at']}, {report['dataset']['items']} questions, {report['seconds']} s",
        f"- index fingerprint `{index['fingerprint']}` ({index['documents']} documents, {index['chunks']} chunks, "
        f"{index['embedding_model']})",
        f"- answerer: {report['answerer']['mode']} (top_k {report['answerer']['top_k']}); scorer: {scorer['scorer']} "
        f"(threshold {scorer['threshold']})",
        f"- tutor {report['tutor_version']}, evals {report['evals_version']}, dataset sha256 {report['dataset']['sha256']}",
        "",
        "## Metrics",
        "",
        *metric_rows(report["metrics"]),
    ]
    if report.get("retrieval_modes"):
        lines += ["", "## Retrieval by mode (no relevance threshold)", "", "| mode | Recall@k | MRR | n |",
                  "|---|---:|---:|---:|"]
        lines += [f"| {mode} | {m['recall_at_k']:.3f} | {m['mrr']:.3f} | {m['n']} |"
                  for mode, m in report["retrieval_modes"].items()]
    if report.get("threshold_failures"):
        lines += ["", "## Below threshold", "", *[f"- {failure}" for failure in report["threshold_failures"]]]
    lines += ["", "## Questions", "",
              "| id | refused | faithfulness | citation recall | recall@k | correctness | unsupported sentences | flags |",
              "|---|---|---:|---:|---:|---|---|---|"]
    for q in report["questions"]:
        faith = q["faithfulness"]
        correctness = q["correctness"] or {}
        correct = []
        if "token_f1" in correctness:
            correct.append(f"F1 {correctness['token_f1']:.2f}")
        if "choice" in correctness:
            picked = correctness["choice"]["letter"] or "none"
            correct.append(f"picked {picked} ({'right' if correctness['choice_correct'] else 'wrong'})")
        lines.append("| " + " | ".join([
            _cell(q["id"]), "yes" if q["refused"] else "no",
            f"{faith['score']:.2f}" if faith else "—",
            f"{q['citation_quality']['recall']:.2f}" if q["citation_quality"] else "—",
            f"{q['retrieval']['recall_at_k']:.2f}" if q["retrieval"] else "—",
            _cell("; ".join(correct)) or "—",
            _cell(" / ".join(faith["unsupported"])) if faith else "—",
            _cell("; ".join(q["flags"])),
        ]) + " |")
    return "\n".join(lines) + "\n"
