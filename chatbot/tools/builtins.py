"""The built-in tools. Importing this module registers them (chatbot.tools.apps)."""

import hashlib
from datetime import date, timedelta

from django.conf import settings

from chatbot.knowledge.retrieval import knowledge_search
from conversations.services import conversation_handoff_request

from .registry import ToolContext, builtin


@builtin(
    name="get_conversation_status",
    description="The state of this conversation: open or closed, and whether a person "
    "handles it or the customer waits for one.",
    status_label="Checking this conversation…",
)
def get_conversation_status(context: ToolContext, arguments: dict) -> dict:
    conversation = context.conversation
    return {
        "status": conversation.status,
        # Conversation.handling comes with the human-handoff work; "bot" until then.
        "handling": getattr(conversation, "handling", "bot"),
        "messages": conversation.messages.count(),
    }


# ------------------------------------------------------------------ knowledge-base search


@builtin(
    name="search_knowledge_base",
    description="Search the help articles of this shop. Use it for questions about "
    "products, shipping, returns and policies; quote what it returns.",
    parameters={
        "type": "object",
        "properties": {"query": {"type": "string", "minLength": 1, "maxLength": 300}},
        "required": ["query"],
        "additionalProperties": False,
    },
    status_label="Searching the help articles…",
)
def search_knowledge_base(context: ToolContext, arguments: dict) -> dict:
    """The knowledge base's retrieval (chatbot.knowledge), scoped to the widget key."""
    hits = knowledge_search(query=arguments["query"], widget_key_id=context.widget_key_id, limit=5)
    return {"results": [_hit_as_dict(hit) for hit in hits]}


def _hit_as_dict(hit) -> dict:
    fields = ("title", "heading", "text", "url", "score", "article_id", "chunk_id")
    return {f: getattr(hit, f) for f in fields if getattr(hit, f, None) not in (None, "")}


# --------------------------------------------------------------------------- handoff


def _handoff_available() -> bool:
    return settings.HANDOFF_ENABLED


@builtin(
    name="handoff_to_human",
    description="Hand the conversation over to a person on the support team, when the "
    "customer asks for one or you cannot help. Give a short reason for the team.",
    parameters={
        "type": "object",
        "properties": {"reason": {"type": "string", "minLength": 1, "maxLength": 300}},
        "required": ["reason"],
        "additionalProperties": False,
    },
    status_label="Asking a person to join…",
    available=_handoff_available,
)
def handoff_to_human(context: ToolContext, arguments: dict) -> dict:
    """The handoff service (docs/handoff.md): the model's explanation is a note for staff."""
    requested = conversation_handoff_request(
        conversation=context.conversation,
        reason="model_request",
        source="tool",
        note=arguments["reason"],
    )
    return {
        "handling": requested.handling,
        "note": "A person from the support team will join; tell the customer so."
        if requested.handling in ("waiting", "human")
        else "No one is available right now; the customer may leave an email for a reply.",
    }


# ------------------------------------------------------------------ the demo's order status

_DEMO_STATES = ("processing", "shipped", "out_for_delivery", "delivered")


@builtin(
    name="order_status",
    description="Where an order of the demo shop (Acme Demo Store) is: its status, carrier "
    "and expected delivery date. Needs the order number.",
    parameters={
        "type": "object",
        "properties": {
            "order_number": {
                "type": "string",
                "pattern": "^[0-9]{3,12}$",
                "description": "The order number, digits only.",
            }
        },
        "required": ["order_number"],
        "additionalProperties": False,
    },
    status_label="Looking up your order…",
)
def order_status(context: ToolContext, arguments: dict) -> dict:
    """Fictitious orders for the demo: the same number always gives the same answer."""
    number = arguments["order_number"]
    seed = int(hashlib.sha256(number.encode()).hexdigest()[:8], 16)
    state = _DEMO_STATES[seed % len(_DEMO_STATES)]
    eta = date(2026, 12, 1) + timedelta(days=seed % 5 + (0 if state == "delivered" else 1))
    return {
        "order_number": number,
        "shop": settings.TOOLS_DEMO_SHOP_NAME,
        "status": state,
        "carrier": ("DHL", "UPS", "PostNL")[seed % 3],
        "delivery_date": eta.isoformat(),
        "demo_data": True,
    }
