"""Fits the injection classifier (tutor/answer/injection.py) and measures it by grouped cross-validation.

    python -m tutor.answer.injection_training            # refit, write tutor/answer/guard_data/classifier.json
    python -m tutor.answer.injection_training --book-questions ../shared/corpora/psychology-2e   # rebuild that file too

The labelled set: `guard_data/attacks.yaml`, `guard_data/legitimate.yaml` and
`guard_data/legitimate-subjects.yaml` (hand-written families; the last asks about courses other than
psychology), obfuscated copies of some attacks (`encode:`), and `guard_data/legitimate-book.jsonl`
(questions on the glossary terms of Psychology 2e, asked as students ask and paste them). Folds hold whole
families out, so a score is for ideas and phrasings the model never saw, not for near-copies.
The threshold is chosen on the out-of-fold scores of this set alone; the dev questions are never
seen here (benchmarks/guard.py checks them).
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from scipy.sparse import csr_matrix, hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from tutor.answer.injection import CHAR_NGRAMS, WEIGHTS, CharNgrams, Embedder, InjectionClassifier, encode, views

DATA = WEIGHTS.parent
ATTACKS = DATA / "attacks.yaml"
LEGITIMATE = DATA / "legitimate.yaml"
SUBJECT_QUESTIONS = DATA / "legitimate-subjects.yaml"
BOOK_QUESTIONS = DATA / "legitimate-book.jsonl"
FOLDS = 5
# Inverse regularisation, chosen by the grouped cross-validation below (0.3-10 tried; n-grams need room).
C = 10.0
# Share of legitimate questions from unseen families the threshold may refuse. Most that score high
# are greetings and non-English questions; a false refusal costs a student an answer, while a
# missed attack still meets the explicit policy, the relevance threshold and the prompt's own rules.
LEGITIMATE_REFUSAL_RATE = 0.01
MIN_THRESHOLD = 0.5


@dataclass(frozen=True)
class Example:
    text: str
    attack: bool
    family: str  # cross-validation group
    technique: str
    language: str


def load_examples(attacks: Path = ATTACKS, legitimate: Path = LEGITIMATE,
                  book: Path | None = BOOK_QUESTIONS, subjects: Path | None = SUBJECT_QUESTIONS) -> list[Example]:
    files = [(attacks, True), (legitimate, False)] + ([(subjects, False)] if subjects is not None else [])
    examples, owner = [], {}
    for path, attack in files:
        for example in _families(path, attack=attack):
            # A family is one cross-validation group: the same name in two files would merge two groups.
            if owner.setdefault(example.family, path) != path:
                raise ValueError(f"{path}: family {example.family!r} is also in {owner[example.family]}; rename one")
            examples.append(example)
    if book is not None and book.exists():
        for line in book.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            examples.append(Example(row["text"], False, f"book:{row['family']}", row["technique"], "en"))
    return examples


def _families(path: Path, *, attack: bool) -> list[Example]:
    examples, names = [], set()
    for family in yaml.safe_load(path.read_text(encoding="utf-8")):
        name, technique = family["family"], family.get("technique", "question")
        if name in names:
            raise ValueError(f"{path}: family {name!r} appears twice; merge or rename it")
        names.add(name)
        for language, texts in family["texts"].items():
            for text in texts:
                if not isinstance(text, str):  # YAML reads a bare yes/no/on as a boolean
                    raise ValueError(f"{path}: family {name!r}, {language}: {text!r} is not a string; quote it")
                examples.append(Example(text, attack, name, technique, language))
        english = family["texts"].get("en") or []
        for how in family.get("encode", []):
            if english:
                examples.append(Example(encode(english[0], how), attack, name, how, "en"))
    return examples


def book_questions(corpus_dir: Path) -> list[dict]:
    """Legitimate questions from the book's glossaries ("- **term**: definition"): the term asked
    about, and the definition pasted as a multiple-choice item with other terms of the section."""
    rows = []
    forms = ("What is {term}?", "Can you explain {term}?", "What does {term} mean?", "Give me an example of {term}.")
    glossary = re.compile(r"^- \*\*(?P<term>[^*]{2,60})\*\*: (?P<definition>.{10,300})$", re.MULTILINE)
    for path in sorted(corpus_dir.glob("*.md")):
        text = path.read_text(encoding="utf-8")
        entries = [(m["term"].strip(), m["definition"].strip().rstrip(".")) for m in glossary.finditer(text)]
        for i, (term, definition) in enumerate(entries):
            rows.append({"text": forms[i % len(forms)].format(term=term), "family": path.stem, "technique": "term"})
            if len(entries) >= 4:
                others = [entries[(i + k) % len(entries)][0] for k in (1, 2, 3)]
                choices = others[: i % 4] + [term] + others[i % 4:]
                lines = [f"{'ABCD'[n]}. {c}" for n, c in enumerate(choices)]
                rows.append({"text": "\n".join([f"Which term means {definition}?", *lines]),
                             "family": path.stem, "technique": "mcq"})
    return rows


def embed_views(embedder: Embedder, texts: Sequence[str]) -> tuple[list[str], np.ndarray, list[int]]:
    """Every reading of every text, its vector, and for each reading the index of its text."""
    readings, owner = [], []
    for index, text in enumerate(texts):
        for reading in views(text):
            readings.append(reading)
            owner.append(index)
    return readings, np.asarray(embedder.embed_documents(readings)), owner


def max_by_owner(probabilities: np.ndarray, owner: Sequence[int], count: int) -> np.ndarray:
    best = np.zeros(count)
    np.maximum.at(best, np.asarray(owner), probabilities)
    return best


@dataclass
class _Fitted:
    vectorizer: TfidfVectorizer
    model: LogisticRegression

    def features(self, readings: Sequence[str], vectors: np.ndarray):
        return hstack([self.vectorizer.transform(readings), csr_matrix(vectors)]).tocsr()

    def probabilities(self, readings: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(self.features(readings, vectors))[:, 1]


def fit(readings: Sequence[str], vectors: np.ndarray, labels: np.ndarray) -> _Fitted:
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=CHAR_NGRAMS, min_df=2, sublinear_tf=True)
    vectorizer.fit(readings)
    fitted = _Fitted(vectorizer, LogisticRegression(C=C, class_weight="balanced", max_iter=3000))
    fitted.model.fit(fitted.features(readings, vectors), labels)
    return fitted


@dataclass
class CrossValidation:
    examples: list[Example]
    scores: np.ndarray  # out-of-fold attack probability of each example (max over its readings)

    def threshold(self) -> float:
        """Refuse at most LEGITIMATE_REFUSAL_RATE of the legitimate questions of unseen families."""
        legitimate = self.scores[[not e.attack for e in self.examples]]
        return float(max(MIN_THRESHOLD, np.quantile(legitimate, 1.0 - LEGITIMATE_REFUSAL_RATE)))


def cross_validate(examples: list[Example], readings: list[str], vectors: np.ndarray,
                   owner: list[int]) -> CrossValidation:
    """Grouped by family: each fold's model never saw any phrasing of the families it scores.
    Every reading is an example: a decoded attack is an attack, a question read without its
    digits is still a question."""
    labels = np.array([examples[o].attack for o in owner], dtype=int)
    groups = np.array([examples[o].family for o in owner])
    scores = np.zeros(len(examples))
    for train, test in GroupKFold(n_splits=FOLDS).split(vectors, labels, groups):
        fitted = fit([readings[i] for i in train], vectors[train], labels[train])
        fold = max_by_owner(fitted.probabilities([readings[i] for i in test], vectors[test]),
                            [owner[i] for i in test], len(examples))
        tested = sorted({owner[i] for i in test})
        scores[tested] = fold[tested]
    return CrossValidation(examples, scores)


def train(embedder: Embedder, examples: list[Example]) -> tuple[InjectionClassifier, CrossValidation]:
    readings, vectors, owner = embed_views(embedder, [e.text for e in examples])
    validation = cross_validate(examples, readings, vectors, owner)
    fitted = fit(readings, vectors, np.array([examples[o].attack for o in owner], dtype=int))
    vocabulary = sorted(fitted.vectorizer.vocabulary_, key=fitted.vectorizer.vocabulary_.get)
    width = len(vocabulary)
    coef = fitted.model.coef_[0]
    classifier = InjectionClassifier(embedder, CharNgrams(vocabulary, fitted.vectorizer.idf_), coef[:width],
                                     coef[width:], float(fitted.model.intercept_[0]), validation.threshold())
    # The exported form must score exactly as sklearn does, or the shipped weights mean something else.
    sample = slice(0, len(readings), max(1, len(readings) // 200))
    expected = fitted.probabilities(readings[sample], vectors[sample])
    exported = classifier.probabilities(readings[sample], vectors[sample])
    if not np.allclose(expected, exported, atol=1e-6):
        raise AssertionError("the exported classifier does not reproduce sklearn's probabilities")
    return classifier, validation


def write_weights(classifier: InjectionClassifier, validation: CrossValidation, path: Path = WEIGHTS) -> None:
    attacks = np.array([s for s, e in zip(validation.scores, validation.examples) if e.attack])
    legitimate = np.array([s for s, e in zip(validation.scores, validation.examples) if not e.attack])
    vocabulary = sorted(classifier.ngrams.index, key=classifier.ngrams.index.get)
    payload = {
        "model": classifier.model,
        "threshold": round(classifier.threshold, 4),
        "fitted_on": {"attacks": len(attacks), "legitimate": len(legitimate),
                      "cv_attacks_refused": round(float(np.mean(attacks >= classifier.threshold)), 4),
                      "cv_legitimate_refused": round(float(np.mean(legitimate >= classifier.threshold)), 4)},
        "intercept": classifier.intercept,
        "embedding_coef": [round(float(c), 6) for c in classifier.embedding_coef],
        "char_ngrams": {"vocabulary": vocabulary, "idf": [round(float(v), 6) for v in classifier.ngrams.idf],
                        "coef": [round(float(c), 6) for c in classifier.ngram_coef]},
    }
    path.write_text(json.dumps(payload, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--book-questions", type=Path, metavar="CORPUS_DIR",
                        help="rebuild guard_data/legitimate-book.jsonl from this Psychology 2e directory first")
    args = parser.parse_args(argv)
    if args.book_questions:
        rows = book_questions(args.book_questions)
        BOOK_QUESTIONS.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        print(f"{BOOK_QUESTIONS}: {len(rows)} questions")
    from tutor.embeddings import SentenceTransformerEmbedder
    from tutor.settings import packaged_embedding_model

    examples = load_examples()
    classifier, validation = train(SentenceTransformerEmbedder(packaged_embedding_model()), examples)
    write_weights(classifier, validation)
    print(f"{WEIGHTS}: threshold {classifier.threshold:.3f}, {len(examples)} examples")


if __name__ == "__main__":
    main()
