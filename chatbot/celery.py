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
    # Loaded once in the parent, shared by every prefork child (copy-on-write): the
    # tokenizer, and jieba's dictionary (about half a second of CPU that the first Chinese
    # question of each worker otherwise paid inside its turn).
    from .knowledge.segment import jieba_warm_up
    from .prompt.tokens import tokenizer_warm_up

    tokenizer_warm_up()
    jieba_warm_up()


# --- Observability: log context through the broker, task metrics, the worker's /metrics ---
_CONTEXT_HEADER = "chatdesk_log_context"


@signals.before_task_publish.connect
def _carry_log_context(headers=None, **_kwargs):
    # The request id (and conversation/reply ids) of whoever enqueued the task.
    from .platform import log_context

    if headers is not None and (context := log_context.current()):
        headers[_CONTEXT_HEADER] = context


@signals.task_prerun.connect
def _bind_log_context(task=None, args=None, kwargs=None, **_kwargs):
    from .platform import log_context

    request = task.request if task is not None else None
    carried = getattr(request, _CONTEXT_HEADER, None) or (
        (getattr(request, "headers", None) or {}).get(_CONTEXT_HEADER)
    )
    if getattr(request, "is_eager", False):
        return  # in-process: the caller's context is already ours
    log_context.clear()
    log_context.bind(**(carried or {}))
    if task is not None and task.name == "chatbot.reply_generate" and args:
        log_context.bind(reply_id=args[0])


@signals.task_postrun.connect
def _count_task(task=None, state=None, **_kwargs):
    from .platform import metrics

    if task is not None:
        metrics.record_celery_task(task=task.name, state=state or "UNKNOWN")


@signals.worker_init.connect
def _serve_worker_metrics(**_kwargs):
    # Kubernetes runs workers in their own pods: they export what their prefork children
    # recorded (the multiprocess directory) on a port of their own. Compose shares the
    # directory with web instead, whose /metrics then includes the workers.
    from django.conf import settings

    port = getattr(settings, "METRICS_WORKER_PORT", 0)
    if not port:
        return
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess, start_http_server

    from .platform.metrics import multiprocess_dir

    registry = REGISTRY
    if multiprocess_dir():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    start_http_server(port, addr=settings.METRICS_WORKER_ADDR, registry=registry)
