"""Fixtures shared by the tools' tests."""

import pytest

from chatbot.tools.models import Tool

from .helpers import http_tool


@pytest.fixture
def cancel_tool(tool_stub, widget_key) -> Tool:
    """A side effect the customer confirms: "Cancel order {order_number}?" on the tool stub."""
    tool_stub.route("/cancel", body=lambda req: {"cancelled": req.body["order_number"]})
    return http_tool(
        widget_key,
        tool_stub.url("/cancel"),
        name="cancel_order",
        effect=Tool.Effect.SIDE_EFFECTS,
        confirmation_label="Cancel order {order_number}?",
    )
