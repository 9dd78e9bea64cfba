"""Celery tasks of the reply: thin interfaces that pass ids and call one service each,
and carry that service's name."""

from celery import shared_task

from . import lifecycle, pipeline


@shared_task(name="chatbot.reply_generate", ignore_result=True)
def reply_generate(reply_id: str) -> None:
    # No autoretry: the provider call has its own single retry layer, and a lost or killed
    # task is recovered by the sweeper (`chatbot.replies_recover_stuck`).
    pipeline.reply_generate(reply_id=reply_id)


@shared_task(name="chatbot.replies_recover_stuck", ignore_result=True)
def replies_recover_stuck() -> dict:
    report = lifecycle.replies_recover_stuck()
    return {"redispatched": len(report.redispatched), "failed": len(report.failed)}
