"""The one text kit: what a sentence and a citation are, for the answerer, the evals and the UI."""

from __future__ import annotations

import pytest

from tutor.text import (CITATION, OPEN_CITATION, cite, cited_numbers, content_stems, heading_label, split_sentences,
                        strip_citations)


@pytest.mark.parametrize(("text", "sentences"), [
    # Initials are not sentence ends, alone or in a row, before a surname or another capital.
    ("B. F. Skinner studied operant conditioning [1]. He used boxes [2].",
     ["B. F. Skinner studied operant conditioning [1].", "He used boxes [2]."]),
    ("John B. Watson ran the Little Albert study. It was unethical.",
     ["John B. Watson ran the Little Albert study.", "It was unethical."]),
    ("The case of H. M. changed what we know. Memory has stages.",
     ["The case of H. M. changed what we know.", "Memory has stages."]),
    ("The U.S. Army used intelligence tests. Then schools did.",
     ["The U.S. Army used intelligence tests.", "Then schools did."]),
    # Abbreviations.
    ("Some cues, e.g. smells, help recall [1]. See p. 12 for more.",
     ["Some cues, e.g. smells, help recall [1].", "See p. 12 for more."]),
    ("Ebbinghaus (n.d.) found a curve. Watson et al. (1920) agreed, i.e. it holds.",
     ["Ebbinghaus (n.d.) found a curve.", "Watson et al. (1920) agreed, i.e. it holds."]),
    ("Take 2.5 mg daily. No more.", ["Take 2.5 mg daily.", "No more."]),
    # Citation markers stay with the sentence they close, single or grouped, before or after the stop.
    ("Forgetting curves are steep [1, 3]. Later work agreed [2].",
     ["Forgetting curves are steep [1, 3].", "Later work agreed [2]."]),
    ("Memory has stages.[1][2] Encoding comes first.[3]", ["Memory has stages.[1][2]", "Encoding comes first.[3]"]),
    ("Memory encodes it [1] Storage keeps it [2].", ["Memory encodes it [1]", "Storage keeps it [2]."]),
    # A cited stop ends a sentence even before a lower-case glossary entry.
    ("punishment: a stimulus that decreases a behavior [1]. negative punishment: taking away [2].",
     ["punishment: a stimulus that decreases a behavior [1].", "negative punishment: taking away [2]."]),
    # Lines, list items and headings are sentences of their own; Markdown marks are dropped.
    ("# Stages\n- **Encoding**: input [1]\n- Storage: keeping\n2. Retrieval: getting it back",
     ["Stages", "Encoding: input [1]", "Storage: keeping", "Retrieval: getting it back"]),
    ('He said "stop." Then he left. What next? Nothing!',
     ['He said "stop."', "Then he left.", "What next?", "Nothing!"]),
    ("[1]\n\n  \n", []),  # a marker alone is no sentence
])
def test_sentences(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


def test_the_sentence_cache_hands_out_copies() -> None:
    first = split_sentences("One sentence here. Another one there.")
    first.append("changed")
    assert split_sentences("One sentence here. Another one there.") == ["One sentence here.", "Another one there."]


def test_one_citation_pattern_for_single_and_grouped_markers() -> None:
    assert [m.group(1) for m in CITATION.finditer("a [1] b [1, 3] c [2,4] d [x] e [1; 2]")] == ["1", "1, 3", "2,4"]
    assert cited_numbers("a [3] b [1, 3] c [2][1]") == [3, 1, 2]
    assert strip_citations("Encoding comes first [1]. Then storage [2, 3].") == "Encoding comes first. Then storage."
    assert [bool(OPEN_CITATION.search(t)) for t in ("a [", "a [1", "a [1, ", "a [1]", "a")] == [True, True, True,
                                                                                             False, False]


def test_cite_puts_the_marker_before_the_final_punctuation() -> None:
    assert cite("Storage keeps it.", 2) == "Storage keeps it [2]."
    assert cite("Why?", 1) == "Why [1]?"
    assert cite("extinction: decrease in a response", 3) == "extinction: decrease in a response [3]."


def test_stems_and_heading_labels() -> None:
    assert content_stems("The learners were learning about memories") == {"learner", "learn", "memori"}
    assert heading_label("Memory 8.1 — How Memory Functions", "How Memory Functions › Encoding") == (
        "Memory 8.1 — How Memory Functions › Encoding")
