"""A turn on SQLite, the demo's database: the caps, the replay of a client_message_id and
the reply's history take written-out SQL on Postgres and other paths elsewhere; this plays
them on a real SQLite file in a subprocess, as scripts/demo runs (tasks eager, offline
responder)."""

import json
import os
import subprocess
import sys

import pytest

from tests.workers import ROOT

pytestmark = pytest.mark.timeout(180)

PROBE = """
import json
from accounts.models import User
from chatbot.replies.turn import turn_start
from conversations.errors import ConversationMessageLimit
from conversations.models import Message
from conversations.services import conversation_create
customer = User.objects.create_user(username="sqlite-customer")
conversation = conversation_create(customer=customer)
first = turn_start(conversation=conversation, content="Hello there", client_message_id="c-1")
again = turn_start(conversation=conversation, content="Hello there", client_message_id="c-1")
second = turn_start(conversation=conversation, content="And again", client_message_id="c-2")
try:
    turn_start(conversation=conversation, content="One too many")
    refused = False
except ConversationMessageLimit:
    refused = True
second.reply.refresh_from_db()
conversation.refresh_from_db()
print(json.dumps({
    "replayed": [again.created, str(again.message.pk) == str(first.message.pk)],
    "refused": refused,
    "user_messages": Message.objects.filter(conversation=conversation, role="user").count(),
    "second_reply": second.reply.status,
    "stamped": conversation.last_message_at is not None,
}))
"""


def test_a_turn_on_sqlite(tmp_path):
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO_"))},
        "DJANGO_SETTINGS_MODULE": "chatbot.settings.base",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        "DJANGO_READ_DOT_ENV": "false",
        "REDIS_URL": "",
        "CELERY_BROKER_URL": "",
        "CELERY_EAGER_IN_BACKGROUND": "false",  # the reply is written before turn_start returns
        "CHAT_DEBOUNCE_SECONDS": "0",
        "CHAT_MAX_MESSAGES_PER_CONVERSATION": "2",
        "OPENAI_API_KEY": "",  # the offline responder
    }
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert migrate.returncode == 0, migrate.stderr
    probe = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    assert found["replayed"] == [False, True]
    assert found["refused"] is True
    assert found["user_messages"] == 2
    assert found["second_reply"] == "completed"
    assert found["stamped"] is True
