"""A turn on SQLite, the demo's database. The caps, the replay of a client_message_id,
the bearer token's lookup and the reply's history are written-out SQL on Postgres and take
other paths elsewhere; this plays them on a real SQLite file in a subprocess, as
scripts/demo runs (tasks eager, offline responder)."""

import json

import pytest

from tests.sqlite_subprocess import manage, sqlite_env

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
from accounts.selectors import api_token_lookup
from accounts.services import api_token_create, widget_key_create
key = widget_key_create(name="site", allowed_origins=["https://shop.example"])
token = api_token_lookup(raw_token=api_token_create(user=customer, widget_key=key))
plain = api_token_lookup(raw_token=api_token_create(user=customer))
print(json.dumps({
    "replayed": [again.created, str(again.message.pk) == str(first.message.pk)],
    "refused": refused,
    "user_messages": Message.objects.filter(conversation=conversation, role="user").count(),
    "second_reply": second.reply.status,
    "stamped": conversation.last_message_at is not None,
    "token": [str(token.user.pk) == str(customer.pk), token.widget_key.allowed_origins,
              token.widget_key.allows_origin("https://shop.example"), plain.widget_key],
    "unknown": api_token_lookup(raw_token="cdt_nope"),
}))
"""


def test_a_turn_on_sqlite(tmp_path):
    env = sqlite_env(
        tmp_path / "demo.sqlite3",
        CELERY_EAGER_IN_BACKGROUND="false",  # the reply is written before turn_start returns
        CHAT_DEBOUNCE_SECONDS="0",
        CHAT_MAX_MESSAGES_PER_CONVERSATION="2",
        OPENAI_API_KEY="",  # the offline responder
    )
    migrate = manage(env, "migrate", "--noinput", "-v0")
    assert migrate.returncode == 0, migrate.stderr
    probe = manage(env, "shell", "-c", PROBE)
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    assert found["replayed"] == [False, True]
    assert found["refused"] is True
    assert found["user_messages"] == 2
    assert found["second_reply"] == "completed"
    assert found["stamped"] is True
    # The token's lookup (a written-out statement): user and key as the ORM builds them.
    assert found["token"] == [True, ["https://shop.example"], True, None]
    assert found["unknown"] is None
