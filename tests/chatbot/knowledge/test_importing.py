# ruff: noqa: RUF001 - Chinese text uses full-width punctuation
"""Importing files: every format, idempotent re-import, vanished articles unpublished, a bad
file reported with its reason and never half-imported; the management command."""

import json

import pytest
from django.core.management import CommandError, call_command

from chatbot.knowledge.importing import (
    ImportFile,
    file_parse,
    knowledge_import,
    source_get_or_create,
)
from chatbot.knowledge.models import Article, Chunk
from chatbot.knowledge.retrieval import knowledge_search
from tests.chatbot.knowledge.documents import pdf_with_text

pytestmark = pytest.mark.django_db

MARKDOWN = b"""---
title: Returns policy
tags: returns, refunds
url: https://shop.example.com/help/returns
---

# Returns

Return any item within 30 days.

## Refunds

Refunds take 5 business days.
"""
HTML = b"""<html><head><title>Shipping</title><style>.secret { color: red }</style>
<script>var trackingSecret = "do-not-index";</script></head>
<body><nav>Home | Shop</nav><h1>Shipping</h1><p>We ship to <b>40</b> countries.</p>
<h2>Express</h2><ul><li>Next-day delivery</li><li>Costs 10 euros</li></ul>
<noscript>enable js</noscript></body></html>"""
CSV = (
    "question,answer,tags,language\n"
    'Do you ship abroad?,"Yes, to 40 countries.",shipping,en\n'
    "Can I pay by card?,Visa and Mastercard.,payments,en\n"
    "如何退货？,收到商品30天内可以退货。,退货,zh\n"
).encode()
FAQ_JSON = json.dumps(
    {"faqs": [{"question": "Is gift wrap free?", "answer": "Yes, always.", "tags": ["gifts"]}]}
).encode()


def _import(files, location="test-source"):
    source = source_get_or_create(location=location)
    return knowledge_import(files=[ImportFile(n, d) for n, d in files], source=source)


def test_markdown_front_matter_and_headings():
    [draft] = file_parse(ImportFile("returns.md", MARKDOWN))
    assert draft.title == "Returns policy"
    assert draft.tags == ["returns", "refunds"]
    assert draft.public_url == "https://shop.example.com/help/returns"
    report = _import([("returns.md", MARKDOWN)])
    article = Article.objects.get(external_id="returns.md")
    assert report.added == ["returns.md"]
    assert [c.heading_path for c in article.chunks.all()] == [["Returns"], ["Returns", "Refunds"]]


def test_markdown_without_front_matter_takes_its_first_heading():
    [draft] = file_parse(ImportFile("a.md", b"# Payment methods\n\nCards and PayPal.\n"))
    assert (draft.title, draft.body) == ("Payment methods", "Cards and PayPal.")


def test_html_keeps_the_text_and_drops_scripts_styles_and_navigation():
    [draft] = file_parse(ImportFile("shipping.html", HTML))
    assert draft.title == "Shipping"
    assert "We ship to 40 countries." in draft.body
    assert "## Express" in draft.body and "- Next-day delivery" in draft.body
    for hidden in ("trackingSecret", "do-not-index", "color: red", "Home | Shop", "enable js"):
        assert hidden not in draft.body


def test_plain_text_first_line_is_the_title():
    [draft] = file_parse(ImportFile("hours.txt", b"Opening hours\n\nMonday to Friday, 9 to 5.\n"))
    assert (draft.title, draft.body) == ("Opening hours", "Monday to Friday, 9 to 5.")


def test_csv_faq_pairs_become_one_article_each():
    drafts = file_parse(ImportFile("faq.csv", CSV))
    assert [(d.title, d.body, d.language) for d in drafts] == [
        ("Do you ship abroad?", "Yes, to 40 countries.", "en"),
        ("Can I pay by card?", "Visa and Mastercard.", "en"),
        ("如何退货？", "收到商品30天内可以退货。", "zh"),
    ]
    _import([("faq.csv", CSV)])
    assert knowledge_search(query="怎么退货", widget_key_id=None)[0].title == "如何退货？"
    assert Article.objects.get(title="如何退货？").search_config == "simple"


def test_json_faq_pairs():
    [draft] = file_parse(ImportFile("faq.json", FAQ_JSON))
    assert (draft.title, draft.body, draft.tags) == (
        "Is gift wrap free?",
        "Yes, always.",
        ["gifts"],
    )


def test_pdf_text_is_extracted():
    data = pdf_with_text(["Warranty", "Every kettle has a two year warranty."], title="Warranty")
    [draft] = file_parse(ImportFile("warranty.pdf", data))
    assert draft.title == "Warranty"
    assert "two year warranty" in draft.body
    _import([("warranty.pdf", data)])
    assert knowledge_search(query="kettle warranty", widget_key_id=None)[0].title == "Warranty"


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "not a readable PDF"),
        ("faq.csv", b"name,email\nAnn,ann@example.com\n", "needs a 'question' and an 'answer'"),
        ("faq.csv", b"question,answer\nOnly a question,\n", "row 1 needs both"),
        ("faq.json", b'{"faqs": [{"question": "x"', "not valid JSON"),
        ("faq.json", b'{"question": "x", "answer": "y"}', "expected a list"),
        ("notes.md", b"caf\xe9 in latin-1, not utf-8", "not UTF-8"),
        ("empty.txt", b"   \n", "is empty"),
        ("picture.png", b"\x89PNG....", "unsupported file type"),
    ],
)
def test_a_bad_file_fails_with_a_clear_reason(name, data, reason):
    report = _import([(name, data), ("good.md", b"# Good\n\nStill imported.")])
    assert len(report.failed) == 1 and report.failed[0][0] == name
    assert reason in report.failed[0][1]
    assert report.added == ["good.md"]  # the other files go on


def test_a_file_failing_midway_imports_none_of_its_articles():
    # The third row is bad: the first two must not be saved either.
    data = b"question,answer\nFirst?,One.\nSecond?,Two.\nThird?,\n"
    report = _import([("faq.csv", data)])
    assert report.failed and Article.objects.count() == 0 and Chunk.objects.count() == 0


def test_reimport_is_idempotent_and_follows_changes():
    files = [("returns.md", MARKDOWN), ("faq.csv", CSV), ("faq.json", FAQ_JSON)]
    first = _import(files)
    assert (len(first.added), first.updated, first.unchanged) == (5, [], [])
    chunk_ids = set(Chunk.objects.values_list("pk", flat=True))

    again = _import(files)
    assert (again.added, again.updated, len(again.unchanged), again.unpublished) == ([], [], 5, 0)
    assert set(Chunk.objects.values_list("pk", flat=True)) == chunk_ids  # nothing re-cut

    changed_md = MARKDOWN.replace(b"5 business days", b"3 business days")
    changed = _import([("returns.md", changed_md), ("faq.csv", CSV)])  # faq.json vanished
    assert changed.updated == ["returns.md"] and len(changed.unchanged) == 3
    assert changed.unpublished == 1
    assert not Article.objects.get(title="Is gift wrap free?").published
    assert "3 business days" in Article.objects.get(external_id="returns.md").chunks.last().text
    assert knowledge_search(query="gift wrap", widget_key_id=None) == []

    back = _import([("returns.md", changed_md), ("faq.csv", CSV), ("faq.json", FAQ_JSON)])
    assert back.updated == ["faq.json#Is gift wrap free?"]  # published again
    assert Article.objects.get(title="Is gift wrap free?").published


def test_a_file_that_fails_on_reimport_keeps_its_articles_published():
    _import([("returns.md", MARKDOWN), ("faq.csv", CSV)])
    report = _import([("returns.md", MARKDOWN), ("faq.csv", b"garbage without header")])
    assert report.failed and report.unpublished == 0
    assert Article.objects.filter(published=True).count() == 4


def test_the_management_command_imports_a_directory_and_summarises(tmp_path, capsys):
    (tmp_path / "help").mkdir()
    (tmp_path / "help" / "returns.md").write_bytes(MARKDOWN)
    (tmp_path / "help" / "shipping.html").write_bytes(HTML)
    (tmp_path / "faq.csv").write_bytes(CSV)
    (tmp_path / "ignored.png").write_bytes(b"png")
    call_command("knowledge_import", str(tmp_path))
    out = capsys.readouterr().out
    assert "added 5, updated 0, unchanged 0, unpublished 0, failed 0" in out
    assert Article.objects.filter(external_id="help/returns.md").exists()
    call_command("knowledge_import", str(tmp_path))
    assert "added 0, updated 0, unchanged 5" in capsys.readouterr().out


def test_the_management_command_fails_loudly_on_a_bad_file(tmp_path, capsys):
    (tmp_path / "good.md").write_bytes(MARKDOWN)
    (tmp_path / "bad.json").write_bytes(b"{nope")
    with pytest.raises(CommandError, match="1 file"):
        call_command("knowledge_import", str(tmp_path))
    out = capsys.readouterr().out
    assert "failed 1" in out and "bad.json: not valid JSON" in out
    assert Article.objects.filter(external_id="good.md").exists()


def test_the_management_command_refuses_a_missing_path(tmp_path):
    with pytest.raises(CommandError, match="no such file"):
        call_command("knowledge_import", str(tmp_path / "nowhere"))
