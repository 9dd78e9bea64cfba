"""The Celery application. Workers: `celery -A chatbot worker -B` (beat runs the sweeper)."""

import logging
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import cache

from celery import Celery, Task, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings.base")

logger = logging.getLogger(__name__)


@cache
def _background_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="eager-task")


class ChatdeskTask(Task):
    """With no broker (the demo), tasks are eager; with CELERY_EAGER_IN_BACKGROUND they run
    on a thread of this process instead of inside the caller, honouring `countdown`, so a
    request is answered before its task runs, as it is with real workers. Services stay
    unaware of the mode: this is configuration of the task queue, nothing else."""

    def apply_async(self, args=None, kwargs=None, task_id=None, **options):
        from django.conf import settings

        if not (self.app.conf.task_always_eager and settings.CELERY_EAGER_IN_BACKGROUND):
            return super().apply_async(args, kwargs, task_id=task_id, **options)
        task_id = task_id or str(uuid.uuid4())
        countdown = options.pop("countdown", None)
        _background_pool().submit(self._run_later, args, kwargs, task_id, countdown, options)
        return self.AsyncResult(task_id)

    def _run_later(self, args, kwargs, task_id, countdown, options) -> None:
        from django.db import connections

        if countdown:
            time.sleep(countdown)
        try:
            super().apply_async(args, kwargs, task_id=task_id, **options)
        except Exception:  # like a worker: log it; the sweeper is the safety net
            logger.exception("task %s (%s) failed", self.name, task_id)
        finally:
            connections.close_all()  # this thread's own connections


app = Celery("chatbot", task_cls=ChatdeskTask)
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
