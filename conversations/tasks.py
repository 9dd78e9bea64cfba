"""Celery tasks of conversations: thin interfaces that pass ids and call one service each."""

from celery import shared_task
from django.utils.dateparse import parse_datetime

from . import services


@shared_task(name="conversations.handoff_pickup_timeout", ignore_result=True)
def handoff_pickup_timeout(conversation_id: str, requested_at: str) -> bool:
    # Scheduled with a countdown when a handoff is requested; the beat sweep below
    # catches any that is lost. Running twice changes nothing (a status guard).
    return services.conversation_pickup_timeout(
        conversation_id=conversation_id, requested_at=parse_datetime(requested_at)
    )


@shared_task(name="conversations.handoff_timeouts_sweep", ignore_result=True)
def handoff_timeouts_sweep() -> int:
    return services.handoff_timeouts_sweep()


@shared_task(name="conversations.staff_reply_email", ignore_result=True)
def staff_reply_email(message_id: str) -> bool:
    # No autoretry: a lost email is not worth a duplicate one; the answer also waits in
    # the widget's history.
    return services.staff_reply_email_send(message_id=message_id)
