"""Knowledge gaps grouped by meaning when embeddings are configured: a new wording joins the
closest older open gap of the same widget key (the stub's /v1/embeddings through the real
SDK, the Celery task run eagerly), and is listed under it in the admin."""

import pytest

from chatbot.knowledge.models import KnowledgeGap
from chatbot.knowledge.services import knowledge_gap_record
from tests.factories import WidgetKeyFactory
from tests.stub_llm import Embeddings, Error

pytestmark = pytest.mark.django_db


@pytest.fixture
def record(settings, use_llm_stub, django_capture_on_commit_callbacks):
    settings.KNOWLEDGE_EMBEDDING_MODEL = "stub-embedding"
    settings.KNOWLEDGE_GAP_SIMILARITY = 0.8
    # "parcel" and "package" are one word to this embedding model; the text is not.
    use_llm_stub.default_embeddings = Embeddings(synonyms=(("package", "parcel"),))

    def record(question, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):  # the eager gap_group task
            return knowledge_gap_record(question=question, reason="no_match", **kwargs)

    return record


def test_a_new_wording_of_a_known_gap_joins_it(record):
    first = record("Where is my parcel")
    record("Where is my parcel?")  # the same normalised text: counted without embedding
    second = record("where is my package")
    other = record("Do you sell gift cards")
    first.refresh_from_db()
    second.refresh_from_db()
    other.refresh_from_db()
    assert second.grouped_into == first
    assert first.count == 3 and first.grouped_into is None  # the group counts its wordings
    assert other.grouped_into is None and other.count == 1
    # The grouped wording asked again counts in its group too.
    record("Where is my package?")
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.count, second.count) == (4, 2)


def test_gaps_of_another_widget_key_are_never_grouped_together(record):
    mine, theirs = WidgetKeyFactory(), WidgetKeyFactory()
    ours = record("Where is my parcel", widget_key_id=mine.id)
    stranger = record("where is my package", widget_key_id=theirs.id)
    stranger.refresh_from_db()
    ours.refresh_from_db()
    assert stranger.grouped_into is None and ours.count == 1


def test_dissimilar_questions_stay_apart_and_are_embedded(record):
    a = record("How long does delivery take")
    b = record("Can I pay by invoice")
    for gap in (a, b):
        gap.refresh_from_db()
        assert gap.grouped_into is None
        assert gap.embedding_model == "stub-embedding" and len(gap.embedding) == 64


def test_without_embeddings_gaps_group_by_text_only(settings, use_llm_stub):
    settings.KNOWLEDGE_EMBEDDING_MODEL = ""
    knowledge_gap_record(question="Where is my parcel", reason="no_match")
    second = knowledge_gap_record(question="where is my package", reason="no_match")
    assert second.grouped_into is None and second.embedding is None
    assert not [r for r in use_llm_stub.requests if r.path.endswith("/embeddings")]


def test_a_failing_embedding_endpoint_leaves_the_gap_counted(record, use_llm_stub):
    use_llm_stub.script(Error(status=400), endpoint="embeddings")  # not retryable
    with pytest.raises(Exception):  # noqa: B017 - the eager task raises the LLM error
        record("Where is my parcel")
    gap = KnowledgeGap.objects.get()
    assert gap.count == 1 and gap.embedding is None and gap.grouped_into is None


def test_the_admin_lists_groups_with_their_wordings(record, admin_client):
    group = record("Where is my parcel")
    variant = record("where is my package")
    listing = admin_client.get("/admin/knowledge/knowledgegap/").content.decode()
    assert "Where is my parcel" in listing and "where is my package" not in listing
    variants = admin_client.get("/admin/knowledge/knowledgegap/?grouping=variants")
    assert "where is my package" in variants.content.decode()
    page = admin_client.get(f"/admin/knowledge/knowledgegap/{group.pk}/change/").content.decode()
    assert "where is my package (1)" in page
    assert variant.pk != group.pk
