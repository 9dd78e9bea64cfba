"""Round-robin auto-assignment (conversations.assignment): who is eligible, in what order,
and two assigners running at once never overfill an agent."""

import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connections
from django.utils import timezone

from accounts.models import AgentProfile
from accounts.roles import AGENT_GROUP, roles_sync
from conversations.assignment import conversation_auto_assign, conversations_auto_assign_waiting
from conversations.models import Conversation
from tests.factories import ConversationFactory, UserFactory

Handling = Conversation.Handling


def _agent(name: str, *, capacity: int = 2, online: bool = True, seen_ago: int = 5):
    user = UserFactory(username=name, first_name=name.title(), is_staff=True)
    user.groups.add(Group.objects.get(name=AGENT_GROUP))
    AgentProfile.objects.create(
        user=user,
        capacity=capacity,
        status=AgentProfile.Status.ONLINE if online else AgentProfile.Status.AWAY,
        last_seen_at=timezone.now() - timedelta(seconds=seen_ago),
    )
    return user


def _waiting(minutes_ago: int = 1) -> Conversation:
    return ConversationFactory(
        handling=Handling.WAITING,
        handoff_requested_at=timezone.now() - timedelta(minutes=minutes_ago),
    )


@pytest.fixture
def auto(settings):
    settings.INBOX_AUTO_ASSIGN = True
    roles_sync()


@pytest.mark.django_db
class TestWhoGetsIt:
    def test_off_by_default(self, settings):
        roles_sync()
        assert settings.INBOX_AUTO_ASSIGN is False
        _agent("ann")
        conversation = _waiting()
        assert conversation_auto_assign(conversation_id=conversation.pk) is None
        conversation.refresh_from_db()
        assert conversation.handling == Handling.WAITING

    def test_turns_go_round_among_online_agents_under_capacity(self, auto):
        ann, bob = _agent("ann"), _agent("bob")
        _agent("away", online=False)
        _agent("gone", seen_ago=3600)  # the tab closed an hour ago
        _agent("full", capacity=0)
        UserFactory(username="roleless", is_staff=True)
        picks = [conversation_auto_assign(conversation_id=_waiting().pk) for _ in range(4)]
        assert picks == [ann, bob, ann, bob] or picks == [bob, ann, bob, ann]
        assert conversation_auto_assign(conversation_id=_waiting().pk) is None  # all full
        for agent in (ann, bob):
            held = Conversation.objects.filter(assignee=agent, handling=Handling.HUMAN)
            assert held.count() == 2

    def test_a_conversation_someone_took_is_left_alone(self, auto):
        _agent("ann")
        taken = ConversationFactory(handling=Handling.HUMAN, assignee=_agent("bob"))
        assert conversation_auto_assign(conversation_id=taken.pk) is None

    def test_the_queue_is_offered_oldest_first(self, auto):
        ann = _agent("ann", capacity=1)
        newer, older = _waiting(1), _waiting(9)
        assert conversations_auto_assign_waiting() == 1
        older.refresh_from_db()
        newer.refresh_from_db()
        assert older.assignee == ann and newer.assignee is None

    def test_handoff_request_assigns_at_once_when_on(
        self, auto, django_capture_on_commit_callbacks
    ):
        from conversations.services import conversation_handoff_request

        ann = _agent("ann")
        conversation = ConversationFactory()
        with django_capture_on_commit_callbacks(execute=True):
            conversation_handoff_request(conversation=conversation, reason="customer_request")
        conversation.refresh_from_db()
        assert conversation.handling == Handling.HUMAN and conversation.assignee == ann


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("agents", [1, 2])
def test_two_concurrent_assigners_never_overfill_an_agent(auto, agents):
    """Two threads, each with its own database connection, assign at the same moment."""
    people = [_agent(f"agent{i}", capacity=1) for i in range(agents)]
    conversations = [_waiting(2), _waiting(1)]
    barrier = threading.Barrier(2)
    results, errors = {}, []

    def assign(conversation):
        try:
            barrier.wait(5)
            results[conversation.pk] = conversation_auto_assign(conversation_id=conversation.pk)
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=assign, args=(c,)) for c in conversations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert not errors, errors
    for person in people:
        held = Conversation.objects.filter(assignee=person, handling=Handling.HUMAN).count()
        assert held <= 1, f"{person} holds {held} with capacity 1"
    assigned = [r for r in results.values() if r is not None]
    assert len(assigned) == min(agents, 2)
    assert len(set(assigned)) == len(assigned)  # never the same agent twice
