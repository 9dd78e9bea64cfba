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
