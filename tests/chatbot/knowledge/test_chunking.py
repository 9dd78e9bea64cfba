"""Chunking: headings give the path, paragraphs are packed within the token bound, long text
is cut at sentences with a small overlap."""

import itertools

from chatbot.knowledge.chunking import article_chunk, token_count


def test_headings_give_each_chunk_its_path():
    body = (
        "Intro line.\n\n# Returns\n\nSend it back.\n\n"
        "## Refunds\n\nMoney back in 5 days.\n\n# Shipping\n\nWe ship."
    )
    chunks = article_chunk(body=body)
    assert [(c.heading_path, c.text) for c in chunks] == [
        ([], "Intro line."),
        (["Returns"], "Send it back."),
        (["Returns", "Refunds"], "Money back in 5 days."),
        (["Shipping"], "We ship."),
    ]
    assert [c.position for c in chunks] == [0, 1, 2, 3]
    assert all(c.token_count == token_count(c.text) for c in chunks)


def test_paragraphs_are_packed_up_to_the_bound_and_never_over_it():
    paragraphs = [f"Paragraph {i} says something about parcels and refunds." for i in range(40)]
    chunks = article_chunk(body="\n\n".join(paragraphs), max_tokens=60, overlap_tokens=10)
    assert len(chunks) > 5
    assert all(c.token_count <= 60 for c in chunks)
    assert "Paragraph 0 " in chunks[0].text and "Paragraph 1 " in chunks[0].text  # packed
    assert "Paragraph 39" in chunks[-1].text


def test_a_long_paragraph_is_cut_at_sentences_with_overlap():
    sentences = [f"Sentence number {i} explains one detail of the warranty." for i in range(30)]
    chunks = article_chunk(body=" ".join(sentences), max_tokens=50, overlap_tokens=12)
    assert len(chunks) > 3
    assert all(c.token_count <= 50 for c in chunks)
    # Each continuation starts with the end of the chunk before it.
    for before, after in itertools.pairwise(chunks):
        carried = after.text.split("\n\n")[0]
        assert carried and before.text.endswith(carried)


def test_chinese_text_is_cut_at_chinese_sentence_ends():
    body = "。".join(["退货需要在收到商品后三十天内申请并保留原包装"] * 30) + "。"
    chunks = article_chunk(body=body, max_tokens=60, overlap_tokens=0)
    assert len(chunks) > 3
    assert all(c.token_count <= 60 for c in chunks)
    assert all(c.text.endswith("。") for c in chunks)


def test_code_fences_do_not_start_sections():
    body = "# Setup\n\n```\n# not a heading\n```\n\nDone."
    chunks = article_chunk(body=body)
    assert {tuple(c.heading_path) for c in chunks} == {("Setup",)}
