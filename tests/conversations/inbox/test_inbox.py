"""The staff inbox: its page, the list's views and rows, the conversation and its actions,
each checked for permission and scope, with 4xx JSON on bad input."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from accounts.models import AuditEvent
from accounts.roles import AGENT_GROUP, MANAGER_GROUP, roles_sync
from conversations.models import CannedReply, Conversation, ConversationEvent, Message
from tests.factories import ConversationFactory, MessageFactory, UserFactory, VisitorFactory

pytestmark = pytest.mark.django_db

API = "/admin/inbox/api"
Handling = Conversation.Handling


def _member(group: str, **kwargs):
    user = UserFactory(is_staff=True, **kwargs)
    user.groups.add(Group.objects.get(name=group))
    return user


@pytest.fixture
def team(db):
    roles_sync()
    return {
        "agent": _member(AGENT_GROUP, username="alex", first_name="Alex"),
        "other_agent": _member(AGENT_GROUP, username="sam", first_name="Sam"),
        "manager": _member(MANAGER_GROUP, username="morgan", first_name="Morgan"),
        "staff_without_role": UserFactory(is_staff=True, username="nobody"),
        "customer": UserFactory(username="shopper"),
    }


@pytest.fixture
def as_user(client, team):
    def login(role):
        client.force_login(team[role])
        return client

    return login


def _waiting(minutes_ago: int, **kwargs) -> Conversation:
    conversation = ConversationFactory(
        handling=Handling.WAITING,
        handoff_requested_at=timezone.now() - timedelta(minutes=minutes_ago),
        **kwargs,
    )
    MessageFactory(conversation=conversation, content=f"waited {minutes_ago} minutes")
    return conversation


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["rows"]]


class TestPage:
    def test_agent_gets_the_inbox_inside_the_admin(self, as_user):
        page = as_user("agent").get("/admin/inbox/")
        body = page.content.decode()
        assert page.status_code == 200
        assert "chatdesk/inbox.js" in body and 'id="inbox-config"' in body
        assert "Chatdesk" in body and "Django administration" not in body

    def test_staff_without_a_role_is_refused_and_customers_go_to_login(self, as_user):
        assert as_user("staff_without_role").get("/admin/inbox/").status_code == 403
        response = as_user("customer").get("/admin/inbox/")
        assert response.status_code == 302 and "/admin/login/" in response["Location"]

    def test_admin_header_links_the_inbox_for_those_who_may_use_it(self, as_user):
        assert 'href="/admin/inbox/"' in as_user("agent").get("/admin/").content.decode()
        assert (
            'href="/admin/inbox/"'
            not in as_user("staff_without_role").get("/admin/").content.decode()
        )


class TestList:
    def test_views_hold_the_right_conversations(self, as_user, team):
        mine = ConversationFactory(handling=Handling.HUMAN, assignee=team["agent"])
        theirs = ConversationFactory(handling=Handling.HUMAN, assignee=team["other_agent"])
        waiting = _waiting(3)
        bot = ConversationFactory()
        followup = ConversationFactory(
            handling=Handling.FOLLOWUP, handoff_requested_at=timezone.now()
        )
        closed = ConversationFactory(status=Conversation.Status.CLOSED)
        client = as_user("agent")
        assert _ids(client.get(f"{API}/conversations/", {"view": "mine"})) == [str(mine.pk)]
        assert set(_ids(client.get(f"{API}/conversations/", {"view": "unassigned"}))) == {
            str(waiting.pk),
            str(followup.pk),
        }
        assert _ids(client.get(f"{API}/conversations/", {"view": "waiting"})) == [str(waiting.pk)]
        assert _ids(client.get(f"{API}/conversations/", {"view": "bot"})) == [str(bot.pk)]
        assert _ids(client.get(f"{API}/conversations/", {"view": "followup"})) == [str(followup.pk)]
        assert _ids(client.get(f"{API}/conversations/", {"view": "closed"})) == [str(closed.pk)]
        counts = client.get(f"{API}/conversations/").json()["counts"]
        assert counts["mine"] == 1 and counts["waiting"] == 1 and counts["unassigned"] == 2
        assert str(theirs.pk) not in _ids(client.get(f"{API}/conversations/", {"view": "mine"}))

    def test_waiting_longest_first(self, as_user):
        newer, oldest, middle = _waiting(1), _waiting(30), _waiting(10)
        ids = _ids(as_user("agent").get(f"{API}/conversations/", {"view": "waiting"}))
        assert ids == [str(oldest.pk), str(middle.pk), str(newer.pk)]

    def test_row_shows_name_masked_preview_wait_assignee_flags_and_unread(self, as_user, team):
        visitor = VisitorFactory(email="")  # real widget visitors have none
        conversation = _waiting(5, customer=visitor)
        MessageFactory(conversation=conversation, content="mail me at jo@example.com please")
        client = as_user("agent")
        [row] = client.get(f"{API}/conversations/", {"view": "waiting"}).json()["rows"]
        assert row["customer"] == f"Visitor {visitor.pk.hex[:4]}"
        assert "visitor-" not in row["customer"]
        assert row["preview"] == "mail me at [email] please"  # masked, never the address
        assert row["waiting_since"] and row["assignee"] is None
        assert row["unread"] == 2 and row["open_flags"] == 0
        # Opening the conversation marks it read for this agent only.
        client.get(f"{API}/conversations/{conversation.pk}/")
        [row] = client.get(f"{API}/conversations/", {"view": "waiting"}).json()["rows"]
        assert row["unread"] == 0
        other = as_user("other_agent")
        [row] = other.get(f"{API}/conversations/", {"view": "waiting"}).json()["rows"]
        assert row["unread"] == 2

    def test_verified_customer_is_shown_by_name_or_email(self, as_user):
        named = _waiting(2, customer=UserFactory(first_name="Lin", last_name="Wei"))
        mailed = _waiting(1, customer=UserFactory(email="buyer@example.com"))
        rows = as_user("agent").get(f"{API}/conversations/", {"view": "waiting"}).json()["rows"]
        names = {r["id"]: r["customer"] for r in rows}
        assert names[str(named.pk)] == "Lin Wei"
        assert names[str(mailed.pk)] == "buyer@example.com"

    def test_refresh_by_ids_says_which_left_the_view(self, as_user, team):
        staying, leaving = _waiting(2), _waiting(1)
        Conversation.objects.filter(pk=leaving.pk).update(
            handling=Handling.HUMAN, assignee=team["other_agent"]
        )
        body = (
            as_user("agent")
            .get(f"{API}/conversations/", {"view": "waiting", "ids": f"{staying.pk},{leaving.pk}"})
            .json()
        )
        assert [r["id"] for r in body["rows"]] == [str(staying.pk)]
        assert body["absent"] == [str(leaving.pk)]

    @pytest.mark.parametrize(
        "query", [{"view": "everything"}, {"view": "mine", "ids": "not-a-uuid"}]
    )
    def test_bad_query_is_a_400_json(self, as_user, query):
        response = as_user("agent").get(f"{API}/conversations/", query)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "validation_error"

    def test_list_queries_do_not_grow_with_rows(self, as_user, django_assert_max_num_queries):
        client = as_user("agent")
        for minutes in range(3):
            _waiting(minutes)
        with django_assert_max_num_queries(8) as few:
            client.get(f"{API}/conversations/", {"view": "waiting"})
        for minutes in range(40):
            _waiting(minutes + 5)
        with django_assert_max_num_queries(len(few.captured_queries)):
            assert len(_ids(client.get(f"{API}/conversations/", {"view": "waiting"}))) == 43


class TestConversation:
    def test_transcript_is_masked_and_reveal_is_audited(self, as_user, team):
        conversation = _waiting(1)
        MessageFactory(conversation=conversation, content="my phone is +44 20 7946 0958")
        client = as_user("agent")
        detail = client.get(f"{API}/conversations/{conversation.pk}/").json()
        texts = [m["content"] for m in detail["messages"]]
        assert "+44 20 7946 0958" not in str(texts) and "[phone]" in texts[-1]
        assert detail["messages"][-1]["masked"] is True
        url = f"{API}/conversations/{conversation.pk}/reveal/"
        revealed = client.post(url, {}, "application/json")
        assert revealed.status_code == 200
        assert "+44 20 7946 0958" in revealed.json()["messages"][-1]["content"]
        audit = AuditEvent.objects.get(action=AuditEvent.Action.PII_REVEAL)
        assert audit.actor == team["agent"] and audit.target_id == str(conversation.pk)
        assert "0958" not in str(audit.detail)  # the trail says who looked, never what

    def test_sidebar_has_identity_earlier_conversations_spend_and_preference_link(self, as_user):
        customer = UserFactory(first_name="Ana", external_id="shop-42", email="ana@example.com")
        earlier = ConversationFactory(customer=customer, title="Old question")
        conversation = _waiting(1, customer=customer)
        agent_view = as_user("agent").get(f"{API}/conversations/{conversation.pk}/").json()
        side = agent_view["sidebar"]
        assert side["customer"]["name"] == "Ana" and side["customer"]["verified"] is True
        assert [c["id"] for c in side["earlier"]] == [str(earlier.pk)]
        assert side["spend"] == {"tokens": 0, "cost": "0.0000"}
        assert side["preference_url"] is None  # agents don't manage preferences
        manager_view = as_user("manager").get(f"{API}/conversations/{conversation.pk}/").json()
        assert manager_view["sidebar"]["preference_url"].startswith(
            f"/admin/accounts/user/{customer.pk}/change/"
        )

    def test_take_over_reply_note_release_close(self, as_user, team):
        conversation = _waiting(2)
        client = as_user("agent")
        url = f"{API}/conversations/{conversation.pk}"
        assert client.post(f"{url}/take_over/", {}, "application/json").status_code == 200
        conversation.refresh_from_db()
        assert conversation.handling == Handling.HUMAN and conversation.assignee == team["agent"]
        reply = client.post(f"{url}/reply/", {"content": "Hi, Alex here."}, "application/json")
        assert reply.status_code == 200
        staff = Message.objects.get(pk=reply.json()["message_id"])
        assert staff.role == "staff" and staff.author == team["agent"]
        note = client.post(f"{url}/note/", {"text": "VIP, be kind"}, "application/json")
        assert note.status_code == 200
        detail = client.get(f"{url}/").json()
        assert any(e["kind"] == "note" and e["text"] == "VIP, be kind" for e in detail["events"])
        assert client.post(f"{url}/release/", {}, "application/json").status_code == 200
        conversation.refresh_from_db()
        assert conversation.handling == Handling.BOT and conversation.assignee is None
        assert client.post(f"{url}/close/", {}, "application/json").status_code == 200
        conversation.refresh_from_db()
        assert conversation.status == Conversation.Status.CLOSED
        kinds = list(conversation.events.values_list("kind", flat=True))
        assert kinds.count(ConversationEvent.Kind.NOTE) == 1

    def test_canned_replies_are_listed_for_agents(self, as_user):
        CannedReply.objects.create(title="Hi", shortcut="hi", language="en", body="Hello!")
        CannedReply.objects.create(title="你好", shortcut="hi", language="zh", body="您好。")
        replies = as_user("agent").get(f"{API}/canned-replies/").json()["replies"]
        assert {(r["shortcut"], r["language"]) for r in replies} == {("hi", "en"), ("hi", "zh")}


# role -> action -> expected status on a conversation waiting in the queue
ACTIONS = ["take_over", "reply", "note", "release", "close", "assign", "reveal", "read"]
ROLE_ACTIONS = {
    "agent": {"assign": 403},
    "manager": {},
    "staff_without_role": dict.fromkeys(ACTIONS, 403),
    "customer": dict.fromkeys(ACTIONS, 403),
}


@pytest.mark.parametrize("role", list(ROLE_ACTIONS))
@pytest.mark.parametrize("action", ACTIONS)
def test_inbox_action_matrix(as_user, team, role, action):
    conversation = _waiting(1)
    body = {
        "reply": {"content": "hello"},
        "note": {"text": "n"},
        "assign": {"agent_id": str(team["other_agent"].pk)},
    }.get(action, {})
    client = as_user(role)
    url = f"{API}/conversations/{conversation.pk}/{action}/"
    response = client.post(url, body, "application/json")
    expected = ROLE_ACTIONS[role].get(action, 200)
    assert response.status_code == expected, response.content
    if expected != 200:
        assert response.json()["error"]["code"]
        conversation.refresh_from_db()
        assert conversation.handling == Handling.WAITING and conversation.status == "open"
        assert not conversation.messages.filter(role="staff").exists()
        assert not conversation.events.exists()


class TestScopeAndBadInput:
    def test_an_agent_cannot_answer_for_a_colleague(self, as_user, team):
        conversation = ConversationFactory(handling=Handling.HUMAN, assignee=team["other_agent"])
        client = as_user("agent")
        url = f"{API}/conversations/{conversation.pk}"
        for action, body in [("reply", {"content": "x"}), ("release", {}), ("close", {})]:
            response = client.post(f"{url}/{action}/", body, "application/json")
            assert response.status_code == 403, action
            assert response.json()["error"]["code"] == "assigned_to_someone_else"
        take = client.post(f"{url}/take_over/", {}, "application/json")
        assert take.status_code == 409  # reassigning is a manager's deliberate act
        conversation.refresh_from_db()
        assert conversation.assignee == team["other_agent"]
        assert not conversation.messages.exists()
        # A manager may.
        manager = as_user("manager")
        assert manager.post(f"{url}/release/", {}, "application/json").status_code == 200

    @pytest.mark.parametrize(
        ("action", "body", "status", "code"),
        [
            ("reply", {"content": "   "}, 400, "empty_message"),
            ("reply", {"content": 42}, 400, "validation_error"),
            ("note", {"text": ""}, 400, "empty_note"),
            ("assign", {"agent_id": "nope"}, 400, "validation_error"),
            ("launch", {}, 404, "not_found"),
        ],
    )
    def test_bad_input_is_a_4xx_json(self, as_user, action, body, status, code):
        conversation = _waiting(1)
        client = as_user("manager")
        response = client.post(
            f"{API}/conversations/{conversation.pk}/{action}/", body, "application/json"
        )
        assert response.status_code == status and response.json()["error"]["code"] == code

    def test_not_json_unknown_conversation_wrong_method_and_anonymous(self, client, as_user):
        conversation = _waiting(1)
        agent = as_user("agent")
        url = f"{API}/conversations/{conversation.pk}/reply/"
        bad = agent.post(url, "{nope", "application/json")
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_json"
        listed = agent.post(url, [1, 2], "application/json")
        assert listed.status_code == 400
        missing = agent.get(f"{API}/conversations/00000000-0000-0000-0000-000000000001/")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        wrong = agent.get(url)
        assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
        client.logout()
        anonymous = client.get(f"{API}/conversations/")
        assert anonymous.status_code == 401
        assert anonymous.json()["error"]["code"] == "not_authenticated"

    def test_closed_conversation_refuses_a_reply(self, as_user):
        conversation = ConversationFactory(status=Conversation.Status.CLOSED)
        response = as_user("agent").post(
            f"{API}/conversations/{conversation.pk}/reply/", {"content": "hi"}, "application/json"
        )
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "conversation_closed"


def test_heartbeat_sets_status_and_rejects_nonsense(as_user, team):
    client = as_user("agent")
    response = client.post(f"{API}/heartbeat/", {"status": "online"}, "application/json")
    assert response.status_code == 200 and response.json() == {"status": "online", "online": True}
    profile = team["agent"].agent_profile
    assert profile.last_seen_at is not None
    bad = client.post(f"{API}/heartbeat/", {"status": "asleep"}, "application/json")
    assert bad.status_code == 400
