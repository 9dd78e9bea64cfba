"""The staff inbox's page and JSON endpoints (interfaces: parse, authorise, call one service).

Every endpoint is behind the admin's login (urls.staff) and then checks, itself:
the inbox permission, the action's own permission (accounts.roles), and the scope: a
conversation another agent holds is theirs; only someone who may assign can act on it.
Errors are the API's JSON shape with a 4xx status, never a 500.
"""

import json
import uuid
from functools import wraps

from django.conf import settings
from django.http import JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.display import customer_display_name, staff_display_name
from accounts.models import AgentProfile, User
from accounts.selectors import agent_is_online
from accounts.services import agent_heartbeat
from chatbot.cost.budgets import spend_for
from chatbot.moderation.detectors import mask_pii
from chatbot.platform.errors import ApplicationError, error_body

from .. import services as conversation_services
from ..assignment import conversations_auto_assign_waiting
from ..models import Conversation, Message
from . import selectors
from .services import inbox_read_mark, pii_reveal_record

PREVIEW_CHARS = selectors.PREVIEW_CHARS
MAX_BODY_BYTES = 64 * 1024


def _error(http_status: int, code: str, message: str, **fields) -> JsonResponse:
    return JsonResponse(error_body(code, message, fields or None), status=http_status)


def inbox_api(*methods: str):
    """JSON endpoints: staff with the inbox permission; ApplicationErrors become 4xx JSON."""
    return lambda view: _inbox_api(view, methods)


def _inbox_api(view, methods):
    @wraps(view)
    @never_cache
    def wrapped(request, *args, **kwargs):
        if request.method not in methods:
            response = _error(405, "method_not_allowed", f"Use {' or '.join(methods)}.")
            response["Allow"] = ", ".join(methods)
            return response
        user = request.user
        if not user.is_authenticated:
            return _error(401, "not_authenticated", "Log in to the admin first.")
        if not (user.is_active and user.is_staff and user.has_perm("accounts.use_inbox")):
            return _error(403, "permission_denied", "You may not use the inbox.")
        try:
            return view(request, *args, **kwargs)
        except ApplicationError as exc:
            return JsonResponse(error_body(exc.code, exc.message), status=exc.status_code)

    return wrapped


def _json_body(request) -> dict:
    if len(request.body) > MAX_BODY_BYTES:
        raise ApplicationError("The request is too large.", code="too_large", status_code=413)
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise ApplicationError("Send a JSON object.", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ApplicationError("Send a JSON object.", code="invalid_json")
    return data


def _text(data: dict, name: str) -> str:
    value = data.get(name, "")
    if not isinstance(value, str):
        raise ApplicationError(f"'{name}' must be text.", code="validation_error")
    return value


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _preview(text: str | None) -> str:
    flat = " ".join((text or "").split())
    flat = mask_pii(flat)  # previews are always masked: reveal is per conversation, audited
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


def row_json(conversation: Conversation) -> dict:
    return {
        "id": str(conversation.pk),
        "customer": customer_display_name(conversation.customer),
        "title": conversation.title,
        "preview": _preview(conversation.last_text),
        "last_role": conversation.last_role or "",
        "handling": conversation.handling,
        "status": conversation.status,
        "waiting_since": _iso(selectors.waiting_since(conversation)),
        "last_message_at": _iso(conversation.last_message_at),
        "assignee": staff_display_name(conversation.assignee) or None,
        "assignee_id": str(conversation.assignee_id) if conversation.assignee_id else None,
        "open_flags": conversation.open_flag_total,
        "unread": conversation.unread_total,
    }


# ------------------------------------------------------------------------------ the page


@require_GET
def inbox_page(request):
    if not request.user.has_perm("accounts.use_inbox"):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied
    get_token(request)  # the page's JS sends it back as X-CSRFToken
    config = {
        "urls": {
            "rows": reverse("inbox:rows"),
            "detail": reverse("inbox:detail", args=[uuid.UUID(int=0)]),
            "events": reverse("inbox:events"),
            "heartbeat": reverse("inbox:heartbeat"),
            "canned": reverse("inbox:canned"),
        },
        "heartbeatSeconds": settings.AGENT_HEARTBEAT_SECONDS,
        "me": str(request.user.pk),
        "views": list(selectors.VIEWS),
    }
    context = {
        **_admin_context(request),
        "title": "Inbox",
        "inbox_config": config,
        "status": getattr(_profile(request.user), "status", AgentProfile.Status.AWAY),
    }
    return render(request, "inbox/index.html", context)


def _admin_context(request) -> dict:
    from django.contrib import admin

    return admin.site.each_context(request)


def _profile(user: User) -> AgentProfile | None:
    return AgentProfile.objects.filter(user=user).first()


# ------------------------------------------------------------------------------ the list


@inbox_api("GET")
def conversation_rows(request):
    view = request.GET.get("view", "mine")
    if view not in selectors.VIEWS:
        return _error(400, "validation_error", "Unknown view.", view=[f"One of {selectors.VIEWS}"])
    ids = None
    if raw := request.GET.get("ids"):
        try:
            ids = [uuid.UUID(part) for part in raw.split(",")[:100]]
        except ValueError:
            return _error(400, "validation_error", "Bad conversation id.", ids=["Not ids."])
    rows = selectors.inbox_conversations(agent=request.user, view=view, ids=ids)
    body = {
        "view": view,
        "rows": [row_json(c) for c in rows],
        "counts": selectors.inbox_counts(agent=request.user),
    }
    if ids is not None:
        body["absent"] = sorted({str(i) for i in ids} - {r["id"] for r in body["rows"]})
    return JsonResponse(body)


# ------------------------------------------------------------------------ a conversation


def _message_json(message: Message, *, reveal: bool) -> dict:
    content = message.content if reveal else mask_pii(message.content)
    return {
        "id": str(message.pk),
        "role": message.role,
        "status": message.status,
        "content": content,
        "masked": content != message.content,
        "author": staff_display_name(message.author) if message.author_id else "",
        "created_at": _iso(message.created_at),
        "open_flags": message.open_flags,
        "model": message.model,
        "error_code": message.error_code,
    }


def _person(user: User) -> str:
    return staff_display_name(user) if user.is_staff else customer_display_name(user)


def _event_json(event) -> dict:
    detail = {k: v for k, v in event.detail.items() if k != "text"}
    return {
        "id": event.pk,
        "kind": event.kind,
        "label": event.get_kind_display(),
        "actor": _person(event.actor) if event.actor_id else "",
        "reason": event.reason,
        "text": event.detail.get("text", "") if event.kind == "note" else "",
        "detail": detail,
        "created_at": _iso(event.created_at),
    }


def _sidebar(conversation: Conversation, viewer: User) -> dict:
    customer = conversation.customer
    if customer is None:
        return {"customer": None}
    spend = spend_for(user_id=customer.pk)
    preference_url = None
    if viewer.has_perm("accounts.view_user"):
        preference_url = reverse("admin:accounts_user_change", args=[customer.pk])
        preference_url += "#model_preference-group"
    return {
        "customer": {
            "name": customer_display_name(customer),
            "email": customer.email,
            "verified": not customer.is_visitor,
            "external_id": customer.external_id,
            "joined": _iso(customer.date_joined),
            "followup_email": conversation.followup_email,
        },
        "spend": {"tokens": spend.tokens, "cost": f"{spend.cost:.4f}"},
        "preference_url": preference_url,
        "earlier": [
            {
                "id": str(c.pk),
                "title": c.title or f"Conversation {str(c.pk)[:8]}",
                "status": c.status,
                "handling": c.handling,
                "last_message_at": _iso(c.last_message_at),
            }
            for c in selectors.earlier_conversations(conversation=conversation)
        ],
    }


def _may(user: User) -> dict:
    return {
        action: user.has_perm(f"accounts.{perm}")
        for action, perm in {
            "reply": "reply_conversation",
            "take_over": "take_over_conversation",
            "release": "release_conversation",
            "close": "close_conversation",
            "assign": "assign_conversation",
            "note": "add_note",
            "reveal": "reveal_pii",
        }.items()
    }


def detail_json(conversation: Conversation, viewer: User, *, reveal: bool = False) -> dict:
    messages = selectors.transcript(conversation=conversation)
    agents = []
    if viewer.has_perm("accounts.assign_conversation"):
        agents = [
            {
                "id": str(u.pk),
                "name": staff_display_name(u),
                "online": agent_is_online(profile=getattr(u, "agent_profile", None)),
            }
            for u in selectors.staff_assignable()
        ]
    return {
        "id": str(conversation.pk),
        "title": conversation.title,
        "customer": customer_display_name(conversation.customer),
        "status": conversation.status,
        "handling": conversation.handling,
        "assignee": staff_display_name(conversation.assignee) or None,
        "assignee_id": str(conversation.assignee_id) if conversation.assignee_id else None,
        "waiting_since": _iso(selectors.waiting_since(conversation)),
        "open_flags": conversation.open_flag_total,
        "messages": [_message_json(m, reveal=reveal) for m in messages],
        "events": [_event_json(e) for e in selectors.timeline(conversation=conversation)],
        "feedback": [
            {"kind": f.kind, "vote": f.vote, "comment": f.comment, "message_id": f.message_id}
            for f in selectors.feedback_for(conversation=conversation)
        ],
        "sidebar": _sidebar(conversation, viewer),
        "agents": agents,
        "may": _may(viewer),
        "admin_url": reverse("admin:conversations_conversation_change", args=[conversation.pk]),
    }


def _conversation_or_404(conversation_id):
    conversation = selectors.conversation_for_staff(conversation_id=conversation_id)
    if conversation is None:
        raise ApplicationError("No such conversation.", code="not_found", status_code=404)
    return conversation


@inbox_api("GET")
def conversation_detail(request, conversation_id):
    conversation = _conversation_or_404(conversation_id)
    inbox_read_mark(agent=request.user, conversation=conversation)
    return JsonResponse(detail_json(conversation, request.user))


# ------------------------------------------------------------------------------ actions

# action -> the permission it needs (besides use_inbox)
ACTION_PERMISSIONS = {
    "take_over": "accounts.take_over_conversation",
    "release": "accounts.release_conversation",
    "close": "accounts.close_conversation",
    "assign": "accounts.assign_conversation",
    "reply": "accounts.reply_conversation",
    "note": "accounts.add_note",
    "reveal": "accounts.reveal_pii",
    "read": "accounts.use_inbox",
}
# Actions on a conversation someone else holds need the right to assign (a manager).
_SCOPED = {"release", "close", "reply"}


def _check_scope(user: User, conversation: Conversation, action: str) -> None:
    held_by_other = conversation.assignee_id not in (None, user.pk)
    if action in _SCOPED and held_by_other and not user.has_perm("accounts.assign_conversation"):
        raise ApplicationError(
            f"{staff_display_name(conversation.assignee)} is handling this conversation.",
            code="assigned_to_someone_else",
            status_code=403,
        )


@inbox_api("POST")
def conversation_action(request, conversation_id, action):
    perm = ACTION_PERMISSIONS.get(action)
    if perm is None:
        return _error(404, "not_found", "Unknown action.")
    if not request.user.has_perm(perm):
        return _error(403, "permission_denied", "Your role does not allow this.")
    data = _json_body(request)
    conversation = _conversation_or_404(conversation_id)
    _check_scope(request.user, conversation, action)
    user = request.user
    result: dict = {}
    if action == "take_over":
        conversation_services.conversation_take_over(conversation=conversation, agent=user)
    elif action == "release":
        conversation_services.conversation_release(
            conversation=conversation, actor=user, reason=_text(data, "reason")[:64]
        )
    elif action == "close":
        conversation_services.conversation_close(
            conversation=conversation, actor=user, reason=_text(data, "reason")[:64]
        )
    elif action == "assign":
        agent_id = _text(data, "agent_id")
        try:
            agent = selectors.staff_assignable().filter(pk=uuid.UUID(agent_id)).first()
        except ValueError:
            agent = None
        if agent is None:
            return _error(400, "validation_error", "Pick an agent.", agent_id=["Not an agent."])
        conversation_services.conversation_assign(
            conversation=conversation, assignee=agent, actor=user
        )
    elif action == "reply":
        message = conversation_services.staff_message_send(
            conversation=conversation, author=user, content=_text(data, "content")
        )
        result["message_id"] = str(message.pk)
    elif action == "note":
        event = conversation_services.conversation_note_add(
            conversation=conversation, author=user, text=_text(data, "text")
        )
        result["event_id"] = event.pk
    elif action == "reveal":
        messages = selectors.transcript(conversation=conversation)
        pii_reveal_record(
            agent=user, conversation=conversation, message_ids=[str(m.pk) for m in messages]
        )
        return JsonResponse(
            {"messages": [{"id": str(m.pk), "content": m.content} for m in messages]}
        )
    elif action == "read":
        inbox_read_mark(agent=user, conversation=conversation)
        return JsonResponse({"ok": True})
    conversation = _conversation_or_404(conversation_id)
    return JsonResponse({**result, "conversation": detail_json(conversation, user)})


# ------------------------------------------------------------------- presence, canned


@inbox_api("POST")
def heartbeat(request):
    data = _json_body(request)
    status = data.get("status")
    if status is not None and status not in AgentProfile.Status.values:
        return _error(400, "validation_error", "Unknown status.", status=["online or away"])
    profile = agent_heartbeat(user=request.user, status=status)
    online = agent_is_online(profile=profile)
    if online:
        conversations_auto_assign_waiting()  # a free agent picks up the queue at once
    return JsonResponse({"status": profile.status, "online": online})


@inbox_api("GET")
def canned_replies(request):
    return JsonResponse(
        {
            "replies": [
                {"shortcut": r.shortcut, "language": r.language, "title": r.title, "body": r.body}
                for r in selectors.canned_reply_list()
            ]
        }
    )
