"""Staff roles (accounts.roles): role x admin page x action, each outcome asserted.

The API side is tests/test_access_matrix.py; this is the admin and the inbox. EXPECTED says
what each role may do on each admin page; the test walks every registered ModelAdmin and
fails on anything more (an over-grant) and on anything less. A new admin page fails
`test_every_admin_page_is_in_the_matrix` until it is added here.
"""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse

from accounts.models import AgentProfile, ApiToken, AuditEvent, ErasureRecord, User
from accounts.roles import AGENT_GROUP, MANAGER_GROUP, roles_sync
from chatbot.insights.models import ConversationSummary
from chatbot.knowledge.models import (
    Article,
    Chunk,
    Citation,
    KnowledgeGap,
    KnowledgeSettings,
    Source,
)
from chatbot.models import LLMEndpoint, LLMModel
from chatbot.routing.services import llm_endpoint_set_api_key
from chatbot.tools.models import Tool, ToolCall
from chatbot.tools.services import tool_set_auth_header
from conversations.models import CannedReply, HandoffRule, ModerationFlag
from tests.factories import (
    ConversationFactory,
    MessageFactory,
    ProviderCallFactory,
    UserFactory,
    VisitorFactory,
    WidgetKeyFactory,
)

pytestmark = pytest.mark.django_db

ROLES = ["agent", "manager", "admin", "staff_without_role", "customer"]
ACTIONS = ["view", "add", "change", "delete"]
V, A, C, D = "view", "add", "change", "delete"

# {model label: {role: allowed actions}}; a role not named may do nothing there.
EXPECTED: dict[str, dict[str, set[str]]] = {
    "conversations.conversation": {"agent": {V}, "manager": {V}, "admin": {V, D}},
    "conversations.moderationflag": {"agent": {V, C}, "manager": {V, C}, "admin": {V, C, D}},
    "accounts.user": {"manager": {V, C}, "admin": {V, A, C, D}},
    "accounts.widgetkey": {"manager": {V, A, C, D}, "admin": {V, A, C, D}},
    "accounts.apitoken": {"admin": {V, C, D}},
    "accounts.agentprofile": {"manager": {V, A, C}, "admin": {V, A, C, D}},
    "accounts.auditevent": {"admin": {V}},
    "accounts.erasurerecord": {"admin": {V}},
    "chatbot.llmendpoint": {"manager": {V, A, C, D}, "admin": {V, A, C, D}},
    "chatbot.llmmodel": {"manager": {V, A, C, D}, "admin": {V, A, C, D}},
    "chatbot.providercall": {"manager": {V}, "admin": {V, D}},
    "auth.group": {"admin": {V, A, C, D}},
    "conversations.handoffrule": {"manager": {V, A, C, D}, "admin": {V, A, C, D}},
    "conversations.cannedreply": {
        "agent": {V},
        "manager": {V, A, C, D},
        "admin": {V, A, C, D},
    },
    # The rows behind the managers' dashboard: read-only for everyone (chatbot.insights).
    "insights.conversationsummary": {"manager": {V}, "admin": {V}},
    # The knowledge base (chatbot.knowledge): managers curate it; agents read articles.
    "knowledge.source": {"manager": {V, A, C, D}, "admin": {V, A, C, D}},
    "knowledge.article": {"agent": {V}, "manager": {V, A, C, D}, "admin": {V, A, C, D}},
    "knowledge.knowledgesettings": {"manager": {V, A, C, D}, "admin": {V, A, C, D}},
    "knowledge.knowledgegap": {"manager": {V, C, D}, "admin": {V, C, D}},
    "knowledge.citation": {"manager": {V}, "admin": {V, D}},
    # Tools (chatbot.tools): managers define them; the call ledger is read-only.
    "tools.tool": {"manager": {V, A, C, D}, "admin": {V, A, C, D}},
    "tools.toolcall": {"agent": {V}, "manager": {V}, "admin": {V, D}},
}

API_KEY = "sk-live-never-shown-4242"


@pytest.fixture
def people(db):
    roles_sync()  # what migrate did; a transactional test's flush may have emptied it
    agent = UserFactory(username="agent-a", is_staff=True)
    agent.groups.add(Group.objects.get(name=AGENT_GROUP))
    manager = UserFactory(username="manager-m", is_staff=True)
    manager.groups.add(Group.objects.get(name=MANAGER_GROUP))
    return {
        "agent": agent,
        "manager": manager,
        "admin": UserFactory(username="admin-x", is_staff=True, is_superuser=True),
        "staff_without_role": UserFactory(username="staff-none", is_staff=True),
        "customer": UserFactory(username="customer-c"),
    }


@pytest.fixture
def objects(people):
    """One row per admin page, to open its change and delete pages."""
    customer = VisitorFactory()
    conversation = ConversationFactory(customer=customer)
    message = MessageFactory(conversation=conversation, content="my card 4111 1111 1111 1111")
    endpoint = LLMEndpoint.objects.create(name="Main")
    llm_endpoint_set_api_key(endpoint=endpoint, api_key=API_KEY)
    reply = MessageFactory(conversation=conversation, role="assistant", content="ok")
    source = Source.objects.create(name="Help centre", location="help/")
    article = Article.objects.create(source=source, title="Refunds", body="Five days.")
    chunk = Chunk.objects.create(article=article, position=0, text="Five days.", token_count=3)
    tool = Tool.objects.create(
        name="order_lookup", description="Looks up an order.", url="https://shop.example/o"
    )
    tool_set_auth_header(tool=tool, value=f"Bearer {API_KEY}")
    return {
        "conversations.conversation": conversation,
        "conversations.moderationflag": ModerationFlag.objects.create(
            message=message, source="input", action="flagged", categories=["pii/card"]
        ),
        "accounts.user": customer,
        "accounts.widgetkey": WidgetKeyFactory(),
        "accounts.apitoken": ApiToken.objects.create(user=customer, token_hash="f" * 64),
        "accounts.agentprofile": AgentProfile.objects.create(user=people["agent"]),
        "accounts.auditevent": AuditEvent.objects.create(action="transcript.view"),
        "accounts.erasurerecord": ErasureRecord.objects.create(route="staff"),
        "chatbot.llmendpoint": endpoint,
        "chatbot.llmmodel": LLMModel.objects.create(name="gpt-x", endpoint=endpoint),
        "chatbot.providercall": ProviderCallFactory(reply=reply, customer=customer),
        "auth.group": Group.objects.get(name=AGENT_GROUP),
        "conversations.handoffrule": HandoffRule.objects.create(phrase="talk to a person"),
        "conversations.cannedreply": CannedReply.objects.create(
            title="Refunds", shortcut="refund", body="Refunds take 5 days."
        ),
        "knowledge.source": source,
        "knowledge.article": article,
        "knowledge.knowledgesettings": KnowledgeSettings.objects.create(
            widget_key=WidgetKeyFactory()
        ),
        "knowledge.knowledgegap": KnowledgeGap.objects.create(
            normalized_text="where is my refund", question="Where is my refund?"
        ),
        "knowledge.citation": Citation.objects.create(
            reply=reply, number=1, chunk=chunk, article=article, title=article.title
        ),
        "tools.tool": tool,
        "tools.toolcall": ToolCall.objects.create(
            conversation=conversation,
            reply=reply,
            tool=tool,
            tool_name=tool.name,
            call_id="call_1",
            status=ToolCall.Status.SUCCEEDED,
        ),
        "insights.conversationsummary": ConversationSummary.objects.create(
            conversation=conversation,
            day=conversation.created_at.date(),
            started_at=conversation.created_at,
            ended_at=conversation.created_at,
            outcome="abandoned",
            source_last_message_at=conversation.created_at,
            source_status="open",
            computed_at=conversation.created_at,
        ),
    }


def _label(model) -> str:
    return model._meta.label_lower


def test_every_admin_page_is_in_the_matrix():
    registered = {_label(model) for model in admin.site._registry}
    assert registered == set(EXPECTED), (
        f"add to EXPECTED: {registered - set(EXPECTED)}; stale: {set(EXPECTED) - registered}"
    )


def _allowed(client, model, obj) -> set[str]:
    """What the role can actually do, as the admin answers over HTTP."""
    info = (model._meta.app_label, model._meta.model_name)
    found = set()
    changelist = client.get(reverse("admin:{}_{}_changelist".format(*info)))
    assert changelist.status_code in (200, 302, 403), changelist.status_code
    if changelist.status_code == 200:
        found.add(V)
    if client.get(reverse("admin:{}_{}_add".format(*info))).status_code == 200:
        found.add(A)
    change = client.get(reverse("admin:{}_{}_change".format(*info), args=[obj.pk]))
    assert change.status_code in (200, 302, 403), change.status_code
    if change.status_code == 200:
        found.add(V)
        if 'name="_save"' in change.content.decode():
            found.add(C)
    if client.get(reverse("admin:{}_{}_delete".format(*info), args=[obj.pk])).status_code == 200:
        found.add(D)
    return found


@pytest.mark.parametrize("role", ROLES)
def test_role_can_do_exactly_what_the_matrix_says(client, people, objects, role):
    client.force_login(people[role])
    problems = []
    for model in admin.site._registry:
        label = _label(model)
        expected = EXPECTED.get(label, {}).get(role, set())
        actual = _allowed(client, model, objects[label])
        if actual - expected:
            problems.append(f"OVER-GRANT {label}: {sorted(actual - expected)}")
        if expected - actual:
            problems.append(f"missing {label}: {sorted(expected - actual)}")
        body = client.get(
            reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
        ).content.decode()
        assert API_KEY not in body  # secrets are write-only for everyone, admins included
    assert not problems, "\n".join(problems)


def test_no_role_reads_a_stored_secret(client, people, objects):
    endpoint = objects["chatbot.llmendpoint"]
    for role in ("manager", "admin"):
        client.force_login(people[role])
        page = client.get(reverse("admin:chatbot_llmendpoint_change", args=[endpoint.pk]))
        assert page.status_code == 200
        assert API_KEY not in page.content.decode() and "set" in page.content.decode()


def test_admin_index_lists_only_what_the_role_may_open(client, people):
    client.force_login(people["agent"])
    page = client.get(reverse("admin:index")).content.decode()
    assert "Conversations" in page and "Moderation flags" in page
    for hidden in ("Widget keys", "LLM endpoints", "Users", "Audit events", "Groups"):
        assert hidden not in page, hidden


class TestManagerCannotEscalate:
    def test_user_fields_are_read_only_for_a_manager(self, client, people):
        client.force_login(people["manager"])
        target = people["customer"]
        url = reverse("admin:accounts_user_change", args=[target.pk])
        page = client.get(url).content.decode()
        assert 'name="is_superuser"' not in page and 'name="groups"' not in page
        client.post(
            url,
            {
                "username": "hijacked",
                "is_staff": "on",
                "is_superuser": "on",
                "email": "x@example.com",
                "model_preference-TOTAL_FORMS": "0",
                "model_preference-INITIAL_FORMS": "0",
            },
        )
        target.refresh_from_db()
        assert target.username == "customer-c" and not target.is_staff
        assert not target.is_superuser

    def test_manager_cannot_promote_themselves(self, client, people):
        manager = people["manager"]
        client.force_login(manager)
        client.post(
            reverse("admin:accounts_user_change", args=[manager.pk]),
            {"username": manager.username, "is_superuser": "on", "groups": []},
        )
        manager.refresh_from_db()
        assert not manager.is_superuser
        assert manager.groups.filter(name=MANAGER_GROUP).exists()

    def test_manager_cannot_set_anyones_password(self, client, people):
        client.force_login(people["manager"])
        admin_user = people["admin"]
        url = reverse("admin:auth_user_password_change", args=[admin_user.pk])
        assert client.get(url).status_code == 403
        response = client.post(url, {"password1": "Hijack-123!x", "password2": "Hijack-123!x"})
        assert response.status_code == 403
        admin_user.refresh_from_db()
        assert not admin_user.check_password("Hijack-123!x")

    def test_export_and_erase_are_for_admins_only(self, client, people):
        url = reverse("admin:accounts_user_changelist")
        client.force_login(people["manager"])
        page = client.get(url).content.decode()
        assert "export_user_data" not in page and "erase_user_data" not in page
        response = client.post(
            url, {"action": "export_user_data", "_selected_action": [str(people["customer"].pk)]}
        )
        assert response.get("Content-Disposition") is None  # no export came back
        client.force_login(people["admin"])
        page = client.get(url).content.decode()
        assert "export_user_data" in page and "erase_user_data" in page

    def test_manager_edits_a_model_preference(self, client, people):
        client.force_login(people["manager"])
        target = people["customer"]
        response = client.post(
            reverse("admin:accounts_user_change", args=[target.pk]),
            {
                "model_preference-TOTAL_FORMS": "1",
                "model_preference-INITIAL_FORMS": "0",
                "model_preference-0-model": "gpt-x",
                "model_preference-0-user": str(target.pk),
            },
        )
        assert response.status_code == 302, response.content.decode()[:2000]
        assert User.objects.get(pk=target.pk).model_preference.model == "gpt-x"


def test_roles_sync_takes_back_a_permission_added_by_hand(people):
    from django.contrib.auth.models import Permission

    group = Group.objects.get(name=AGENT_GROUP)
    group.permissions.add(Permission.objects.get(codename="delete_widgetkey"))
    roles_sync()
    assert not group.permissions.filter(codename="delete_widgetkey").exists()
    assert group.permissions.filter(codename="use_inbox").exists()


def test_every_role_permission_of_an_installed_app_exists():
    """A typo in accounts.roles would silently grant nothing: every listed permission of an
    installed app must exist (apps not installed yet, like the dashboards, are skipped)."""
    from django.apps import apps

    from accounts.roles import ROLES as ROLE_PERMS

    missing = roles_sync()
    installed = {config.label for config in apps.get_app_configs()}
    assert [p for p in missing if p.split(".")[0] in installed] == []
    assert all("." in p for perms in ROLE_PERMS.values() for p in perms)


@pytest.mark.parametrize(
    ("role", "status"),
    [
        ("manager", 200),
        ("admin", 200),
        ("agent", 403),
        ("staff_without_role", 403),
        ("customer", 302),
    ],
)
def test_only_managers_open_the_dashboard(client, people, role, status):
    client.force_login(people[role])
    assert client.get(reverse("insights-dashboard")).status_code == status
