"""Weighted reciprocal-rank fusion (retrieval.reciprocal_rank_fusion), as the hybrid search
uses it: full text at weight 1, embeddings at KNOWLEDGE_EMBEDDING_WEIGHT."""

import pytest

from chatbot.knowledge.retrieval import reciprocal_rank_fusion


def test_weighted_fusion_lets_the_stronger_ranking_lead():
    text, vectors = [1, 2, 3], [3, 4, 1]
    plain = reciprocal_rank_fusion([text, vectors], k=60)
    assert max(plain, key=plain.get) == 1  # ranks 1 and 3 beat ranks 3 and 1 only by the id
    weighted = reciprocal_rank_fusion([text, vectors], k=60, weights=[1.0, 2.0])
    assert max(weighted, key=weighted.get) == 3
    assert weighted[4] == pytest.approx(2 / 62) and weighted[2] == pytest.approx(1 / 62)
    with pytest.raises(ValueError):
        reciprocal_rank_fusion([text, vectors], weights=[1.0])
