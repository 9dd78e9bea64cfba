"""The offline responder answering from given sources (pure: no Django, no network)."""

from chatbot.llm import ChatMessage, ChatRequest, KnowledgeSource, OfflineResponder
from chatbot.llm.offline import best_source

SOURCES = (
    KnowledgeSource(1, "Payments", "An invoice is attached to your email.", heading="Invoices"),
    KnowledgeSource(2, "Payments", "We accept Visa and PayPal.", heading="Accepted methods"),
)


def _answer(question: str, sources=SOURCES) -> str:
    request = ChatRequest(model="m", messages=[ChatMessage("user", question)], sources=sources)
    pieces: list[str] = []
    completion = OfflineResponder().stream(request, pieces.append)
    assert "".join(pieces) == completion.text
    return completion.text


def test_it_quotes_the_source_that_fits_the_question_and_cites_its_number():
    text = _answer("Do you take PayPal?")
    assert text.startswith("From our help article **Payments \u203a Accepted methods** [2]:")
    assert "> We accept Visa and PayPal." in text


def test_ties_go_to_the_search_order():
    assert best_source("hello", SOURCES).number == 1


def test_a_long_source_is_shortened():
    long = (KnowledgeSource(1, "Terms", "word " * 400),)
    assert len(_answer("terms?", long)) < 1000


def test_without_sources_it_says_it_is_offline():
    assert "offline demo responder" in _answer("Do you take PayPal?", ())
