"""Celery tasks of the knowledge base: thin interfaces that pass ids."""

from celery import shared_task

from chatbot.llm import LLMError

from . import embeddings, services


@shared_task(
    name="knowledge.embed_chunks",
    ignore_result=True,
    bind=True,
    max_retries=5,
    default_retry_delay=30,
)
def embed_chunks(self, chunk_ids: list[int]) -> int:
    # The one retry layer for embeddings (the SDK's are off): a rate-limited or unreachable
    # provider is tried again later; chunks already embedded are skipped on the retry.
    try:
        return embeddings.chunks_embed(chunk_ids=chunk_ids)
    except LLMError as error:
        if not error.retryable:
            raise
        raise self.retry(exc=error, countdown=error.retry_after or None) from error


@shared_task(
    name="knowledge.gap_group",
    ignore_result=True,
    bind=True,
    max_retries=5,
    default_retry_delay=30,
)
def gap_group(self, gap_id: int) -> None:
    try:
        services.knowledge_gap_group(gap_id=gap_id)
    except LLMError as error:
        if not error.retryable:
            raise
        raise self.retry(exc=error, countdown=error.retry_after or None) from error


def handoff_gap_enqueue(*, conversation_id) -> None:
    """HANDOFF_REQUESTED_HOOKS: a customer asked for a person; note what they had asked."""
    gap_from_handoff.delay(str(conversation_id))


@shared_task(name="knowledge.gap_from_handoff", ignore_result=True)
def gap_from_handoff(conversation_id: str) -> None:
    services.knowledge_gap_from_handoff_record(conversation_id=conversation_id)
