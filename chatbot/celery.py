"""The Celery application. Workers: `celery -A chatbot worker -B` (beat runs the sweeper)."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings.base")

app = Celery("chatbot")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()  # apps' tasks.py; the engine's task modules: CELERY_IMPORTS


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _mask_pii_in_worker_logs(logger, **_kwargs):
    # Celery replaces the root logger's handlers with its own: give them our PII filter too.
    from .moderation.log_masking import PIIMaskingFilter

    for handler in logger.handlers:
        handler.addFilter(PIIMaskingFilter())


@signals.worker_init.connect
def _warm_up_before_fork(**_kwargs):
    # Loaded once in the parent, shared by every prefork child (copy-on-write).
    from .prompt.tokens import tokenizer_warm_up

    tokenizer_warm_up()
