"""Typo tolerance (chatbot.knowledge.spelling): a misspelled word of a question is also
searched as the knowledge base's nearest word, without widening the widget key's scope."""

import pytest

from chatbot.knowledge import spelling
from chatbot.knowledge.ranking import VectorStats
from chatbot.knowledge.retrieval import knowledge_search
from chatbot.knowledge.services import article_save
from tests.factories import WidgetKeyFactory

pytestmark = pytest.mark.django_db


def _save(title, body, **kwargs):
    return article_save(title=title, body=body, **kwargs).article


def _titles(query, widget_key_id=None):
    return [hit.title for hit in knowledge_search(query=query, widget_key_id=widget_key_id)]


@pytest.fixture
def shop():
    _save("Cancel an order", "You can cancel an order until it has shipped.")
    _save("Delivery times", "Parcels are delivered within 3 to 5 working days.")
    _save("Pillows", "Our memory-foam pillows come in two heights.")


def test_misspelled_words_find_the_article_they_meant(shop):
    assert _titles("I want to cancle my order")[0] == "Cancel an order"  # swapped letters
    assert _titles("Need pilows")[0] == "Pillows"  # a letter missing
    assert _titles("not recieved, when is it dilivered")[0] == "Delivery times"


def test_stop_words_are_never_read_as_typos():
    _save("Contact form", "Fill in the form and we reply within a day.")
    assert _titles("where is it from") == []  # "from" is one edit from "form"
    assert _titles("the fomrs")[0] == "Contact form"


def test_without_typo_tolerance_they_find_nothing(shop, settings):
    settings.KNOWLEDGE_TYPO_TOLERANCE = False
    assert _titles("Need pilows") == []
    assert _titles("cancle") == []


def test_a_correction_never_reaches_another_widget_keys_articles():
    """The vocabulary is the whole knowledge base's, the search stays the key's own."""
    ours, theirs = WidgetKeyFactory(), WidgetKeyFactory()
    _save("Refunds", "Refunds take five days.", widget_key_ids=[ours.pk])
    _save("Wholesale pricing", "Discounts for resellers.", widget_key_ids=[theirs.pk])
    assert _titles("wholesael", widget_key_id=theirs.pk) == ["Wholesale pricing"]
    assert _titles("wholesael", widget_key_id=ours.pk) == []
    assert _titles("wholesael refnds", widget_key_id=ours.pk) == ["Refunds"]


def test_a_new_word_in_the_knowledge_base_is_corrected_to_at_once(shop):
    assert _titles("warrantee") == []
    _save("Warranty", "Every mattress has a ten-year warranty.")
    assert _titles("warrantee") == ["Warranty"]  # two edits: a word of 9 letters


def _stats(**frequency):
    return VectorStats(documents=10, document_frequency=frequency)


def test_only_unknown_words_of_letters_long_enough_are_corrected():
    stats = _stats(order=5, cancel=3, pillow=2)
    words = {
        "cancle": ("cancl",),  # unknown: corrected
        "order": ("order",),  # known: left alone
        "ordr": ("ordr",),  # shorter than KNOWLEDGE_TYPO_MIN_LENGTH (5): "many" is not "may"
        "ordr2": ("ordr2",),  # not letters only
        "xancel": ("xancel",),  # the first letter is taken as typed
        "pilow": (),  # a stop word in every configuration: nothing to correct
    }
    assert spelling.corrections(words, stats) == ["cancel"]


def test_one_edit_for_short_words_two_from_eight_letters_and_the_most_common_wins():
    stats = _stats(store=1, stone=9, delivery=4, shipping=2)
    assert spelling.corrections({"stoxe": ("stoxe",)}, stats) == ["stone"]  # both 1 edit away
    assert spelling.corrections({"sxoxe": ("sxoxe",)}, stats) == []  # 2 edits, 5 letters
    assert spelling.corrections({"dlivry": ("dlivri",)}, stats) == []  # 2 edits, 6 letters
    assert spelling.corrections({"delivrey": ("delivrey",)}, stats) == ["delivery"]  # 8 letters
    assert spelling.corrections({"shiping": ("shiping",)}, stats) == ["shipping"]


def test_no_statistics_or_turned_off_corrects_nothing(settings):
    assert spelling.corrections({"cancle": ("cancl",)}, VectorStats()) == []
    settings.KNOWLEDGE_TYPO_TOLERANCE = False
    assert spelling.corrections({"cancle": ("cancl",)}, _stats(cancel=1)) == []
