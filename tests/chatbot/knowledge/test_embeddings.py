"""Optional embeddings through the provider's /v1/embeddings (the stub, real SDK): computed
by the Celery task after import, searched by cosine, fused with full text by RRF."""

import pytest

from chatbot.knowledge import embeddings
from chatbot.knowledge.models import Chunk
from chatbot.knowledge.retrieval import full_text_search, knowledge_search
from chatbot.knowledge.services import article_save
from tests.factories import WidgetKeyFactory
from tests.stub_llm import Embeddings, Error

pytestmark = pytest.mark.django_db


@pytest.fixture
def embedded(settings, use_llm_stub, django_capture_on_commit_callbacks):
    settings.KNOWLEDGE_EMBEDDING_MODEL = "stub-embedding"
    # "parcel" means "orders" to this embedding model: words alone cannot make that link.
    use_llm_stub.default_embeddings = Embeddings(synonyms=(("parcel", "orders"),))
    embeddings.cache_clear()

    def save(title, body, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):  # the eager Celery task
            return article_save(title=title, body=body, **kwargs).article

    return save


def _embedding_requests(stub):
    return [r for r in stub.requests if r.path.endswith("/embeddings")]


def test_import_embeds_every_chunk_through_the_task(embedded, use_llm_stub):
    article = embedded("Shipping", "# Times\n\nOrders arrive in 3 days.\n\n# Costs\n\nFree.")
    chunks = list(article.chunks.all())
    assert all(c.embedding_model == "stub-embedding" and len(c.embedding) == 64 for c in chunks)
    [request] = _embedding_requests(use_llm_stub)
    assert request.body["model"] == "stub-embedding" and len(request.body["input"]) == 2


def test_hybrid_search_finds_what_full_text_cannot(embedded):
    embedded("Shipping", "Orders arrive within 3 days.")
    embedded("Returns", "Send items back within 30 days.")
    assert full_text_search(query="parcel", widget_key_id=None, limit=5) == []
    hits = knowledge_search(query="parcel", widget_key_id=None)
    assert hits[0].title == "Shipping" and hits[0].score > 0


def test_the_vector_ranking_is_scoped_to_the_key(embedded):
    key_a, key_b = WidgetKeyFactory(), WidgetKeyFactory()
    embedded("Partner orders", "Orders for partners.", widget_key_ids=[key_a.id])
    assert knowledge_search(query="parcel", widget_key_id=key_b.id) == []
    assert knowledge_search(query="parcel", widget_key_id=key_a.id)[0].title == "Partner orders"


def test_a_failing_embedding_endpoint_leaves_full_text_answering(embedded, use_llm_stub):
    embedded("Shipping", "Orders arrive within 3 days.")
    use_llm_stub.script(Error(status=500), endpoint="embeddings")
    hits = knowledge_search(query="orders", widget_key_id=None)
    assert [h.title for h in hits] == ["Shipping"]


def test_chunks_already_embedded_are_not_embedded_again(embedded, use_llm_stub):
    article = embedded("Shipping", "Orders arrive within 3 days.")
    ids = list(article.chunks.values_list("pk", flat=True))
    assert embeddings.chunks_embed(chunk_ids=ids) == 0
    Chunk.objects.filter(pk__in=ids).update(embedding_model="an-older-model")
    assert embeddings.chunks_embed(chunk_ids=ids) == 1


def test_without_a_model_nothing_is_embedded(
    settings, use_llm_stub, django_capture_on_commit_callbacks
):
    settings.KNOWLEDGE_EMBEDDING_MODEL = ""
    with django_capture_on_commit_callbacks(execute=True):
        article_save(title="Shipping", body="Orders arrive.")
    assert _embedding_requests(use_llm_stub) == []
    assert Chunk.objects.get().embedding is None


def _with_vectors(settings, vectors: dict[str, list[float]], **kwargs) -> dict[str, int]:
    """Articles titled by the keys, their one chunk given the vector, as model "m"."""
    settings.KNOWLEDGE_EMBEDDING_MODEL = ""
    ids = {}
    for title, vector in vectors.items():
        article = article_save(title=title, body=f"About {title}.", **kwargs).article
        [chunk] = article.chunks.all()
        Chunk.objects.filter(pk=chunk.pk).update(embedding=vector, embedding_model="m")
        ids[title] = chunk.pk
    settings.KNOWLEDGE_EMBEDDING_MODEL = "m"
    return ids


def test_the_vector_ranking_is_the_exact_cosine_order(settings):
    import numpy as np

    embeddings.cache_clear()
    rng = np.random.default_rng(3)
    vectors = {f"a{i}": rng.standard_normal(8).tolist() for i in range(30)}
    ids = _with_vectors(settings, vectors)
    query = rng.standard_normal(8)
    cosine = {
        ids[t]: float(np.dot(v, query) / np.linalg.norm(v) / np.linalg.norm(query))
        for t, v in vectors.items()
    }
    expected = sorted(cosine, key=lambda i: -cosine[i])
    for limit in (1, 5, 30, 50):
        ranked = embeddings.nearest_to_vector(vector=query, widget_key_id=None, limit=limit)
        assert ranked == expected[:limit]


def test_a_key_with_few_of_the_vectors_ranks_only_its_own(settings):
    key_a, key_b = WidgetKeyFactory(), WidgetKeyFactory()
    embeddings.cache_clear()
    theirs = _with_vectors(
        settings, {f"b{i}": [1.0, 0.01 * i] for i in range(10)}, widget_key_ids=[key_b.id]
    )
    mine = _with_vectors(
        settings, {"near": [1.0, 0.5], "far": [-1.0, 0.0]}, widget_key_ids=[key_a.id]
    )
    ranked_b = embeddings.nearest_to_vector(vector=[1.0, 0.0], widget_key_id=key_b.id, limit=3)
    assert ranked_b == [theirs["b0"], theirs["b1"], theirs["b2"]]
    # All 12 vectors are loaded now; key A sees 2 of them (its rows only are scored).
    ranked_a = embeddings.nearest_to_vector(vector=[1.0, 0.0], widget_key_id=key_a.id, limit=3)
    assert ranked_a == [mine["near"], mine["far"]]
    assert embeddings.nearest_to_vector(vector=[1.0, 0.0], widget_key_id=None, limit=3) == []


def test_ties_go_to_the_older_chunk_and_new_chunks_join_the_loaded_ones(settings):
    embeddings.cache_clear()
    first = _with_vectors(settings, {"a": [1.0, 0.0], "b": [1.0, 0.0], "c": [0.0, 1.0]})
    assert embeddings.nearest_to_vector(vector=[1.0, 0.0], widget_key_id=None, limit=2) == [
        first["a"],
        first["b"],
    ]
    later = _with_vectors(settings, {"d": [2.0, 0.1], "e": [0.0, 1.0]})
    ranked = embeddings.nearest_to_vector(vector=[0.0, 1.0], widget_key_id=None, limit=3)
    assert ranked == [first["c"], later["e"], later["d"]]


def test_vectors_of_another_size_or_model_are_not_ranked(settings):
    embeddings.cache_clear()
    ids = _with_vectors(settings, {"a": [1.0, 0.0], "odd": [1.0, 0.0, 0.0]})
    assert embeddings.nearest_to_vector(vector=[1.0, 0.0], widget_key_id=None, limit=5) == [
        ids["a"]
    ]
    assert embeddings.nearest_to_vector(vector=[1.0, 0.0, 0.0], widget_key_id=None, limit=5) == []
    settings.KNOWLEDGE_EMBEDDING_MODEL = "another"
    assert embeddings.nearest_to_vector(vector=[1.0, 0.0], widget_key_id=None, limit=5) == []


def test_a_vector_of_another_size_is_read_once_not_on_every_search(
    settings, django_assert_num_queries
):
    embeddings.cache_clear()
    ids = _with_vectors(settings, {"a": [1.0, 0.0], "odd": [1.0, 0.0, 0.0]})
    embeddings.nearest_to_vector(vector=[1.0, 0.0], widget_key_id=None, limit=5)
    with django_assert_num_queries(1):  # the scope's ids; no vector read again
        ranked = embeddings.nearest_to_vector(vector=[1.0, 0.0], widget_key_id=None, limit=5)
    assert ranked == [ids["a"]]
