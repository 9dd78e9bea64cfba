"""GDPR reads: everything held about one person (Art. 15 access, Art. 20 portability).

The export has explicit sections for the data we know, plus `related`: rows of any other
model that points at the person, their conversations or their messages (the usage ledger,
feedback, whatever is added later), found through the model relations, so a new model
cannot be silently left out. Secrets (password hashes, token hashes, encrypted keys, claim
tokens) never appear.
"""

from typing import Any

from django.db import models
from django.utils import timezone

from accounts.models import ApiToken, AuditEvent, ErasureRecord, ModelPreference, User
from chatbot.platform.crypto import SECRET_FIELD
from conversations.models import (
    Conversation,
    ConversationEvent,
    Feedback,
    Message,
    ModerationFlag,
)

EXPORT_FORMAT = "chatdesk.export/1"


PROFILE_FIELDS = [
    "id",
    "username",
    "email",
    "first_name",
    "last_name",
    "external_id",
    "is_visitor",
    "is_active",
    "date_joined",
    "last_login",
]
# Moderation flags, by allow-list. Left out: `reviewer` (staff-side bookkeeping, not about
# the person) and `excerpt`, which holds what the model said in a reply the output guard
# blocked (a system-prompt or canary leak): blocked text reaches no customer-facing surface,
# or the export would hand out the system prompt 4,000 characters at a time. Staff see it
# in the admin. `rule` is cut to its kind (`term`, `pattern#2`, `leak`, `provider`, `pii`):
# the rest quotes the matched text or the operator's pattern; `categories` says what fired.
_FLAG_FIELDS = [
    "id",
    "source",
    "categories",
    "scores",
    "rule",
    "action",
    "review_status",
    "note",
    "created_at",
    "reviewed_at",
]
# Models handled by an explicit section, or that hold no data about the person.
_HANDLED = {
    User,
    ModelPreference,
    ApiToken,
    Conversation,
    Message,
    ModerationFlag,
    AuditEvent,
    ErasureRecord,
    Feedback,
    ConversationEvent,
}
# The conversation's timeline, without internal notes (staff's, never shown to the
# customer) and without staff ids: what happened, when and why.
_EVENT_FIELDS = ["id", "kind", "reason", "created_at"]
_FEEDBACK_FIELDS = ["id", "kind", "vote", "comment", "message", "created_at", "updated_at"]


def _row(
    obj: models.Model, *, fields: list[str] | None = None, exclude: set[str] = frozenset()
) -> dict[str, Any]:
    """A model instance as plain data (concrete fields; FKs as ids), secrets left out."""
    out: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if fields is not None and field.name not in fields:
            continue
        if field.name in exclude or SECRET_FIELD.search(field.name):
            continue
        key = field.attname if field.is_relation else field.name
        value = getattr(obj, field.attname)
        out[key] = value.isoformat() if hasattr(value, "isoformat") else value
    if fields is not None:
        return {k: out[k] for k in fields if k in out}
    return out


def _flag_row(flag: ModerationFlag) -> dict[str, Any]:
    row = _row(flag, fields=_FLAG_FIELDS)
    row["rule"] = flag.rule.split(":", 1)[0]
    return row


def _related_row(obj: models.Model) -> dict[str, Any]:
    """A row of a model without its own section: its free-text fields (`TextField`) are left
    out, since nothing says where their text came from (a quote of a blocked reply, a staff
    note); a model whose free text belongs in the export gets an explicit section."""
    text_fields = {f.name for f in obj._meta.concrete_fields if isinstance(f, models.TextField)}
    return _row(obj, exclude=text_fields)


def _stringify(value: Any) -> Any:
    """UUIDs and Decimals to strings, recursively, so the document is plain JSON."""
    if isinstance(value, dict):
        return {k: _stringify(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def related_relations(model: type[models.Model]) -> list[models.ForeignObjectRel]:
    """Reverse relations into `model` from models without an explicit export section."""
    return [
        rel
        for rel in model._meta.related_objects
        if rel.related_model not in _HANDLED and not rel.many_to_many
    ]


def _related_rows(user: User, conversation_ids: list, message_ids: list) -> dict[str, list]:
    # label -> pk -> row: a row pointing at both the person and their message appears once.
    related: dict[str, dict[Any, dict]] = {}
    for model, ids in ((User, [user.pk]), (Conversation, conversation_ids), (Message, message_ids)):
        if not ids:
            continue
        for rel in related_relations(model):
            rows = rel.related_model._default_manager.filter(**{f"{rel.field.name}__in": ids})
            bucket = related.setdefault(rel.related_model._meta.label_lower, {})
            for obj in rows.order_by("pk"):
                bucket.setdefault(obj.pk, _related_row(obj))
    return {label: list(rows.values()) for label, rows in related.items() if rows}


def user_data_export(*, user: User) -> dict[str, Any]:
    """One JSON-ready document with everything held about `user`."""
    preference = ModelPreference.objects.filter(user=user).first()
    tokens = ApiToken.objects.filter(user=user).select_related("widget_key").order_by("created_at")
    conversations = list(
        Conversation.objects.filter(customer=user)
        .order_by("created_at", "id")
        .prefetch_related("messages__moderation_flags", "feedback", "events")
    )
    conversation_docs = []
    message_ids = []
    for conversation in conversations:
        doc = _row(conversation, exclude={"customer", "assignee"})  # staff-side
        doc["messages"] = []
        for message in conversation.messages.all():  # Message.Meta.ordering
            message_ids.append(message.pk)
            mdoc = _row(message, exclude={"conversation", "lease_expires_at", "author"})
            mdoc["moderation_flags"] = [_flag_row(flag) for flag in message.moderation_flags.all()]
            doc["messages"].append(mdoc)
        doc["feedback"] = [
            _row(f, fields=_FEEDBACK_FIELDS)
            for f in sorted(conversation.feedback.all(), key=lambda f: f.created_at)
        ]
        doc["timeline"] = [
            _row(e, fields=_EVENT_FIELDS)
            for e in conversation.events.all()  # ConversationEvent.Meta.ordering
            if e.kind != ConversationEvent.Kind.NOTE
        ]
        conversation_docs.append(doc)

    return _stringify(
        {
            "format": EXPORT_FORMAT,
            "generated_at": timezone.now().isoformat(),
            "profile": _row(user, fields=PROFILE_FIELDS),
            "model_preference": _row(preference, exclude={"user", "id"}) if preference else None,
            "api_tokens": [
                {
                    "id": t.pk,
                    "widget": t.widget_key.name if t.widget_key else None,
                    "created_at": t.created_at.isoformat(),
                    "last_used_at": t.last_used_at.isoformat() if t.last_used_at else None,
                    "expires_at": t.expires_at.isoformat() if t.expires_at else None,
                }
                for t in tokens
            ],
            "conversations": conversation_docs,
            "related": _related_rows(user, [c.pk for c in conversations], message_ids),
        }
    )


def user_data_summary(*, user: User) -> dict[str, int]:
    """Counts of what an erasure would remove (the admin's confirmation page)."""
    return {
        "conversations": Conversation.objects.filter(customer=user).count(),
        "messages": Message.objects.filter(conversation__customer=user).count(),
        "moderation_flags": ModerationFlag.objects.filter(
            message__conversation__customer=user
        ).count(),
        "api_tokens": ApiToken.objects.filter(user=user).count(),
    }
