"""The HTML report: one self-contained page (inline CSS and SVG, no scripts, nothing fetched).
Everything the dataset, the documents or a model wrote is escaped with html.escape."""

from __future__ import annotations

from html import escape
from typing import Any

from evals.summary import METRICS

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1200px;color:#222;padding:0 1rem}
table{border-collapse:collapse;width:100%;margin:1rem 0}td,th{border:1px solid #ddd;padding:.35rem .5rem;
vertical-align:top;text-align:left}th{background:#f4f4f4}.num{text-align:right;font-variant-numeric:tabular-nums}
.bad{color:#a40000}.ok{color:#146c2e}.muted{color:#666}details{margin:.2rem 0}
.charts{display:flex;flex-wrap:wrap;gap:1rem}.chart{border:1px solid #eee;padding:.5rem}
code{background:#f4f4f4;padding:0 .2rem}
"""


def histogram_svg(title: str, values: list[float], bins: int = 10, width: int = 260, height: int = 140) -> str:
    """A histogram of scores in [0, 1] as inline SVG."""
    counts = [0] * bins
    for value in values:
        counts[min(bins - 1, max(0, int(value * bins)))] += 1
    top = max(counts) or 1
    bar_width = (width - 20) / bins
    bars = []
    for i, count in enumerate(counts):
        bar_height = (height - 40) * count / top
        x, y = 10 + i * bar_width, height - 20 - bar_height
        bars.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_width - 2:.1f}" height="{bar_height:.1f}" '
                    f'fill="#4a78b0"><title>{i / bins:.1f}–{(i + 1) / bins:.1f}: {count}</title></rect>')
        if count:
            bars.append(f'<text x="{x + bar_width / 2 - 1:.1f}" y="{y - 3:.1f}" font-size="9" '
                        f'text-anchor="middle">{count}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
            f'aria-label="{escape(title)}"><text x="10" y="14" font-size="12">{escape(title)} (n={len(values)})</text>'
            f'{"".join(bars)}<text x="10" y="{height - 5}" font-size="9">0</text>'
            f'<text x="{width - 16}" y="{height - 5}" font-size="9">1</text></svg>')


def _distributions(questions: list[dict[str, Any]]) -> dict[str, list[float]]:
    def collect(getter) -> list[float]:
        values = []
        for q in questions:
            try:
                value = getter(q)
            except (KeyError, TypeError):
                continue
            if value is not None:
                values.append(float(value))
        return values

    return {
        "faithfulness": collect(lambda q: q["faithfulness"]["score"]),
        "citation recall": collect(lambda q: q["citation_quality"]["recall"]),
        "recall@k": collect(lambda q: q["retrieval"]["recall_at_k"]),
        "answer similarity": collect(lambda q: q["correctness"]["semantic_similarity"]),
    }


def _question_row(q: dict[str, Any]) -> str:
    faith = q["faithfulness"]
    citations = "".join(f"<li>[{c['n']}] {escape(c['source'])} — {escape(c['section'])}<br>"
                        f"<span class=muted>{escape(c['quote'])}</span></li>" for c in q["citations"])
    unsupported = "".join(
        f"<li>{escape(v['sentence'])} <span class=muted>(score {v['score']:.2f}"
        f"{'; ' + escape('; '.join(v['flags'])) if v['flags'] else ''})</span></li>"
        for v in (faith["verdicts"] if faith else []) if not v["supported"])
    correctness = q["correctness"] or {}
    verdict = []
    if "token_f1" in correctness:
        verdict.append(f"F1 {correctness['token_f1']:.2f}, similarity {correctness['semantic_similarity']:.2f}")
    if "choice" in correctness:
        ok = correctness["choice_correct"]
        verdict.append(f"<span class={'ok' if ok else 'bad'}>picked {escape(str(correctness['choice']['letter']))} "
                       f"via {escape(correctness['choice']['method'])}; right: {escape(str(q['right_choice']))}</span>")
    refusal = q["refusal"]
    faith_cell = f"{faith['score']:.2f}" if faith else "—"
    recall_cell = f"{q['retrieval']['recall_at_k']:.2f}" if q["retrieval"] else "—"
    return (
        "<tr>"
        f"<td>{escape(q['id'])}<br><span class=muted>{'answerable' if q['answerable'] else 'unanswerable'}</span></td>"
        f"<td><details><summary>{escape(q['question'][:120])}</summary><pre>{escape(q['question'])}</pre></details></td>"
        f"<td><details><summary>{escape(q['answer'][:160])}</summary>{escape(q['answer'])}</details>"
        f"<ul>{citations}</ul></td>"
        f"<td class=num>{faith_cell}</td>"
        f"<td><ul>{unsupported}</ul></td>"
        f"<td class=num>{recall_cell}</td>"
        f"<td>{'<br>'.join(verdict) or '—'}</td>"
        f"<td class={'ok' if refusal['correct'] else 'bad'}>{escape(refusal['outcome'])}</td>"
        f"<td class=muted>{escape('; '.join(q['flags']))}</td>"
        "</tr>"
    )


def render_html(report: dict[str, Any]) -> str:
    index, scorer = report["index"], report["scorer"]
    metric_rows = "".join(
        f"<tr><td>{escape(name)}</td><td class=num>{m['value']:.3f}</td><td class=num>{m['n']}</td>"
        f"<td class=num>{m['abstained']}</td><td>{escape(METRICS.get(name, ''))}"
        f"{' <span class=muted>(' + escape(m['note']) + ')</span>' if m.get('note') else ''}</td></tr>"
        for name, m in report["metrics"].items())
    charts = "".join(f'<div class=chart>{histogram_svg(name, values)}</div>'
                     for name, values in _distributions(report["questions"]).items())
    modes = "".join(f"<tr><td>{escape(mode)}</td><td class=num>{m['recall_at_k']:.3f}</td>"
                    f"<td class=num>{m['mrr']:.3f}</td><td class=num>{m['n']}</td></tr>"
                    for mode, m in report.get("retrieval_modes", {}).items())
    failures = "".join(f"<li>{escape(f)}</li>" for f in report.get("threshold_failures", []))
    manifest = "".join(f"<li>{escape(d['source'])} ({d['chunks']} chunks)</li>" for d in index["manifest"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Tutor eval — {escape(report['dataset']['path'])}</title>
<style>{_STYLE}</style></head><body>
<h1>Tutor eval</h1>
<p>{escape(report['dataset']['path'])} — {report['dataset']['items']} questions — {escape(report['created_at'])}
— {report['seconds']} s</p>
<p>Index <code>{escape(str(index['fingerprint']))}</code>: {index['documents']} documents, {index['chunks']} chunks,
{escape(str(index['embedding_model']))}. Answerer: {escape(str(report['answerer']['mode']))}.
Scorer: {escape(scorer['scorer'])} (threshold {scorer['threshold']}). tutor {escape(report['tutor_version'])},
evals {escape(report['evals_version'])}.</p>
{f'<h2 class=bad>Below threshold</h2><ul>{failures}</ul>' if failures else ''}
<h2>Metrics</h2>
<table><tr><th>metric</th><th>value</th><th>n</th><th>abstained</th><th>meaning</th></tr>{metric_rows}</table>
{f'<h2>Retrieval by mode</h2><table><tr><th>mode</th><th>Recall@k</th><th>MRR</th><th>n</th></tr>{modes}</table>'
   if modes else ''}
<h2>Score distributions</h2><div class=charts>{charts}</div>
<h2>Questions</h2>
<table><tr><th>id</th><th>question</th><th>answer and citations</th><th>faithful</th><th>unsupported sentences</th>
<th>recall@k</th><th>correctness</th><th>refusal</th><th>flags</th></tr>
{''.join(_question_row(q) for q in report['questions'])}</table>
<details><summary>Corpus manifest</summary><ul>{manifest}</ul></details>
</body></html>
"""
