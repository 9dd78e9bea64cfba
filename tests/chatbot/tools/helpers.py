"""Tools under test: a verified customer of a widget key, HTTP tools on the tool stub."""

from accounts.services import (
    identity_hash,
    visitor_session_create,
    widget_key_rotate_identity_secret,
)
from chatbot.tools.models import Tool
from conversations.models import Conversation

ORDERS_SCHEMA = {
    "type": "object",
    "properties": {"order_number": {"type": "string", "pattern": "^[0-9]{1,12}$"}},
    "required": ["order_number"],
    "additionalProperties": False,
}


def verified_conversation(widget_key, external_id: str = "cust-42") -> Conversation:
    """A conversation of a customer the widget key verified by HMAC (as the widget does)."""
    secret = widget_key_rotate_identity_secret(widget_key=widget_key)
    session = visitor_session_create(
        public_key=widget_key.public_key,
        origin=None,
        external_user_id=external_id,
        user_hash=identity_hash(secret=secret, external_user_id=external_id),
    )
    return Conversation.objects.create(customer=session.user, widget_key=widget_key)


def anonymous_conversation(widget_key) -> Conversation:
    session = visitor_session_create(public_key=widget_key.public_key, origin=None)
    return Conversation.objects.create(customer=session.user, widget_key=widget_key)


def http_tool(widget_key, url: str, **fields) -> Tool:
    fields.setdefault("name", "lookup_orders")
    fields.setdefault("description", "The customer's orders")
    fields.setdefault("parameters", ORDERS_SCHEMA)
    tool = Tool(url=url, **fields)
    tool.full_clean(exclude=["widget_keys"])
    tool.save()
    tool.widget_keys.add(widget_key)
    return tool
