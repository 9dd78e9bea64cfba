"""BM25F over tsvectors (chatbot.knowledge.ranking): the pure parts, without a database."""

from collections import Counter

from chatbot.knowledge.ranking import VectorStats, bm25f, tsvector_fields


def test_a_tsvector_text_is_read_into_field_term_frequencies():
    fields = tsvector_fields("'cancel':1A,7C 'order':2A,5C,9C 'it''s':3 'ship':11B")
    assert fields["A"] == Counter({"cancel": 1, "order": 1})
    assert fields["B"] == Counter({"ship": 1})
    assert fields["C"] == Counter({"cancel": 1, "order": 2})
    assert fields["D"] == Counter({"it's": 1})
    assert tsvector_fields(None) == {} and tsvector_fields("'bare'")["D"] == Counter({"bare": 1})


def _stats():
    return VectorStats(
        documents=100,
        document_frequency={"order": 90, "invoice": 2, "refund": 5},
        average_length={"A": 4, "B": 2, "C": 40},
    )


def test_a_rare_word_counts_more_than_a_common_one():
    common = tsvector_fields("'order':1A")
    rare = tsvector_fields("'invoice':1A")
    assert bm25f(["invoice", "order"], rare, _stats()) > 3 * bm25f(
        ["invoice", "order"], common, _stats()
    )


def test_the_title_outweighs_the_text_and_repeats_saturate():
    in_title = tsvector_fields("'refund':1A 'x':2C")
    in_text = tsvector_fields("'y':1A 'refund':2C")
    assert bm25f(["refund"], in_title, _stats()) > bm25f(["refund"], in_text, _stats())
    once = bm25f(["refund"], tsvector_fields("'refund':1C"), _stats())
    many = bm25f(["refund"], tsvector_fields("'refund':1C,2C,3C,4C,5C,6C,7C,8C"), _stats())
    assert once < many < 2.5 * once


def test_no_shared_word_scores_zero_and_query_repeats_count_once():
    fields = tsvector_fields("'refund':1A")
    assert bm25f(["invoice"], fields, _stats()) == 0.0
    assert bm25f(["refund", "refund"], fields, _stats()) == bm25f(["refund"], fields, _stats())
    # A word written since the statistics were read counts as rare, not as an error.
    assert bm25f(["brandnew"], tsvector_fields("'brandnew':1A"), _stats()) > 0
