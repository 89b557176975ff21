"""`eval compare A B`: what changed between two reports — the settings that make them comparable
(index fingerprint, answerer, scorer, versions, dataset), metric deltas, and per-question changes."""

from __future__ import annotations

from typing import Any

from evals.report.model import EvalReport


def _settings(report: EvalReport) -> dict[str, Any]:
    """What makes two reports comparable, by label; a dict value is compared key by key."""
    return {
        "dataset": report.dataset.sha256,
        "index fingerprint": report.index.get("fingerprint"),
        "embedding model": report.index.get("embedding_model"),
        "answerer": report.answerer,
        **{f"{stage} knobs": knobs for stage, knobs in report.knobs.items()},
        "scorer": report.scorer,
        "tutor version": report.tutor_version,
        "evals version": report.evals_version,
    }


def compare_reports(a: EvalReport, b: EvalReport) -> dict[str, Any]:
    settings = []
    settings_a, settings_b = _settings(a), _settings(b)
    for label in dict.fromkeys([*settings_a, *settings_b]):
        va, vb = settings_a.get(label), settings_b.get(label)
        if isinstance(va, dict) and isinstance(vb, dict):  # name the keys that differ, not the whole block
            settings += [{"setting": f"{label}.{key}", "a": va.get(key), "b": vb.get(key)}
                         for key in dict.fromkeys([*va, *vb]) if va.get(key) != vb.get(key)]
        elif va != vb:
            settings.append({"setting": label, "a": va, "b": vb})
    metrics = []
    for name in dict.fromkeys([*a.metrics, *b.metrics]):
        ma, mb = a.metrics.get(name), b.metrics.get(name)
        va, vb = (ma.value if ma else None), (mb.value if mb else None)
        delta = round(vb - va, 4) if va is not None and vb is not None else None
        metrics.append({"metric": name, "a": va, "b": vb, "delta": delta,
                        "n_a": ma.n if ma else None, "n_b": mb.n if mb else None})
    for mode in dict.fromkeys([*a.retrieval_modes, *b.retrieval_modes]):
        mode_a, mode_b = a.retrieval_modes.get(mode), b.retrieval_modes.get(mode)
        for key in ("recall_at_k", "mrr"):
            va = getattr(mode_a, key) if mode_a else None
            vb = getattr(mode_b, key) if mode_b else None
            metrics.append({"metric": f"{mode} {key}", "a": va, "b": vb, "n_a": None, "n_b": None,
                            "delta": round(vb - va, 4) if va is not None and vb is not None else None})
    questions_a = {q.id: q for q in a.questions}
    questions_b = {q.id: q for q in b.questions}
    changes = []
    for qid in dict.fromkeys([*questions_a, *questions_b]):
        qa, qb = questions_a.get(qid), questions_b.get(qid)
        if qa is None or qb is None:
            changes.append({"id": qid, "change": "only in A" if qb is None else "only in B"})
            continue
        tracked_a, tracked_b = qa.tracked(), qb.tracked()
        diffs = {label: {"a": tracked_a[label], "b": tracked_b[label]}
                 for label in tracked_a if tracked_a[label] != tracked_b[label]}
        if qa.answer != qb.answer:
            diffs["answer text"] = {"a": qa.answer, "b": qb.answer}
        if diffs:
            changes.append({"id": qid, "change": "changed", "diffs": diffs})
    return {"comparable": not any(s["setting"] in ("dataset", "evals version") for s in settings),
            "settings": settings, "metrics": metrics, "questions": changes}


def _short(value: Any) -> str:
    text = f"{value:.3f}" if isinstance(value, float) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


def format_comparison(result: dict[str, Any]) -> str:
    lines = []
    if not result["comparable"]:
        lines.append("WARNING: different dataset or metric definitions; deltas are not like for like.")
    lines.append("Settings changed:" if result["settings"] else "Settings: identical.")
    lines += [f"  {s['setting']}: {_short(s['a'])} -> {_short(s['b'])}" for s in result["settings"]]
    lines.append(f"{'metric':<22} {'A':>7} {'B':>7} {'delta':>8}")
    for m in result["metrics"]:
        a = f"{m['a']:.3f}" if m["a"] is not None else "—"
        b = f"{m['b']:.3f}" if m["b"] is not None else "—"
        delta = f"{m['delta']:+.3f}" if m["delta"] is not None else "—"
        lines.append(f"{m['metric']:<22} {a:>7} {b:>7} {delta:>8}")
    changed = result["questions"]
    lines.append(f"Questions changed: {len(changed)}" if changed else "Questions: no per-question changes.")
    for q in changed:
        if q["change"] != "changed":
            lines.append(f"  {q['id']}: {q['change']}")
            continue
        parts = [f"{label} {_short(d['a'])} -> {_short(d['b'])}" for label, d in q["diffs"].items()
                 if label != "answer text"]
        if "answer text" in q["diffs"]:
            parts.append("answer text changed")
        lines.append(f"  {q['id']}: " + "; ".join(parts))
    return "\n".join(lines)
