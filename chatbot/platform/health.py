"""Readiness checks: can this process serve? (docs/operations.md)

Each check is a function returning None when fine, or a short reason; `readiness()` runs
them all (each bounded by a short timeout) and says which failed. Liveness (`/healthz`)
runs none of them: a process that is up but whose database is down must not be restarted
for it, only taken out of the load balancer.

Small explicit checks rather than django-health-check: four checks, no models, no admin
pages, and a worker can run the same ones from the command line (`manage.py readiness`).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

TIMEOUT_SECONDS = 2.0
_migrations_applied = False  # once true, true for the life of the process


def check_database() -> str | None:
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:
        return f"database: {type(error).__name__}"
    return None


def _redis_ping(url: str) -> None:
    import redis

    client = redis.Redis.from_url(
        url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS
    )
    try:
        client.ping()
    finally:
        client.close()


def check_redis() -> str | None:
    if not settings.REDIS_URL:
        return None  # the demo: local-memory cache, in-process bus
    try:
        _redis_ping(settings.REDIS_URL)
    except Exception as error:
        return f"redis: {type(error).__name__}"
    return None


def check_broker() -> str | None:
    url = settings.CELERY_BROKER_URL
    if settings.CELERY_TASK_ALWAYS_EAGER or url.startswith("memory://"):
        return None  # tasks run in this process
    if not url.startswith(("redis://", "rediss://")):
        return None  # only the Redis transport is supported (docs/deployment.md)
    try:
        _redis_ping(url)
    except Exception as error:
        return f"broker: {type(error).__name__}"
    return None


def check_migrations() -> str | None:
    global _migrations_applied
    if _migrations_applied:
        return None
    from django.db.migrations.executor import MigrationExecutor

    try:
        connection = connections[DEFAULT_DB_ALIAS]
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except Exception as error:
        return f"migrations: {type(error).__name__}"
    if plan:
        return f"migrations: {len(plan)} unapplied"
    _migrations_applied = True
    return None


CHECKS: dict[str, Callable[[], str | None]] = {
    "database": check_database,
    "redis": check_redis,
    "broker": check_broker,
    "migrations": check_migrations,
}


def readiness(names: list[str] | None = None) -> dict[str, str]:
    """{check name: "ok" or the reason it failed}."""
    results = {}
    for name, check in CHECKS.items():
        if names is None or name in names:
            results[name] = check() or "ok"
    return results
