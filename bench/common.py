"""What the benches share: percentiles as they quote them, and a Postgres database of
their own, created on first use and migrated."""

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def pct(values: list[float], q: float) -> float:
    """The q-th percentile by nearest rank (p50 of an even count is the lower middle)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def database_create_if_missing(database_url: str) -> None:
    import psycopg

    base, _, name = database_url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def django_in_process(database_url: str, env: dict[str, str] | None = None) -> None:
    """Set Django up in this process for an in-process bench: no Redis, no broker (tasks
    eager), the database created if missing and migrated. `env` adds or overrides settings.
    On SQLite: WAL, fsync at checkpoints only, how SQLite is run for a server (and the
    demo); with the default rollback journal every commit is an fsync and dominates."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "chatbot.settings.base",
            "DJANGO_READ_DOT_ENV": "false",
            "DJANGO_DEBUG": "false",
            "DATABASE_URL": database_url,
            "REDIS_URL": "",
            "EVENT_BUS_URL": "",
            "CELERY_BROKER_URL": "",
            "CELERY_TASK_ALWAYS_EAGER": "true",
            "LOG_LEVEL": "WARNING",
            **(env or {}),
        }
    )
    if database_url.startswith("postgres"):
        database_create_if_missing(database_url)
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        settings.DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
        )
    call_command("migrate", verbosity=0, interactive=False)


def database_prepare(database_url: str, env: dict) -> None:
    """Create the bench's database if needed and migrate it (in a subprocess, with `env`)."""
    database_create_if_missing(database_url)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )


def widget_key_create(env: dict, name: str = "Bench") -> str:
    """A new widget key in the bench's database (`manage.py create_widget_key`): its public
    key, as the widget would send it."""
    done = subprocess.run(
        [sys.executable, "manage.py", "create_widget_key", name],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip().splitlines()[-1]


def wait_ready(url: str, timeout: float = 60) -> None:
    """Until the server at `url` answers its `/healthz` with 200 (or RuntimeError)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready")
