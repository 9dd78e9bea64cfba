"""A conversation with every case the history read must include or leave out, and that
history next to what the ORM's reading of the same rules gives. Shared by the tests on the
suite's Postgres and on SQLite (a subprocess: the demo's database), so run it on a database
that has nothing else in it but a migrated schema or the test's own transaction."""

from datetime import timedelta

from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from accounts.models import AgentProfile, User
from chatbot.prompt.context import _content_for_model, history_for
from conversations.models import Conversation, Message, ModerationFlag
from conversations.selectors import agent_name

Role, Status = Message.Role, Message.Status
# The contents history_for must return for the reply below, oldest first (with the limit
# set to LIMIT: the newest LIMIT of these).
EXPECTED = [
    "hello",
    "hi, how can I help?",
    "flagged but allowed",
    "profile name",
    "first name",
    "username only",
    "author deleted",
    "same time, smaller id",
    "same time, greater id",
    "the question",
]
LIMIT = 4


def _reference(reply: Message) -> list[tuple]:
    """The rules as the ORM read them before history_for had its own SQL."""
    question = reply.reply_to
    queryset = (
        Message.objects.filter(
            conversation_id=reply.conversation_id,
            role__in=[Role.USER, Role.ASSISTANT, Role.STAFF],
            status=Status.COMPLETED,
            created_at__lte=question.created_at,
        )
        .exclude(content="")
        .exclude(moderation_flags__action="blocked")
        .select_related("author__agent_profile")
        .order_by("-created_at", "-id")
    )
    messages = reversed(queryset[: settings.CHAT_HISTORY_MESSAGES])
    return [
        (
            m.role,
            m.content,
            m.created_at.isoformat(),
            m.token_count,
            f"[Human agent {agent_name(m.author)}]: {m.content}"
            if m.role == Role.STAFF
            else m.content,
        )
        for m in messages
    ]


def _read(reply: Message) -> list[tuple]:
    return [
        (m.role, m.content, m.created_at.isoformat(), m.token_count, _content_for_model(m))
        for m in history_for(reply=reply)
    ]


def history_cases() -> dict:
    """Builds the conversation; returns what history_for and the reference give, with the
    limit lifted and with it at LIMIT."""
    start = timezone.now() - timedelta(hours=1)
    customer = User.objects.create(username="history-customer")
    conversation = Conversation.objects.create(customer=customer)
    other = Conversation.objects.create(customer=customer)
    with_profile = User.objects.create(username="agent-p", first_name="Alexander", is_staff=True)
    AgentProfile.objects.create(user=with_profile, public_name="  Alex P. ")
    blank_profile = User.objects.create(username="agent-f", first_name=" Sam ", is_staff=True)
    AgentProfile.objects.create(user=blank_profile, public_name="  ")
    bare = User.objects.create(username="agent-u", is_staff=True)
    gone = User.objects.create(username="agent-gone", first_name="Gone", is_staff=True)
    at = iter(range(1000))

    def add(content, *, role=Role.USER, status=Status.COMPLETED, author=None, seconds=None,
            conversation=conversation, flags=(), token_count=None):  # fmt: skip
        message = Message.objects.create(
            conversation=conversation,
            role=role,
            content=content,
            status=status,
            author=author,
            token_count=token_count,
        )
        for action in flags:
            ModerationFlag.objects.create(message=message, source="input", action=action)
        created_at = start + timedelta(seconds=next(at) if seconds is None else seconds)
        Message.objects.filter(pk=message.pk).update(created_at=created_at)
        message.created_at = created_at
        return message

    add("hello", token_count=2)
    add("hi, how can I help?", role=Role.ASSISTANT, token_count=7)
    add("blocked input", flags=["blocked"])
    add("blocked output", role=Role.ASSISTANT, flags=["flagged", "blocked"])
    add("flagged but allowed", flags=["flagged", "allowed"])
    add("", role=Role.ASSISTANT)  # empty: a merged or deferred reply
    add("failed reply", role=Role.ASSISTANT, status=Status.FAILED)
    add("still streaming", role=Role.ASSISTANT, status=Status.STREAMING)
    add("deferred", role=Role.ASSISTANT, status=Status.DEFERRED)
    add("a system line", role=Role.SYSTEM)
    add("profile name", role=Role.STAFF, author=with_profile)
    add("first name", role=Role.STAFF, author=blank_profile)
    add("username only", role=Role.STAFF, author=bare)
    add("author deleted", role=Role.STAFF, author=gone)
    gone.delete()  # SET_NULL: a staff message without its author
    add("another conversation", conversation=other)
    # Three messages at the question's time: ties are ordered by id.
    tied = [add(f"tie {n}", seconds=500) for n in range(3)]
    tied.sort(key=lambda m: m.pk.hex)
    question = tied[2]
    Message.objects.filter(pk=tied[0].pk).update(content="same time, smaller id")
    Message.objects.filter(pk=tied[1].pk).update(content="same time, greater id")
    Message.objects.filter(pk=question.pk).update(content="the question")
    add("after the question", seconds=600)
    reply = add("", role=Role.ASSISTANT, status=Status.STREAMING, seconds=601)
    Message.objects.filter(pk=reply.pk).update(reply_to=question)
    reply = Message.objects.select_related("conversation", "reply_to").get(pk=reply.pk)

    results = {}
    for limit in (1000, LIMIT):
        with override_settings(CHAT_HISTORY_MESSAGES=limit):
            results[limit] = {"read": _read(reply), "reference": _reference(reply)}
    return {"lifted": results[1000], "limited": results[LIMIT]}
