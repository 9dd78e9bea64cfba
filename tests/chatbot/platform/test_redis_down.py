"""Redis down on the write path: sends are still accepted (202), never a 500, and every
accepted message is answered once Redis is back (the sweeper re-dispatches).

The app runs for real (uvicorn + a Celery worker with beat) against a Redis this test
starts on a free port and kills: cache, rate limits, event bus and broker all point at it.
"""

import subprocess
import sys
import time

import httpx
import pytest
import redis

from accounts.services import api_token_create
from conversations.models import Message
from tests.factories import ConversationFactory, UserFactory
from tests.servers import AsgiServer, free_port
from tests.workers import ROOT


class OwnRedis:
    def __init__(self, port: int):
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port, socket_connect_timeout=0.2).ping():
                    return
            except Exception:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def own_redis():
    server = OwnRedis(free_port())
    server.start()
    yield server
    server.kill()


@pytest.fixture
def app_on_own_redis(transactional_db, worker_env, own_redis, artifacts_dir):
    env = {
        **worker_env,
        "REDIS_URL": own_redis.url,
        "EVENT_BUS_URL": own_redis.url,
        "CELERY_BROKER_URL": own_redis.url,
        "RATE_LIMIT_USER": "1000/minute",
        # Replies stay pending while the broker is down: let them pile up past the usual cap.
        "CHAT_MAX_CONCURRENT_REPLIES": "0",
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
    }
    log = artifacts_dir / f"worker-redis-down-{own_redis.port}.log"
    queue = env["CELERY_TASK_DEFAULT_QUEUE"]
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "chatbot",
            "worker",
            "-B",
            "-c",
            "1",
            "-Q",
            queue,
            "-s",
            str(log.with_suffix(".beat")),
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = AsgiServer(env, artifacts_dir).start()
    yield server
    server.stop()
    worker.terminate()
    try:
        worker.wait(15)
    except subprocess.TimeoutExpired:
        worker.kill()


def _wait_answered(reply_ids, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        statuses = dict(Message.objects.filter(pk__in=reply_ids).values_list("pk", "status"))
        if all(s == Message.Status.COMPLETED for s in statuses.values()):
            return statuses
        time.sleep(0.5)
    return statuses


def test_sends_are_accepted_while_redis_is_down_and_answered_after(
    app_on_own_redis, own_redis, llm_stub
):
    """Before: with Redis killed, every send answered 500 (the throttle raised)."""
    user = UserFactory()
    conversation = ConversationFactory(customer=user)
    headers = {"Authorization": f"Bearer {api_token_create(user=user)}"}
    url = f"{app_on_own_redis.url}/api/v1/conversations/{conversation.id}/messages/"

    first = httpx.post(url, json={"content": "Before"}, headers=headers, timeout=10)
    assert first.status_code == 202, first.text

    own_redis.kill()
    codes, reply_ids, slowest = [], [first.json()["reply"]["id"]], 0.0
    for n in range(12):
        started = time.monotonic()
        response = httpx.post(url, json={"content": f"While down {n}"}, headers=headers, timeout=15)
        slowest = max(slowest, time.monotonic() - started)
        codes.append(response.status_code)
        if response.status_code == 202:
            reply_ids.append(response.json()["reply"]["id"])
    print(f"Redis down: {codes.count(202)} of {len(codes)} sends 202, slowest {slowest:.2f}s")
    assert codes == [202] * 12, codes
    assert slowest < 5, f"a send took {slowest:.1f}s"

    own_redis.start()  # same port, empty: the failed enqueues are gone, the rows are not
    statuses = _wait_answered(reply_ids, timeout=90)
    assert set(statuses.values()) == {Message.Status.COMPLETED}, statuses
    assert len(statuses) == 13
