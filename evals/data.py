"""The two dataset shapes the evals read, exactly as ../shared/README.md defines them:
question sets (one question a line) and faithfulness judgements (context, response, label)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import click

LETTERS = "ABCDEFGHIJ"


class DatasetError(click.ClickException):
    """A dataset line that does not fit its schema; says which file, line and field."""

    exit_code = 2  # like every other expected failure of the tutor's commands


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    answerable: bool
    gold_sources: tuple[str, ...] = ()
    reference_answer: str | None = None
    choices: tuple[str, ...] = ()
    answer: str | None = None  # the right choice's letter, for multiple-choice items
    kind: str | None = None  # the set's "type" field (teaching set: definition, steps, cause, …)
    key_facts: tuple[str, ...] = ()  # phrases a good answer must contain ("a | b": either will do)

    @property
    def is_multiple_choice(self) -> bool:
        return bool(self.choices) and self.answer is not None

    @property
    def prompt(self) -> str:
        """What the tutor is asked: a multiple-choice item as a student would paste it."""
        if not self.choices:
            return self.question
        lines = [f"{LETTERS[i]}. {choice}" for i, choice in enumerate(self.choices)]
        return "\n".join([self.question, *lines])

    @property
    def right_choice(self) -> str | None:
        """The text of the right choice, when there is one."""
        if not self.is_multiple_choice or self.answer is None:
            return None
        index = LETTERS.index(self.answer)
        return self.choices[index] if index < len(self.choices) else None


@dataclass(frozen=True)
class Judgement:
    id: str
    dataset: str
    context: str
    response: str
    label: int  # 1 = faithful to the context


@dataclass
class QuestionSet:
    path: Path
    questions: list[Question] = field(default_factory=list)


def _lines(path: Path) -> list[tuple[int, dict]]:
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    rows = []
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
        if not isinstance(row, dict):
            raise DatasetError(f"{path}:{number}: expected a JSON object")
        rows.append((number, row))
    if not rows:
        raise DatasetError(f"{path}: no items")
    return rows


def _require(path: Path, number: int, row: dict, key: str, kind: type | tuple[type, ...]):
    if key not in row or not isinstance(row[key], kind):
        raise DatasetError(f"{path}:{number}: field '{key}' is missing or not a {getattr(kind, '__name__', kind)}")
    return row[key]


def load_questions(path: Path) -> QuestionSet:
    questions: list[Question] = []
    seen: set[str] = set()
    for number, row in _lines(path):
        qid = str(_require(path, number, row, "id", (str, int)))
        if qid in seen:
            raise DatasetError(f"{path}:{number}: duplicate id '{qid}'")
        seen.add(qid)
        choices = tuple(str(c) for c in row.get("choices") or ())
        answer = row.get("answer")
        if choices and (not isinstance(answer, str) or answer not in LETTERS[:len(choices)]):
            raise DatasetError(f"{path}:{number}: 'answer' must be a letter A..{LETTERS[len(choices) - 1]}")
        questions.append(Question(
            id=qid,
            question=_require(path, number, row, "question", str),
            answerable=bool(_require(path, number, row, "answerable", bool)),
            gold_sources=tuple(str(s) for s in row.get("gold_sources") or ()),
            reference_answer=row.get("reference_answer") or None,
            choices=choices,
            answer=answer if choices else None,
            kind=str(row["type"]) if row.get("type") else None,
            key_facts=tuple(str(f) for f in row.get("key_facts") or ()),
        ))
    return QuestionSet(path=path, questions=questions)


def load_judgements(paths: Sequence[Path]) -> list[Judgement]:
    """Judgements from one or more files (a directory means every *.jsonl in it)."""
    files: list[Path] = []
    for path in paths:
        files.extend(sorted(path.glob("*.jsonl")) if path.is_dir() else [path])
    judgements: list[Judgement] = []
    for file in files:
        for number, row in _lines(file):
            label = _require(file, number, row, "label", int)
            if label not in (0, 1):
                raise DatasetError(f"{file}:{number}: 'label' must be 0 or 1")
            judgements.append(Judgement(
                id=str(_require(file, number, row, "id", (str, int))),
                dataset=str(row.get("dataset") or file.stem),
                context=_require(file, number, row, "context", str),
                response=_require(file, number, row, "response", str),
                label=label,
            ))
    return judgements
