"""Metrics across processes: two uvicorn processes and a prefork Celery worker share one
PROMETHEUS_MULTIPROC_DIR, and either web process' /metrics shows the sum of all of them."""

import re
import time

import httpx
import pytest

from accounts.services import api_token_create
from conversations.models import Conversation, Message
from tests.factories import UserFactory
from tests.servers import AsgiServer, free_port

pytestmark = pytest.mark.worker

TOKEN = "metrics-token-for-the-test"
TURNS_PER_SERVER = 3


def sample(text: str, name: str, **labels) -> float:
    """The sum of the series of `name` whose labels include `labels`."""
    wanted = {f'{k}="{v}"' for k, v in labels.items()}
    total = 0.0
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and wanted <= set(match[1].split(",")):
            total += float(match[2])
    return total


def test_counts_are_summed_over_two_web_processes_and_a_prefork_worker(
    start_worker, worker_env, artifacts_dir, tmp_path
):
    env = {
        **worker_env,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "METRICS_TOKEN": TOKEN,
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    worker_port = free_port()
    # The worker started below reads the same directory, and serves it on a port of its own
    # (as in Kubernetes, where workers have pods of their own).
    worker_env.update(env, METRICS_WORKER_PORT=str(worker_port), METRICS_WORKER_ADDR="127.0.0.1")
    start_worker(concurrency=2, beat=False)
    servers = [AsgiServer(env, artifacts_dir).start() for _ in range(2)]
    try:
        user = UserFactory()
        auth = {"Authorization": f"Bearer {api_token_create(user=user)}"}
        replies = []
        for server in servers:
            for n in range(TURNS_PER_SERVER):
                conversation = Conversation.objects.create(customer=user)
                response = httpx.post(
                    f"{server.url}/api/v1/conversations/{conversation.id}/messages/",
                    json={"content": f"Question {n} to {server.port}"},
                    headers=auth,
                    timeout=10,
                )
                assert response.status_code == 202, response.text
                replies.append(response.json()["reply"]["id"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            done = Message.objects.filter(pk__in=replies, status="completed").count()
            if done == len(replies):
                break
            time.sleep(0.2)
        assert done == len(replies)
        time.sleep(0.5)  # task_postrun runs just after the reply's final write

        pids = {s.proc.pid for s in servers}
        text = httpx.get(
            f"{servers[0].url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        ).text
        from_worker = httpx.get(f"http://127.0.0.1:{worker_port}/metrics", timeout=10).text
    finally:
        for server in servers:
            server.stop()

    turns = 2 * TURNS_PER_SERVER
    # Written by the worker's prefork children, read by a web process.
    assert sample(text, "chatdesk_replies_total", outcome="completed") == turns
    assert (
        sample(text, "chatdesk_celery_tasks_total", task="chatbot.reply_generate", state="SUCCESS")
        == turns
    )
    assert sample(text, "chatdesk_llm_requests_total", outcome="success") == turns
    # The worker's own endpoint sums its pool children's files too (the same directory).
    assert sample(from_worker, "chatdesk_replies_total", outcome="completed") == turns
    # Written by both web processes.
    posted = sample(
        text,
        "chatdesk_http_requests_total",
        route="conversation-messages",
        method="POST",
        status="202",
    )
    assert posted == turns
    # Files from the two web processes and at least one pool child: really several writers.
    writers = {int(p.stem.rsplit("_", 1)[1]) for p in tmp_path.glob("*.db")}
    assert pids <= writers
    assert len(writers - pids) >= 1
