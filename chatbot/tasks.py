"""Celery tasks: thin interfaces that pass ids and call one service."""

from celery import shared_task

from conversations import retention

from . import services


@shared_task(name="chatbot.generate_reply", ignore_result=True)
def generate_reply(reply_id: str) -> None:
    # No autoretry: the provider call has its own single retry layer, and a lost or killed
    # task is recovered by the sweeper (`chatbot.sweep_stuck_replies`).
    services.reply_generate(reply_id=reply_id)


@shared_task(name="chatbot.sweep_stuck_replies", ignore_result=True)
def sweep_stuck_replies() -> dict:
    report = services.replies_recover_stuck()
    return {"redispatched": len(report.redispatched), "failed": len(report.failed)}


@shared_task(name="chatbot.apply_retention", ignore_result=True)
def apply_retention() -> dict:
    # Bounded per run (RETENTION_MAX_BATCHES); a backlog drains over the following runs.
    return retention.conversations_retention_apply().as_dict()
