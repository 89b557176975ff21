"""`eval judge`: how well a faithfulness scorer agrees with human labels, next to a plain
word-overlap baseline computed in the same run. Per dataset: AUROC of the scores, and balanced
accuracy and F1 (of the "faithful" class) of the scorer's own verdicts at its threshold."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score

from evals.data import Judgement
from evals.metrics.faithfulness import FaithfulnessScorer
from evals.metrics.faithfulness.offline import CALIBRATION_FILE, word_overlap

ALL = "all"


@dataclass(frozen=True)
class Figures:
    n: int
    faithful: int
    auroc: float  # 0.5 with a note when one class is missing (AUROC is undefined there)
    balanced_accuracy: float
    f1: float
    threshold: float
    note: str = ""


def baseline_threshold() -> float:
    """The word-overlap cut maximising balanced accuracy on the dev files (fitted with the scorer)."""
    return float(json.loads(CALIBRATION_FILE.read_text(encoding="utf-8"))["baseline_threshold"])


def figures(labels: Sequence[int], scores: Sequence[float], predicted: Sequence[bool], threshold: float) -> Figures:
    faithful = sum(labels)
    note = ""
    if 0 < faithful < len(labels):
        auroc = float(roc_auc_score(labels, scores))
    else:
        auroc, note = 0.5, "one class only: AUROC undefined, shown as 0.5"
    # With one class, balanced accuracy is plain accuracy (sklearn would warn and average one recall).
    balanced = balanced_accuracy_score(labels, predicted) if not note else \
        sum(int(p) == y for p, y in zip(predicted, labels)) / len(labels)
    return Figures(n=len(labels), faithful=faithful, auroc=round(auroc, 4), balanced_accuracy=round(float(balanced), 4),
                   f1=round(float(f1_score(labels, predicted, zero_division=0)), 4), threshold=threshold, note=note)


def judge_all(judgements: Sequence[Judgement], scorer: FaithfulnessScorer,
              on_progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Scores every pair with the scorer (the response judged as one unit) and the baseline."""
    rows = []
    judge_unit = getattr(scorer, "judge_unit", None)  # the offline scorer skips evidence location here
    for done, item in enumerate(judgements, start=1):
        if judge_unit:
            verdict = judge_unit(item.response, [item.context])
        else:
            verdict = scorer.judge([item.response], [item.context])[0]
        overlap = word_overlap(item.response, item.context)
        rows.append((item.dataset, item.label, verdict.score, verdict.supported, overlap))
        if on_progress:
            on_progress(done, len(judgements))
    cut = baseline_threshold()
    by_dataset: dict[str, Any] = {}
    for name in [*sorted({r[0] for r in rows}), ALL]:
        subset = [r for r in rows if name in (ALL, r[0])]
        labels = [r[1] for r in subset]
        by_dataset[name] = {
            "scorer": asdict(figures(labels, [r[2] for r in subset], [r[3] for r in subset], scorer.threshold)),
            "baseline": asdict(figures(labels, [r[4] for r in subset], [r[4] >= cut for r in subset], cut)),
        }
    return {"scorer": scorer.describe(),
            "baseline": f"word overlap (share of response words in the context), cut {cut}",
            "datasets": by_dataset}


def format_table(result: dict[str, Any], scorer_name: str) -> str:
    header = (f"{'dataset':<16} {'n':>5} {'faithful':>8} | {scorer_name + ' AUROC':>14} {'bal.acc':>7} {'F1':>6} "
              f"| {'overlap AUROC':>13} {'bal.acc':>7} {'F1':>6} | beats baseline")
    lines = [header, "-" * len(header)]
    for name, pair in result["datasets"].items():
        s, b = pair["scorer"], pair["baseline"]
        lines.append(f"{name:<16} {s['n']:>5} {s['faithful']:>8} | {s['auroc']:>14.3f} {s['balanced_accuracy']:>7.3f} "
                     f"{s['f1']:>6.3f} | {b['auroc']:>13.3f} {b['balanced_accuracy']:>7.3f} {b['f1']:>6.3f} | "
                     f"{'yes' if s['auroc'] > b['auroc'] else 'NO'}")
    lines.append(f"threshold: {scorer_name} {result['scorer']['threshold']}; baseline: {result['baseline']}")
    return "\n".join(lines)
