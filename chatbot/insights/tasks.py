"""Celery tasks of the insights: thin interfaces named after the services they call."""

from celery import shared_task

from . import summary


@shared_task(name="chatbot.conversation_summaries_refresh", ignore_result=True)
def conversation_summaries_refresh() -> dict:
    # Beat: bounded per run (INSIGHTS_MAX_BATCHES); a backlog drains over the next runs.
    return summary.conversation_summaries_refresh().as_dict()


@shared_task(name="chatbot.conversation_summary_write", ignore_result=True)
def conversation_summary_write(conversation_id: str) -> int:
    # No autoretry: a lost run is caught by the next refresh (the row is stale until then).
    return summary.conversation_summary_write(conversation_id=conversation_id)


def conversation_summary_enqueue(*, conversation_id) -> None:
    """CONVERSATION_CLOSED_HOOKS: the conversation closed (or was rated): summarise it."""
    conversation_summary_write.delay(str(conversation_id))
