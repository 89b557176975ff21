"""How the course-gap grouping behaves across distance thresholds: pairwise precision and recall of
grouping hand-written off-course questions (paraphrases of one question belong together, the rest
apart) on a tuning set and on a held-out set that was not looked at while choosing GAP_DISTANCE."""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence

TUNING = [
    ["What is the capital of France?", "Which city is the capital of France?", "france capital city?",
     "Tell me the capital city of France"],
    ["How do I bake sourdough bread?", "What is a good recipe for sourdough?", "how long should sourdough bread rise"],
    ["What dose of ibuprofen should I take?", "How much ibuprofen can I take a day?"],
    ["Who won the football world cup in 2018?", "which country won the 2018 world cup"],
    ["How does photosynthesis work in plants?", "explain photosynthesis"],
    ["What is the Krebs cycle?"],
]
HELD_OUT = [
    ["How do black holes form?", "what makes a black hole", "how is a black hole created"],
    ["Write a Python function to sort a list", "how do I sort a list in python"],
    ["What causes inflation in an economy?", "why do prices rise, what is inflation"],
    ["When did the Roman Empire fall?", "what year did Rome fall"],
    ["What is the boiling point of water?"],
    ["How do vaccines train the immune system?", "how do vaccines work"],
]


def pairwise_scores(embedder, topics: Sequence[Sequence[str]], distance: float) -> tuple[float, float, int]:
    """(precision, recall, number of groups) of grouping the questions of `topics`."""
    from tutor.insights import embed_for_gaps, group_questions

    texts = [q for topic in topics for q in topic]
    gold = [n for n, topic in enumerate(topics) for _ in topic]
    predicted = [0] * len(texts)
    groups = group_questions(embed_for_gaps(embedder, texts), distance)
    for n, members in enumerate(groups):
        for i in members:
            predicted[i] = n
    tp = fp = fn = 0
    for i, j in itertools.combinations(range(len(texts)), 2):
        same, joined = gold[i] == gold[j], predicted[i] == predicted[j]
        tp, fp, fn = tp + (same and joined), fp + (joined and not same), fn + (same and not joined)
    return (tp / (tp + fp) if tp + fp else 1.0), (tp / (tp + fn) if tp + fn else 1.0), len(groups)


def main(argv: Sequence[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__).parse_args(argv)
    from tutor.embeddings import build_embedder
    from tutor.insights import GAP_DISTANCE
    from tutor.settings import Settings

    embedder = build_embedder(Settings())
    print(f"{'distance':>8}  {'tuning P / R / groups':>24}  {'held-out P / R / groups':>26}")
    for distance in (0.4, 0.5, 0.6, 0.7, 0.75, 0.8):
        tune, held = pairwise_scores(embedder, TUNING, distance), pairwise_scores(embedder, HELD_OUT, distance)
        mark = "  <- GAP_DISTANCE" if abs(distance - GAP_DISTANCE) < 1e-9 else ""
        print(f"{distance:>8.2f}  {tune[0]:>9.2f} / {tune[1]:.2f} / {tune[2]:>2} of {len(TUNING)}"
              f"  {held[0]:>11.2f} / {held[1]:.2f} / {held[2]:>2} of {len(HELD_OUT)}{mark}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
