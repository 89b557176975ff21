"""Fusion, section evidence and diversity as pure functions (tutor/ranking.py)."""

from __future__ import annotations

from tutor.ranking import RankerScores, diversify, order_by_sections, reciprocal_rank_fusion, score_fusion, section_evidence


def test_rrf_sums_weighted_reciprocal_ranks() -> None:
    fused = reciprocal_rank_fusion([(1.0, [10, 11]), (2.0, [11, 12])], k=60)
    assert fused[10] == 1 / 61
    assert fused[11] == 1 / 62 + 2 / 61
    assert fused[12] == 2 / 62
    assert max(fused, key=fused.get) == 11


def test_score_fusion_puts_each_ranker_on_its_own_scale_for_the_question() -> None:
    # Dense cosines sit close together; BM25 scores spread out. Each is read as 1 at its best and 0
    # at the depth both were read to (their raw units never meet).
    dense = RankerScores(1.0, {"a": 0.62, "b": 0.60, "c": 0.50}, best=0.62, depth=0.50)
    lexical = RankerScores(1.0, {"a": 2.0, "b": 14.0, "d": 9.0}, best=14.0, depth=2.0)
    fused = score_fusion([dense, lexical])
    assert fused["b"] == (0.60 - 0.50) / 0.12 + 1.0  # near the top of both
    assert fused["a"] == 1.0 + 0.0  # dense's best, BM25's depth
    assert fused["c"] == 0.0  # at dense's depth, unseen by BM25
    assert fused["d"] == (9.0 - 2.0) / 12.0  # unseen by dense counts 0 there
    assert max(fused, key=fused.get) == "b"
    # A sharp BM25 top (one passage far above the rest) outweighs the same ranks with flat scores,
    # which rank fusion cannot tell apart.
    flat = RankerScores(1.0, {"d": 10.0, "b": 9.9}, best=10.0, depth=9.0)
    sharp = RankerScores(1.0, {"d": 10.0, "b": 1.5}, best=10.0, depth=1.0)
    assert score_fusion([dense, flat])["b"] > score_fusion([dense, flat])["d"]
    assert score_fusion([dense, sharp])["d"] > score_fusion([dense, sharp])["b"]


def test_a_ranker_with_no_spread_or_no_score_contributes_nothing() -> None:
    assert RankerScores(1.0, {"a": 3.0}, best=3.0, depth=3.0).normalised("a") == 0.0
    assert RankerScores(1.0, {"a": 3.0}, best=4.0, depth=2.0).normalised("missing") == 0.0
    assert RankerScores(2.0, {"a": 5.0}, best=4.0, depth=2.0).normalised("a") == 1.0  # clipped to the scale
    assert score_fusion([]) == {}


def test_a_section_with_two_matching_passages_beats_one_stray_match() -> None:
    section = {1: "stray.md", 2: "gold.md", 3: "gold.md", 4: "other.md"}.get
    fused = {1: 0.030, 2: 0.028, 3: 0.020, 4: 0.010}
    evidence = section_evidence(fused, section)
    assert evidence["gold.md"] == 0.028 + 0.5 * 0.020 > evidence["stray.md"] == 0.030
    assert order_by_sections(fused, section) == [2, 3, 1, 4]


def test_diversity_defers_a_second_passage_only_while_another_section_scores_higher() -> None:
    section = {1: "a", 2: "a", 3: "b", 4: "a", 5: "c"}.get
    fused = {1: 0.05, 2: 0.04, 3: 0.03, 4: 0.035, 5: 0.01}
    # a's second passage (2) outscores b's best (3): it stays second; so does 4 over c's best (5).
    assert diversify([1, 2, 3, 4, 5], fused, section, k=5) == [1, 2, 3, 4, 5]
    fused[2] = 0.02  # now weaker than b's best: b is shown first
    assert diversify([1, 2, 3, 4, 5], fused, section, k=3) == [1, 3, 4]
    assert diversify([1, 2, 3, 4, 5], fused, section, k=5) == [1, 3, 4, 5, 2]


def test_diversity_applies_the_filter_and_stops_at_k() -> None:
    section = {1: "a", 2: "b", 3: "c"}.get
    fused = {1: 0.3, 2: 0.2, 3: 0.1}
    assert diversify([1, 2, 3], fused, section, k=2, keep=lambda row, picked: row != 2) == [1, 3]
    assert diversify([], fused, section, k=2) == []
