"""Fit the offline scorer's logistic regression and threshold on the faithfulness dev files, and
write calibration.json. Run: `python -m evals.metrics.faithfulness.calibrate [DIR]`.

Honesty checks, written into the file: leave-one-dataset-out cross-validation (fit on three files,
score the fourth) against the word-overlap baseline, so the figures show how the scorer does on a
kind of text it was not fitted on. The regression is small (eight features, L2-regularised) and the
classes are re-weighted so no file's base rate dominates the threshold.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, roc_auc_score

from evals.data import load_judgements
from evals.metrics.faithfulness.offline import CALIBRATION_FILE, FEATURES, Calibration, OfflineScorer, word_overlap

DEFAULT_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "evalsets" / "faithfulness"
REGULARISATION = 1.0  # sklearn's C; weaker values changed cross-validated AUROC by < 0.005


def _identity() -> Calibration:
    zeros = tuple(0.0 for _ in FEATURES)
    return Calibration(FEATURES, zeros, tuple(1.0 for _ in FEATURES), zeros, 0.0, 0.5, "uncalibrated")


def feature_matrix(directory: Path, cache: Path | None = None) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray]:
    """Features, labels, dataset names and baseline scores of every judgement in `directory`."""
    judgements = load_judgements([directory])
    if cache and cache.exists():
        rows = json.loads(cache.read_text())
    else:
        from tutor.embeddings import build_embedder
        from tutor.settings import Settings

        scorer = OfflineScorer(build_embedder(Settings()), _identity())
        rows = [scorer.features(j.response, [j.context]) for j in judgements]
        if cache:
            cache.write_text(json.dumps(rows))
    x = np.array([[row[f] for f in FEATURES] for row in rows])
    y = np.array([j.label for j in judgements])
    baseline = np.array([word_overlap(j.response, j.context) for j in judgements])
    return x, y, [j.dataset for j in judgements], baseline


def _fit(x: np.ndarray, y: np.ndarray) -> tuple[LogisticRegression, np.ndarray, np.ndarray]:
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=REGULARISATION, class_weight="balanced", max_iter=1000)
    model.fit((x - mean) / scale, y)
    return model, mean, scale


def _best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    candidates = np.unique(np.round(p, 3))
    return float(max(candidates, key=lambda t: (balanced_accuracy_score(y, p >= t), -abs(t - 0.5))))


def calibrate(directory: Path, cache: Path | None = None) -> dict:
    x, y, datasets, baseline = feature_matrix(directory, cache)
    names = sorted(set(datasets))
    groups = np.array(datasets)
    cross_validation = {}
    for held_out in names:
        train, test = groups != held_out, groups == held_out
        model, mean, scale = _fit(x[train], y[train])
        p_train = model.predict_proba((x[train] - mean) / scale)[:, 1]
        p_test = model.predict_proba((x[test] - mean) / scale)[:, 1]
        threshold = _best_threshold(y[train], p_train)
        cross_validation[held_out] = {
            "n": int(test.sum()),
            "auroc": round(float(roc_auc_score(y[test], p_test)), 4),
            "baseline_auroc": round(float(roc_auc_score(y[test], baseline[test])), 4),
            "balanced_accuracy": round(float(balanced_accuracy_score(y[test], p_test >= threshold)), 4),
        }
    model, mean, scale = _fit(x, y)
    p_all = model.predict_proba((x - mean) / scale)[:, 1]
    threshold = _best_threshold(y, p_all)
    return {
        "features": list(FEATURES),
        "mean": [round(float(v), 6) for v in mean],
        "scale": [round(float(v), 6) for v in scale],
        "weights": [round(float(v), 6) for v in model.coef_[0]],
        "bias": round(float(model.intercept_[0]), 6),
        "threshold": round(threshold, 3),
        "baseline_threshold": round(_best_threshold(y, baseline), 3),
        "derivation": (
            f"Logistic regression (C={REGULARISATION}, balanced class weights) on {len(y)} labelled pairs of "
            f"{', '.join(names)} (../shared/evalsets/faithfulness/), features standardised; threshold = the "
            "value maximising balanced accuracy on those pairs (baseline_threshold: the same for word overlap). "
            "Leave-one-dataset-out figures in cross_validation."
        ),
        "cross_validation": cross_validation,
    }


def main() -> None:
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_DIR
    cache = Path(sys.argv[2]) if len(sys.argv) > 2 else None
    result = calibrate(directory, cache)
    CALIBRATION_FILE.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result["cross_validation"], indent=2))
    print(f"threshold {result['threshold']}; weights {dict(zip(result['features'], result['weights']))}")


if __name__ == "__main__":
    main()
