"""The retention policy: bounded batches, delete or anonymise, audited; and the beat task
really scheduled in a real worker."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditEvent
from chatbot.models import ProviderCall
from chatbot.platform.event_bus import get_event_bus
from chatbot.privacy import tasks as privacy_tasks
from chatbot.privacy.retention import ANONYMISED_PLACEHOLDER, conversations_retention_apply
from conversations.models import Conversation, Message, ModerationFlag
from tests.factories import ConversationFactory, MessageFactory, ProviderCallFactory, UserFactory


def _conversation(*, days_idle: int, customer=None, **message_kwargs):
    conversation = ConversationFactory(customer=customer or UserFactory(), title="Refund")
    Conversation.objects.filter(pk=conversation.pk).update(
        last_message_at=timezone.now() - timedelta(days=days_idle)
    )
    message = MessageFactory(
        conversation=conversation,
        content="card 4111 1111",
        client_message_id="c1",
        **message_kwargs,
    )
    ModerationFlag.objects.create(
        message=message,
        source="input",
        action="flagged",
        categories=["pii"],
        note="mentions a card",
    )
    return conversation, message


@pytest.mark.django_db
class TestService:
    def test_delete_mode_removes_only_expired_conversations_in_bounded_batches(
        self, settings, django_capture_on_commit_callbacks
    ):
        settings.RETENTION_DAYS, settings.RETENTION_MODE = 30, "delete"
        settings.RETENTION_BATCH_SIZE, settings.RETENTION_MAX_BATCHES = 2, 2
        old = [_conversation(days_idle=40)[0] for _ in range(5)]
        recent, _ = _conversation(days_idle=5)
        inflight, _ = _conversation(
            days_idle=40, status=Message.Status.PENDING, role=Message.Role.ASSISTANT
        )
        get_event_bus().publish(str(old[0].pk), "message", {"x": 1})

        with django_capture_on_commit_callbacks(execute=True):
            first = conversations_retention_apply()

        assert (first.conversations, first.messages, first.moderation_flags) == (4, 4, 4)
        assert first.batches == 2 and first.more_remaining is True
        assert not get_event_bus()._sync.exists(f"chatdesk:events:{old[0].pk}")
        second = conversations_retention_apply()
        assert second.conversations == 1 and second.more_remaining is False
        # The recent one, and the one with a reply in flight, are kept.
        assert set(Conversation.objects.values_list("pk", flat=True)) == {recent.pk, inflight.pk}
        audit = AuditEvent.objects.filter(action="retention.apply").order_by("created_at")
        assert [e.detail["conversations"] for e in audit] == [4, 1]
        assert all(e.actor is None for e in audit)

    def test_anonymise_mode_keeps_the_numbers_and_drops_the_person(self, settings):
        settings.RETENTION_DAYS, settings.RETENTION_MODE = 30, "anonymize"
        customer = UserFactory()
        conversation, message = _conversation(days_idle=40, customer=customer, prompt_tokens=12)
        ProviderCallFactory(reply=message, customer=customer, model="m", prompt_tokens=12)

        report = conversations_retention_apply()

        assert (report.conversations, report.messages, report.moderation_flags) == (1, 1, 1)
        conversation.refresh_from_db()
        message.refresh_from_db()
        flag = ModerationFlag.objects.get(message=message)
        assert conversation.customer_id is None and conversation.title == ""
        assert conversation.status == "closed"
        assert message.content == ANONYMISED_PLACEHOLDER and message.client_message_id is None
        assert message.prompt_tokens == 12  # the figures stay
        call = ProviderCall.objects.get()
        assert call.reply_id is None and call.prompt_tokens == 12  # no way back to the person
        assert flag.note == "" and flag.categories == ["pii"]
        assert customer.conversations.count() == 0
        # Already anonymised: the next run has nothing to do.
        assert conversations_retention_apply().conversations == 0

    def test_zero_days_keeps_everything(self, settings):
        settings.RETENTION_DAYS = 0
        _conversation(days_idle=4000)
        report = conversations_retention_apply()
        assert report.conversations == 0 and report.cutoff is None
        assert Conversation.objects.count() == 1
        assert not AuditEvent.objects.exists()

    def test_task_returns_the_report(self, settings):
        settings.RETENTION_DAYS, settings.RETENTION_MODE = 30, "delete"
        _conversation(days_idle=31)
        task = privacy_tasks.conversations_retention_apply
        assert task.name == "chatbot.conversations_retention_apply"
        assert task()["conversations"] == 1


def test_beat_schedules_the_task():
    from django.conf import settings

    entry = settings.CELERY_BEAT_SCHEDULE["apply-retention"]
    assert entry["task"] == "chatbot.conversations_retention_apply"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_real_worker_beat_applies_retention(start_worker, worker_env):
    worker_env.update(
        {"RETENTION_INTERVAL_SECONDS": "1", "RETENTION_DAYS": "30", "RETENTION_MODE": "delete"}
    )
    old, _ = _conversation(days_idle=31)
    recent, _ = _conversation(days_idle=1)
    start_worker("ret", concurrency=1)
    deadline = time.monotonic() + 20
    applied = AuditEvent.objects.filter(action="retention.apply")
    # The run's audit event is written after its batches have committed: wait for it, not
    # for the conversation to vanish (that happens a moment earlier).
    while time.monotonic() < deadline and not applied.exists():
        time.sleep(0.2)
    assert not Conversation.objects.filter(pk=old.pk).exists()
    assert Conversation.objects.filter(pk=recent.pk).exists()
    assert applied.exists()
