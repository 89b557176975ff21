"""`eval compare A B`: what changed between two reports — the settings that make them comparable
(index fingerprint, answerer, scorer, versions, dataset), metric deltas, and per-question changes."""

from __future__ import annotations

from typing import Any

# Per-question values worth tracking, as (label, path into the question record).
_TRACKED: list[tuple[str, tuple[str, ...]]] = [
    ("refused", ("refused",)),
    ("faithfulness", ("faithfulness", "score")),
    ("citation recall", ("citation_quality", "recall")),
    ("citation precision", ("citation_quality", "precision")),
    ("recall@k", ("retrieval", "recall_at_k")),
    ("reciprocal rank", ("retrieval", "reciprocal_rank")),
    ("answer F1", ("correctness", "token_f1")),
    ("right option", ("correctness", "choice_correct")),
    ("refusal correct", ("refusal", "correct")),
]
_SETTINGS: list[tuple[str, tuple[str, ...]]] = [
    ("dataset", ("dataset", "sha256")),
    ("index fingerprint", ("index", "fingerprint")),
    ("embedding model", ("index", "embedding_model")),
    ("answerer", ("answerer",)),
    ("scorer", ("scorer",)),
    ("tutor version", ("tutor_version",)),
    ("evals version", ("evals_version",)),
]


def _get(data: Any, path: tuple[str, ...]) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def compare_reports(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    settings = []
    for label, path in _SETTINGS:
        va, vb = _get(a, path), _get(b, path)
        if isinstance(va, dict) and isinstance(vb, dict):  # name the keys that differ, not the whole block
            settings += [{"setting": f"{label}.{key}", "a": va.get(key), "b": vb.get(key)}
                         for key in dict.fromkeys([*va, *vb]) if va.get(key) != vb.get(key)]
        elif va != vb:
            settings.append({"setting": label, "a": va, "b": vb})
    metrics = []
    for name in dict.fromkeys([*a["metrics"], *b["metrics"]]):
        ma, mb = a["metrics"].get(name), b["metrics"].get(name)
        va, vb = (ma or {}).get("value"), (mb or {}).get("value")
        delta = round(vb - va, 4) if va is not None and vb is not None else None
        metrics.append({"metric": name, "a": va, "b": vb, "delta": delta,
                        "n_a": (ma or {}).get("n"), "n_b": (mb or {}).get("n")})
    for mode in dict.fromkeys([*a.get("retrieval_modes", {}), *b.get("retrieval_modes", {})]):
        for key in ("recall_at_k", "mrr"):
            va = _get(a, ("retrieval_modes", mode, key))
            vb = _get(b, ("retrieval_modes", mode, key))
            metrics.append({"metric": f"{mode} {key}", "a": va, "b": vb, "n_a": None, "n_b": None,
                            "delta": round(vb - va, 4) if va is not None and vb is not None else None})
    questions_a = {q["id"]: q for q in a["questions"]}
    questions_b = {q["id"]: q for q in b["questions"]}
    changes = []
    for qid in dict.fromkeys([*questions_a, *questions_b]):
        qa, qb = questions_a.get(qid), questions_b.get(qid)
        if qa is None or qb is None:
            changes.append({"id": qid, "change": "only in A" if qb is None else "only in B"})
            continue
        diffs = {label: {"a": _get(qa, path), "b": _get(qb, path)}
                 for label, path in _TRACKED if _get(qa, path) != _get(qb, path)}
        if qa["answer"] != qb["answer"]:
            diffs["answer text"] = {"a": qa["answer"], "b": qb["answer"]}
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
