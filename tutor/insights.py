"""What the record of questions tells an instructor: how much is asked, where the course falls short
(course gaps), and which documents carry the answers.

Course gaps are the refused and thumbs-down questions grouped into topics: each question (as the tutor
understood it, i.e. the follow-up rewritten into a standalone question) is embedded with the course's
MiniLM encoder, and agglomerative clustering with average linkage joins questions whose cosine distance
stays under GAP_DISTANCE. A topic is labelled by the content words most of its questions use, and shown
with the course sections nearest to it (where new material would go).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from bm25s.stopwords import STOPWORDS_EN_PLUS
from langchain_core.embeddings import Embeddings

from tutor.errors import TutorError
from tutor.library import InstructorSession, require_instructor
from tutor.text import stems
from tutor.records.questions import CitedCount, DayCount, QuestionLog, QuestionRecord, Since

if TYPE_CHECKING:
    from tutor.service import TutorService

# Average-linkage cosine distance under which questions share a topic. `python -m benchmarks.gaps` measures
# it on hand-written off-course questions: grouping is exact from 0.4 to 0.7 on the tuning set and on the
# held-out set; 0.75 merges two tuning topics, 0.8 merges held-out ones too. 0.6 sits in the middle.
GAP_DISTANCE = 0.6
LABEL_WORDS = 3
EXAMPLES = 3
NEAREST = 3
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")
_STOPWORDS = frozenset(STOPWORDS_EN_PLUS) | {"explain", "tell", "mean", "means", "please", "does", "did", "way"}


@dataclass
class Gap:
    label: str
    count: int
    examples: list[str]
    nearest: list[dict[str, Any]]  # {"source", "title", "section", "similarity"}
    question_ids: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "count": self.count, "examples": self.examples, "nearest": self.nearest}


@dataclass
class Insights:
    since: str | None
    questions: int
    refused: int
    feedback: dict[str, int]
    per_day: list[DayCount]
    gaps: list[Gap]
    most_cited: list[CitedCount]
    least_cited: list[CitedCount]  # indexed documents, fewest citations first (0 included)
    most_cited_sections: list[CitedCount]
    least_cited_sections: list[CitedCount]

    def to_dict(self, top: int = 10) -> dict[str, Any]:
        """The `tutor insights --json` shape (plus the per-day counts and the least cited)."""
        def documents(counts: Sequence[CitedCount]) -> list[dict[str, Any]]:
            return [{"source": c.source, "count": c.count} for c in counts[:top]]

        def sections(counts: Sequence[CitedCount]) -> list[dict[str, Any]]:
            return [{"source": c.source, "section": c.section, "title": c.title, "count": c.count}
                    for c in counts[:top]]

        return {"since": self.since, "questions": self.questions, "refused": self.refused,
                "gaps": [g.to_dict() for g in self.gaps], "most_cited": documents(self.most_cited),
                "least_cited": documents(self.least_cited), "most_cited_sections": sections(self.most_cited_sections),
                "least_cited_sections": sections(self.least_cited_sections), "feedback": self.feedback,
                "per_day": [asdict(d) for d in self.per_day]}


def instructor_insights(service: TutorService, log: QuestionLog, session: InstructorSession | None,
                        since: Since = None) -> Insights:
    """course_insights for an instructor session only (the insights page goes through this)."""
    require_instructor(service.settings, session)
    return course_insights(log, service, since)


def instructor_records(service: TutorService, log: QuestionLog, session: InstructorSession | None,
                       **filters: Any) -> list[QuestionRecord]:
    """The record of questions (QuestionLog.records filters) for an instructor session only."""
    require_instructor(service.settings, session)
    return log.records(**filters)


def course_insights(log: QuestionLog, service: TutorService, since: Since = None) -> Insights:
    """Everything the insights page and `tutor insights` show, over the questions asked since `since`."""
    totals = log.totals(since)
    cited = log.cited_documents(since)
    cited_sections = log.cited_sections(since)
    indexed = _indexed_sections(service)
    return Insights(
        since=str(since) if since is not None else None, questions=totals["questions"], refused=totals["refused"],
        feedback=log.feedback_counts(since), per_day=log.daily_counts(since),
        gaps=course_gaps(log.records(since=since, gaps_only=True), service),
        most_cited=cited, least_cited=least_cited(cited, sorted({source for source, _, _ in indexed})),
        most_cited_sections=cited_sections,
        least_cited_sections=least_cited_sections(cited_sections, indexed),
    )


def course_gaps(records: Sequence[QuestionRecord], service: TutorService) -> list[Gap]:
    """Refused / thumbs-down questions grouped into topics, largest first."""
    if not records:
        return []
    texts = [r.standalone_question or r.question for r in records]
    vectors = embed_for_gaps(service.embedder, texts)
    gaps = []
    for members in group_questions(vectors):
        centre = _unit(vectors[members].mean(axis=0, keepdims=True))[0]
        by_closeness = sorted(members, key=lambda i: -float(vectors[i] @ centre))
        examples = list(dict.fromkeys(texts[i] for i in by_closeness))[:EXAMPLES]
        gaps.append(Gap(label=topic_label([texts[i] for i in members]), count=len(members), examples=examples,
                        nearest=nearest_sections(service, texts[by_closeness[0]]),
                        question_ids=[records[i].id for i in members]))
    return sorted(gaps, key=lambda g: (-g.count, g.label))


def group_questions(vectors: np.ndarray, distance: float = GAP_DISTANCE) -> list[list[int]]:
    """Indices of the rows that belong together (cosine distance, average linkage)."""
    if len(vectors) == 1:
        return [[0]]
    from sklearn.cluster import AgglomerativeClustering

    labels = AgglomerativeClustering(n_clusters=None, metric="cosine", linkage="average",
                                     distance_threshold=distance).fit_predict(vectors)
    groups: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        groups.setdefault(int(label), []).append(index)
    return list(groups.values())


def topic_label(questions: Sequence[str], words: int = LABEL_WORDS) -> str:
    """The content words the most questions of a topic use (counted once per question, stems merged,
    each shown in its most frequent spelling)."""
    stem_counts: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = {}
    first_seen: dict[str, int] = {}
    for question in questions:
        seen: set[str] = set()
        for word in _WORD.findall(question):
            lower = word.lower().strip("'-")
            if lower in _STOPWORDS or len(lower) < 3:
                continue
            stem = stems([lower])[0]  # the tutor's one stemmer (tutor.text)
            spellings.setdefault(stem, Counter())[lower] += 1
            first_seen.setdefault(stem, len(first_seen))
            if stem not in seen:
                seen.add(stem)
                stem_counts[stem] += 1
    ranked = sorted(stem_counts, key=lambda s: (-stem_counts[s], first_seen[s]))[:words]
    return ", ".join(spellings[s].most_common(1)[0][0] for s in ranked) or (questions[0][:60] if questions else "")


def nearest_sections(service: TutorService, question: str, k: int = NEAREST) -> list[dict[str, Any]]:
    """The course sections closest to a question (dense similarity, no relevance threshold)."""
    try:
        passages = service.retriever.search(question, k=k * 2, mode="dense", apply_threshold=False)
    except TutorError:  # nothing indexed: a gap is still a gap
        return []
    nearest: dict[tuple[str, str], dict[str, Any]] = {}
    for passage in passages:
        chunk = passage.chunk
        key = (chunk.source, chunk.section)
        if key not in nearest:
            nearest[key] = {"source": chunk.source, "title": chunk.title, "section": chunk.section,
                            "similarity": round(float(passage.dense_score or 0.0), 3)}
    return list(nearest.values())[:k]


def least_cited(cited: Sequence[CitedCount], indexed_sources: Sequence[str]) -> list[CitedCount]:
    """Every indexed document with its citation count, fewest first (never-cited ones at the top)."""
    counts = {c.source: c.count for c in cited}
    return sorted((CitedCount(s, counts.get(s, 0)) for s in indexed_sources), key=lambda c: (c.count, c.source))


def least_cited_sections(cited: Sequence[CitedCount], indexed: Sequence[tuple[str, str, str]]) -> list[CitedCount]:
    counts = {(c.source, c.section): c.count for c in cited}
    return sorted((CitedCount(source, counts.get((source, section), 0), section=section, title=title)
                   for source, section, title in indexed), key=lambda c: (c.count, c.source, c.section or ""))


def _indexed_sections(service: TutorService) -> list[tuple[str, str, str]]:
    try:
        chunks = service.store.all_chunks()
    except TutorError:
        return []
    return sorted({(c.source, c.section, c.title) for c in chunks})


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1.0, norms)


def embed_for_gaps(embedder: Embeddings, texts: Sequence[str]) -> np.ndarray:
    """The unit vectors the gaps are clustered on (exposed for tests and tuning)."""
    return _unit(np.asarray(embedder.embed_documents(list(texts)), dtype=float))
