"""Staff roles as Django groups: what each may do, in one place.

- **Support agent**: the inbox (reply, take over, release, close, notes, reveal), transcripts,
  the moderation review queue.
- **Manager**: everything an agent may do, plus model preferences and budgets, the model
  catalogue, widget keys, canned replies, agents' capacity and the dashboards.
- **Admin**: a superuser (no group; Django grants a superuser everything).

The lists below are the source of truth. `roles_sync()` makes each group hold exactly
these permissions: the data migration (0007_roles) runs it once, and every later `migrate`
runs it again (post_migrate), so a permission that appears with a later app or model (a
dashboard, canned replies) reaches the role without another data migration, and a
permission someone added to a group by hand is taken away again. A role of your own is a
new group, not an edit of these two.

Secrets stay write-only for everyone: no admin page shows a stored key (accounts.checks).
To extend a role, add "app_label.codename" strings to its tuple; tests/test_access_matrix.py
then expects the new access and fails on anything beyond it.
"""

import logging

from django.apps import apps as global_apps
from django.db import DEFAULT_DB_ALIAS

logger = logging.getLogger(__name__)

AGENT_GROUP = "Support agent"
MANAGER_GROUP = "Manager"


def _crud(model: str, *actions: str) -> tuple[str, ...]:
    app_label, name = model.split(".")
    return tuple(f"{app_label}.{action}_{name}" for action in actions)


ALL = ("view", "add", "change", "delete")

# The inbox's own permissions (declared on accounts.AgentProfile).
INBOX = (
    "accounts.use_inbox",
    "accounts.reply_conversation",
    "accounts.take_over_conversation",
    "accounts.release_conversation",
    "accounts.close_conversation",
    "accounts.add_note",
    "accounts.reveal_pii",
)

AGENT = (
    *INBOX,
    *_crud("conversations.conversation", "view"),  # transcripts
    *_crud("conversations.moderationflag", "view", "change"),  # review: confirm / dismiss
    *_crud("conversations.cannedreply", "view"),  # used from the inbox
    *_crud("conversations.conversationevent", "view"),
    *_crud("conversations.feedback", "view"),
    *_crud("knowledge.article", "view"),  # what the bot answers from
    *_crud("tools.toolcall", "view"),  # the tool calls shown in transcripts
)

MANAGER = (
    *AGENT,
    "accounts.assign_conversation",  # assign to someone else (agents take over for themselves)
    # Model preferences and budgets: an inline of the user page. change_user lets a manager
    # save that page; accounts.admin keeps every field of the user itself read-only for
    # non-superusers (no self-promotion, no password resets).
    *_crud("accounts.user", "view", "change"),
    *_crud("accounts.modelpreference", *ALL),
    *_crud("accounts.agentprofile", "view", "add", "change"),  # capacity, public name
    *_crud("accounts.widgetkey", *ALL),
    *_crud("chatbot.llmendpoint", *ALL),  # the catalogue (API keys are write-only)
    *_crud("chatbot.llmmodel", *ALL),
    *_crud("chatbot.providercall", "view"),  # the cost ledger behind budgets
    *_crud("conversations.cannedreply", "add", "change", "delete"),
    *_crud("conversations.handoffrule", *ALL),
    # The knowledge base (chatbot.knowledge): articles, their sources, per-key settings,
    # the gaps to turn into articles; citations are the bot's record, read-only.
    *_crud("knowledge.source", *ALL),
    *_crud("knowledge.article", "add", "change", "delete"),
    *_crud("knowledge.knowledgesettings", *ALL),
    *_crud("knowledge.knowledgegap", "view", "change", "delete"),
    *_crud("knowledge.citation", "view"),
    # Tools (chatbot.tools): managers define HTTP tools (auth headers stay write-only);
    # the call ledger is read-only.
    *_crud("tools.tool", *ALL),
    # Dashboards (chatbot.insights, the `dash` branch; its migration 0002 grants the same).
    "insights.view_dashboard",
    "insights.view_conversationsummary",
)

ROLES: dict[str, tuple[str, ...]] = {AGENT_GROUP: AGENT, MANAGER_GROUP: MANAGER}


def _split(perm: str) -> tuple[str, str]:
    app_label, codename = perm.split(".", 1)
    return app_label, codename


def roles_sync(*, apps=global_apps, using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Give each role group exactly its permissions; returns the ones that do not exist
    (yet): an app not installed or a model still to come. Idempotent."""
    from django.contrib.auth.management import create_permissions

    # Permissions are created after migrate by a post_migrate handler per app; a later app's
    # may not exist yet when this runs, so create them all first (idempotent).
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0, using=using)

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    wanted = {perm for perms in ROLES.values() for perm in perms}
    found = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in Permission.objects.using(using).values_list(
            "pk", "content_type__app_label", "codename"
        )
    }
    missing = sorted(wanted - found.keys())
    for name, perms in ROLES.items():
        group, _ = Group.objects.using(using).get_or_create(name=name)
        group.permissions.set([found[p] for p in perms if p in found])
    if missing:
        logger.info("role permissions not (yet) defined: %s", ", ".join(missing))
    return missing


def roles_sync_after_migrate(sender, using=DEFAULT_DB_ALIAS, apps=global_apps, **kwargs) -> None:
    """post_migrate receiver (accounts.apps): re-apply the roles after every migrate."""
    if not apps.is_installed("django.contrib.auth"):
        return
    roles_sync(apps=apps, using=using)
