"""Celery tasks of data protection: thin interfaces named after the service they call."""

from celery import shared_task

from . import retention


@shared_task(name="chatbot.conversations_retention_apply", ignore_result=True)
def conversations_retention_apply() -> dict:
    # Bounded per run (RETENTION_MAX_BATCHES); a backlog drains over the following runs.
    return retention.conversations_retention_apply().as_dict()
