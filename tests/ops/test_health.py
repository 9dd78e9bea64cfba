"""Liveness and readiness: /healthz needs nothing; /readyz (and `manage.py readiness`)
names each dependency that fails. Failures are real: a closed port, an unmigrated database."""

import json
import os
import subprocess
import sys

import psycopg
import pytest
from django.db import connection

from tests.servers import free_port
from tests.workers import ROOT, database_url

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    return free_port()  # bound then released: nothing listens there


def test_liveness_checks_no_dependency(client, django_assert_num_queries, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    with django_assert_num_queries(0):
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readiness_is_ok_when_everything_is_up(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # so the broker is checked too
    response = client.get("/readyz")
    assert response.status_code == 200, response.content
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "redis": "ok", "broker": "ok", "migrations": "ok"},
    }


def test_readiness_names_redis_when_it_is_down(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{closed_port()}/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"] == "redis: ConnectionError"
    assert body["checks"]["database"] == "ok"


def test_readiness_names_the_broker_when_it_is_down(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port()}/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] == "broker: ConnectionError"
    assert response.json()["checks"]["redis"] == "ok"


def readiness(env_overrides: dict[str, str], *checks: str) -> tuple[int, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "chatbot.settings.test",
            "DATABASE_URL": database_url(),
            "CELERY_TASK_ALWAYS_EAGER": "false",
        }
    )
    env.update(env_overrides)
    args = [arg for name in checks for arg in ("--check", name)]
    done = subprocess.run(
        [sys.executable, "manage.py", "readiness", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, json.loads(done.stdout.strip().splitlines()[-1])


def test_the_command_names_the_database_when_it_is_down():
    code, results = readiness(
        {"DATABASE_URL": f"postgres://postgres@127.0.0.1:{closed_port()}/chatdesk"},
        "database",
        "broker",
    )
    assert code == 1
    assert results == {"database": "database: OperationalError", "broker": "ok"}


def test_the_command_names_unapplied_migrations():
    name = f"chatdesk_unmigrated_{os.getpid()}"
    dsn = database_url().rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        code, results = readiness({"DATABASE_URL": dsn.rsplit("/", 1)[0] + f"/{name}"})
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    assert code == 1
    assert results["database"] == "ok"
    assert results["migrations"].startswith("migrations: ") and "unapplied" in results["migrations"]


def test_the_command_passes_on_a_migrated_database():
    assert connection.vendor == "postgresql"
    code, results = readiness({})
    assert (code, results) == (
        0,
        {"broker": "ok", "database": "ok", "migrations": "ok", "redis": "ok"},
    )


def test_probes_skip_the_host_check_and_the_https_redirect(client, settings):
    """Kubelets and Prometheus call a pod by its IP, over plain HTTP."""
    settings.ALLOWED_HOSTS = ["chat.example.com"]
    settings.SECURE_SSL_REDIRECT = True
    settings.METRICS_TOKEN = "t0ken-for-metrics"
    pod = {"HTTP_HOST": "10.1.2.3:8000"}
    assert client.get("/healthz", **pod).status_code == 200
    assert client.get("/readyz", **pod).status_code == 200
    assert (
        client.get("/metrics", HTTP_AUTHORIZATION="Bearer t0ken-for-metrics", **pod).status_code
        == 200
    )
    assert client.get("/metrics", **pod).status_code == 401
    assert client.get("/", **pod).status_code == 400  # everything else: the host check holds
