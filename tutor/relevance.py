"""A relevance floor calibrated on each corpus at ingest, instead of one cosine for every course.

Score distributions differ by book (a jargon-dense microbiology text sits far from everyday
English; a history text is close to it), so the floor is measured on the corpus itself: how close
questions that are NOT about the course come to its passages (a fixed set of off-course probes,
short and long), against how close the course's own sentences come to the rest of the course.
The floor sits between the two; it is stored in the index's metadata and read at query time.

A question's relevance is the best cosine any passage reaches with the question as a whole or with
one of its sentences (`question_views`): a scenario of several sentences ("Cara is 17. Her parents
drink every night… Which kind of learning is this?") dilutes its vector as a whole, but one of its
sentences still meets the section that answers it, while an off-course story meets nothing. So
short and long questions are judged on one scale, by one floor.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tutor.models import Chunk
from tutor.text import split_sentences

# Questions no course in the library is about, of everyday kinds. (benchmarks/ uses a different
# set to check refusals, so the check does not test the calibration on its own probes.)
OFF_COURSE_SHORT = (
    "What time does the supermarket close on Sundays?", "How do I reset my wifi router password?",
    "Which team won the basketball championship last year?", "What is a good recipe for lasagna?",
    "How do I change a flat tyre on my car?", "What is the weather forecast for tomorrow?",
    "Recommend a good movie to watch tonight", "How much does a flight to Tokyo cost?",
    "What are the lyrics of the latest pop song?", "How do I knit a scarf?",
    "Where can I buy cheap concert tickets?", "How do I unclog a kitchen sink?",
    "What is the best smartphone to buy?", "How long should I boil an egg?",
    "What are the opening hours of the museum?", "How do I train my puppy to sit?",
    "Which video game console has the most games?", "How do I make my houseplants grow faster?",
    "What is the exchange rate of the euro today?", "Tell me a joke about cats",
    "How do I install a ceiling fan?", "What shoes go well with a blue suit?",
    "How many calories are in a slice of pizza?", "What is the plot of the new superhero film?",
)
OFF_COURSE_LONG = (
    "I am planning a birthday party for my six-year-old next Saturday and I need ideas for games, a cake that is "
    "easy to bake at home, and decorations that will not cost too much money. What do you suggest?",
    "My laptop has become very slow over the last few weeks, it takes minutes to start and the fan is always "
    "loud even when I only have a browser open. What should I check before buying a new one?",
    "We are driving from the coast to the mountains for a week of hiking in the summer holidays with two "
    "teenagers, and I want to know what to pack, which trails are good for beginners and where to stay.",
    "I keep losing at chess against my friend because he always attacks early with his queen and I do not know "
    "how to defend against it. What opening should I learn and how do I practise it?",
    "Our football club needs a new kit for the season and the sponsors want their logo on the front, but the "
    "players prefer the old colours. How do we choose a design that keeps everybody happy?",
    "I want to renovate my bathroom on a small budget this spring: new tiles, a shower instead of the bathtub "
    "and better lighting. In which order should the work be done and what will it roughly cost?",
)
# In-course probes per corpus: enough for stable quantiles, few enough to embed in a second or two.
_IN_COURSE_SAMPLE = 200
# Up to this many chunks the floor is computed exactly over every passage (~30 MB of vectors); above
# it, on a bounded sample with the dense index's nearest neighbours, so the cost stays flat.
_EXACT_UP_TO = 20_000
_QUESTION_FLOOR_AT = 1 / 3  # where the floor sits from the off-course probes (0) to the course's sentences (1)
_VIEW_WORDS = 4  # a sentence of a question shorter than this says too little to be judged alone
# Bump when the calibration recipe changes: an index with an older floor is recalibrated on ingest.
FLOOR_VERSION = 4


def question_views(text: str) -> list[str]:
    """The texts a question's relevance is measured on: the question as a whole and, when it has
    several, each of its sentences of a few words or more."""
    whole = " ".join(text.split())
    sentences = [s for s in split_sentences(whole) if len(s.split()) >= _VIEW_WORDS]
    return [whole] + (sentences if len(sentences) > 1 else [])


@dataclass(frozen=True)
class RelevanceFloor:
    """The relevance (see `question_views`) below which a question is not about the course, and the
    cosine to the whole question below which a single passage is not evidence for it."""

    question: float
    passage: float
    # The distributions behind them, recorded for `tutor status` and the benchmark.
    off_course: float = 0.0  # 90th percentile of the off-course probes' relevance
    in_course: float = 0.0  # 10th percentile of the course's own sentences' best cosine

    _KEYS = ("question", "passage", "off_course", "in_course")

    def to_dict(self) -> dict[str, float]:
        return {key: round(float(getattr(self, key)), 4) for key in self._KEYS}

    def to_metadata(self) -> dict[str, float]:
        data = {f"relevance_floor_{key}": value for key, value in self.to_dict().items()}
        data["relevance_floor_version"] = FLOOR_VERSION
        return data

    @classmethod
    def from_metadata(cls, metadata: dict | None) -> RelevanceFloor | None:
        metadata = metadata or {}
        if metadata.get("relevance_floor_version") != FLOOR_VERSION:
            return None  # made by an older recipe (or none): the next ingest recalibrates
        try:
            return cls(**{key: float(metadata[f"relevance_floor_{key}"]) for key in cls._KEYS})
        except (KeyError, TypeError, ValueError):
            return None  # an index built before floors were calibrated

    def __str__(self) -> str:
        return (f"question {self.question:.3f}, passage {self.passage:.3f} (off-course probes reach "
                f"{self.off_course:.3f}, the course's own sentences {self.in_course:.3f})")


def in_course_probes(chunks: Sequence[Chunk], sample: int = _IN_COURSE_SAMPLE) -> list[tuple[int, str]]:
    """(row, sentence): one sentence of 8–30 words from evenly spaced chunks, as a stand-in for a
    question the course answers (it should find the rest of its section)."""
    if not chunks:
        return []
    step = max(1, len(chunks) // sample)
    probes = []
    for row in range(0, len(chunks), step):
        for sentence in split_sentences(chunks[row].text.replace("\n", " ")):
            words = sentence.split()
            if 8 <= len(words) <= 30:
                probes.append((row, " ".join(words)))
                break
    return probes[:sample]


def off_course_views() -> tuple[list[str], list[int]]:
    """Every view of every off-course probe, and for each view the probe it belongs to."""
    texts, owner = [], []
    for n, probe in enumerate(OFF_COURSE_SHORT + OFF_COURSE_LONG):
        for view in question_views(probe):
            texts.append(view)
            owner.append(n)
    return texts, owner


def calibrate(chunks: Sequence[Chunk], vectors: np.ndarray,
              embed: Callable[[list[str]], list[list[float]]]) -> RelevanceFloor | None:
    """The floor for this corpus; None when it has too few passages to measure anything."""
    probes = in_course_probes(chunks)
    if len(chunks) < 3 or len(probes) < 3:
        return None
    views, owner = off_course_views()
    query = np.asarray(embed([text for _, text in probes] + views), dtype=np.float32)
    scores = query @ vectors.T
    in_scores = scores[:len(probes)].copy()
    for i, (row, _) in enumerate(probes):
        in_scores[i, row] = -1.0  # the passage the sentence came from does not count
    return floor_from_scores(in_scores.max(axis=1), scores[len(probes):].max(axis=1), owner)


def floor_from_scores(in_best: np.ndarray, off_view_best: np.ndarray, owner: Sequence[int]) -> RelevanceFloor:
    """The floor from the best cosines of the in-course probes and of the off-course probes' views
    (`owner[i]` is the probe view i belongs to; a probe's relevance is its best view, and its first
    view is the probe as a whole)."""
    probes = sorted(set(owner))
    relevance = np.asarray([max(off_view_best[i] for i in range(len(owner)) if owner[i] == p) for p in probes])
    whole = np.asarray([off_view_best[owner.index(p)] for p in probes])
    in_q = float(np.quantile(in_best, 0.10))
    off_q = float(np.quantile(relevance, 0.90))
    # Between the off-course probes and the course's own sentences, a third of the way up: students'
    # questions on the course reach it less closely than its own sentences do (midway refused a short
    # question of the psychology dev set's tune half). Where the two overlap, the off-course side wins.
    question = max(off_q, off_q + (in_q - off_q) * _QUESTION_FLOOR_AT)
    # A passage no closer to the question than a typical off-course question comes to the course
    # is no evidence for it: the median of the off-course probes as a whole.
    passage = min(float(np.quantile(whole, 0.5)), question)
    return RelevanceFloor(question=question, passage=passage, off_course=off_q, in_course=in_q)


def _sample_chunks(store, sample: int) -> list[Chunk]:
    """About `sample` chunks spread over the collection, read in a few small pages: the cost does
    not grow with the corpus (a whole-collection read fails past Chroma's SQL variable limit)."""
    from tutor.store import chunk_from_row

    total = store.count()
    pages = 10
    size = max(1, -(-sample // pages))
    offsets = sorted({int(i * max(0, total - size) / max(1, pages - 1)) for i in range(pages)}) if total > sample else [0]
    chunks: list[Chunk] = []
    seen: set[str] = set()
    for offset in offsets:
        rows = store.collection.get(include=["documents", "metadatas"], limit=size if total > sample else sample,
                                    offset=offset)
        for i, d, m in zip(rows["ids"], rows["documents"], rows["metadatas"]):
            if i not in seen:
                seen.add(i)
                chunks.append(chunk_from_row(i, d, m))
    return chunks


def calibrate_store(store, embed: Callable[[list[str]], list[list[float]]]) -> RelevanceFloor | None:
    """Calibrate on the store and record the floor in the live collection's metadata (merged: the
    other keys stay). Called by ingest after every change to the index. The probes are a bounded
    sample of the course's sentences; each probe's best passage comes from the dense index (the
    same nearest-neighbour search questions use), so the cost stays flat from 2k to 500k chunks."""
    if store.count() <= _EXACT_UP_TO:
        # A course of ordinary size: every passage and vector, read in batches, scored exactly.
        chunks, vectors = [], []
        for page in store._pages(store.collection, ["documents", "metadatas", "embeddings"]):
            from tutor.store import chunk_from_row
            chunks += [chunk_from_row(i, d, m) for i, d, m in zip(page["ids"], page["documents"], page["metadatas"])]
            vectors += list(page["embeddings"])
        floor = calibrate(chunks, np.asarray(vectors, dtype=np.float32).reshape(len(vectors), -1), embed) if chunks else None
        return _record(store, floor)
    chunks = _sample_chunks(store, _IN_COURSE_SAMPLE)
    probes = in_course_probes(chunks)
    floor = None
    if store.count() >= 3 and len(probes) >= 3:
        views, owner = off_course_views()
        found = store.collection.query(query_embeddings=embed([text for _, text in probes] + views),
                                       n_results=min(2, store.count()), include=["distances"])
        best = []
        for i, (ids, distances) in enumerate(zip(found["ids"], found["distances"])):
            own = chunks[probes[i][0]].chunk_id if i < len(probes) else None
            # Cosine distance to similarity; the passage a probe sentence came from does not count.
            similarities = [1.0 - d for chunk_id, d in zip(ids, distances) if chunk_id != own]
            best.append(max(similarities) if similarities else -1.0)
        best_scores = np.asarray(best, dtype=np.float32)
        floor = floor_from_scores(best_scores[:len(probes)], best_scores[len(probes):], owner)
    return _record(store, floor)


def _record(store, floor: RelevanceFloor | None) -> RelevanceFloor | None:
    metadata = {k: v for k, v in (store.collection.metadata or {}).items() if not k.startswith("relevance_floor_")}
    if floor is not None:
        metadata.update(floor.to_metadata())
    store.collection.modify(metadata=metadata)
    return floor


def stored_floor(store) -> RelevanceFloor | None:
    """The floor recorded in the index (read fresh: another process may have re-ingested)."""
    try:
        metadata = store.client.get_collection(store.live_collection).metadata
    except Exception:  # a collection dropped under us: no floor until the next ingest
        return None
    return RelevanceFloor.from_metadata(metadata)
