# ruff: noqa: RUF001 - Chinese text uses full-width punctuation
"""Chinese segmentation for search (unit tests of one function each)."""

from chatbot.knowledge.segment import has_chinese, segment, segmented


def test_jieba_cuts_words_and_keeps_the_short_words_inside_long_ones():
    words = segment("支原体肺炎怎么治疗？", segmenter="jieba")
    assert "支原体" in words and "肺炎" in words and "治疗" in words
    assert "？" not in words and "怎么" not in words  # punctuation and stop words dropped


def test_bigrams_are_every_adjacent_pair_of_han_characters():
    assert segment("退货退款", segmenter="bigram") == ["退货", "货退", "退款"]
    assert segment("肺", segmenter="bigram") == ["肺"]


def test_latin_words_and_digits_inside_chinese_are_kept_lower_cased():
    assert segment("iPhone 15 保修", segmenter="bigram") == ["iphone", "15", "保修"]
    assert {"iphone", "15", "保修"} <= set(segment("iPhone 15 保修", segmenter="jieba"))


def test_stop_words_can_be_kept_and_none_segments_nothing():
    assert "什么" in segment("病因是什么", segmenter="jieba", stopwords=False)
    assert "什么" not in segment("病因是什么", segmenter="jieba")
    assert segment("病因是什么", segmenter="none") == []


def test_only_text_with_chinese_gets_a_segmented_vector():
    assert segmented("Where is my order?", segmenter="jieba") == ""
    assert segmented("订单在哪里", segmenter="bigram") == "订单 单在 在哪"  # 哪里 is a stop word
    assert has_chinese("退货") and not has_chinese("return") and not has_chinese("カタカナと漢字")
