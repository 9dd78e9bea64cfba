"""Running `manage.py` on a real SQLite file in a subprocess, as scripts/demo runs the
product: for tests of the demo's database paths beside the Postgres ones."""

import os
import subprocess
import sys
from pathlib import Path

from tests.workers import ROOT


def sqlite_env(database: Path, **settings: str) -> dict[str, str]:
    """The environment of a demo-like process: SQLite, no Redis, no broker (tasks eager);
    `settings` adds or overrides environment settings."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))},
        "DJANGO_SETTINGS_MODULE": "chatbot.settings.base",
        "DATABASE_URL": f"sqlite:///{database}",
        "DJANGO_READ_DOT_ENV": "false",
        "REDIS_URL": "",
        "CELERY_BROKER_URL": "",
        **settings,
    }


def manage(env: dict[str, str], *args: str, timeout: int = 150) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
