"""HTTP tools managers define in the admin, and the ledger of every tool call.

A `Tool` is data: where to send the call, what the model may pass (a JSON Schema), which
widget keys may use it, whether it changes anything (then the customer confirms first) and
how the verified customer's id is added by the server. A `ToolCall` row is written before a
call runs; its unique (reply, call id) and the conditional status updates in
`chatbot.tools.ledger` make a side effect happen at most once, whatever is retried.
"""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q

from chatbot.platform import crypto

# What OpenAI (and the compatible servers) accept as a function name.
TOOL_NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"
tool_name_validator = RegexValidator(
    TOOL_NAME_PATTERN, "Letters, digits, '_' and '-' only, at most 64 characters."
)


def _empty_schema() -> dict:
    return {"type": "object", "properties": {}, "additionalProperties": False}


class Tool(models.Model):
    """An HTTPS endpoint the model may call for the customer."""

    class Method(models.TextChoices):
        GET = "GET"
        POST = "POST"
        PUT = "PUT"
        PATCH = "PATCH"
        DELETE = "DELETE"

    class Effect(models.TextChoices):
        READ_ONLY = "read_only", "Read-only"
        SIDE_EFFECTS = "side_effects", "Has side effects (the customer confirms each call)"

    class IdentityIn(models.TextChoices):
        HEADER = "header", "HTTP header"
        PARAMETER = "parameter", "Parameter (query string for GET, JSON body otherwise)"

    name = models.CharField(
        max_length=64,
        unique=True,
        validators=[tool_name_validator],
        help_text="The function name the model sees, e.g. order_status.",
    )
    description = models.TextField(
        max_length=1024, help_text="What the tool does and when to use it (the model reads it)."
    )
    parameters = models.JSONField(
        default=_empty_schema,
        help_text="JSON Schema (an object) of the arguments the model may send.",
    )
    url = models.URLField(
        max_length=500, help_text="https://… (plain http only for allow-listed hosts)."
    )
    method = models.CharField(max_length=6, choices=Method.choices, default=Method.POST)
    auth_header_name = models.CharField(
        max_length=100, blank=True, default="Authorization", help_text="e.g. Authorization"
    )
    # Fernet token (chatbot.platform.crypto) of the header's value; write-only in the admin.
    auth_header_encrypted = models.TextField(blank=True, default="", editable=False)
    timeout_seconds = models.FloatField(
        default=5.0, validators=[MinValueValidator(0.1), MaxValueValidator(30.0)]
    )
    widget_keys = models.ManyToManyField(
        "accounts.WidgetKey",
        blank=True,
        related_name="+",
        help_text="The widget keys whose conversations may use this tool.",
    )
    effect = models.CharField(max_length=12, choices=Effect.choices, default=Effect.READ_ONLY)
    needs_identity = models.BooleanField(
        default=True,
        help_text="Only for customers verified through the widget (HMAC); their id is added "
        "by the server. Off: anonymous visitors may use it too.",
    )
    identity_in = models.CharField(
        max_length=9, choices=IdentityIn.choices, default=IdentityIn.HEADER
    )
    identity_name = models.CharField(
        max_length=100,
        default="X-Customer-Id",
        validators=[RegexValidator(r"^[A-Za-z0-9_.-]{1,100}$")],
        help_text="Header or parameter that carries the verified customer id.",
    )
    status_label = models.CharField(
        max_length=120, blank=True, help_text="Shown while it runs, e.g. 'Looking up your order…'."
    )
    confirmation_label = models.CharField(
        max_length=200,
        blank=True,
        help_text="Side effects: the question the customer confirms; {argument} placeholders "
        "are filled in, e.g. 'Cancel order {order_id}?'.",
    )
    is_enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_auth_header(self) -> bool:
        return bool(self.auth_header_encrypted)

    def auth_header_value(self) -> str:
        return crypto.decrypt(self.auth_header_encrypted) if self.auth_header_encrypted else ""

    @property
    def read_only(self) -> bool:
        return self.effect == self.Effect.READ_ONLY

    def clean(self) -> None:
        from .schemas import SchemaInvalid, schema_check
        from .ssrf import url_check

        errors = {}
        try:
            schema_check(self.parameters)
        except SchemaInvalid as exc:
            errors["parameters"] = str(exc)
        if self.url and (problem := url_check(self.url)):
            errors["url"] = problem
        from .registry import BUILTINS

        if self.name in BUILTINS:
            errors["name"] = "A built-in tool has this name."
        if self.timeout_seconds and self.timeout_seconds >= settings.REPLY_LEASE_SECONDS:
            # A call longer than the lease would let the sweeper hand the reply on mid-call.
            errors["timeout_seconds"] = (
                f"Must stay below the reply lease (REPLY_LEASE_SECONDS = "
                f"{settings.REPLY_LEASE_SECONDS:g} s)."
            )
        if errors:
            raise ValidationError(errors)


class ToolCall(models.Model):
    """One call the model made: the ledger row, written before the call runs."""

    class Status(models.TextChoices):
        AWAITING_CONFIRMATION = "awaiting_confirmation", "Awaiting the customer's confirmation"
        CONFIRMED = "confirmed", "Confirmed (to run)"
        CANCELLED = "cancelled", "Cancelled by the customer"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        TIMED_OUT = "timed_out", "Timed out"
        INVALID_ARGUMENTS = "invalid_arguments", "Invalid arguments"
        REFUSED = "refused", "Refused (not allowed)"
        UNAVAILABLE = "unavailable", "Unavailable (cooling down)"
        INTERRUPTED = "interrupted", "Interrupted (outcome unknown)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="tool_calls"
    )
    reply = models.ForeignKey(
        "conversations.Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tool_calls",
    )
    tool = models.ForeignKey(
        Tool, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    tool_name = models.CharField(max_length=64)
    call_id = models.CharField(max_length=100, help_text="The model's id for the call.")
    round = models.PositiveSmallIntegerField(default=1)
    read_only = models.BooleanField(default=True)
    arguments_masked = models.JSONField(default=dict, blank=True, help_text="PII masked.")
    # The arguments as sent, needed to run a confirmed call later; cleared once it ran.
    arguments_encrypted = models.TextField(blank=True, default="", editable=False)
    label = models.CharField(max_length=300, blank=True)
    # A confirmed side effect runs in the turn its confirmation started (chatbot.tools.api).
    run_by_reply = models.ForeignKey(
        "conversations.Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="confirmed_tool_calls",
    )
    status = models.CharField(max_length=24, choices=Status.choices)
    error_code = models.CharField(max_length=64, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    result_chars = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # One row per model call: a retried or redelivered turn finds it, never adds one.
            models.UniqueConstraint(
                fields=["reply", "call_id"],
                condition=Q(reply__isnull=False),
                name="toolcall_unique_per_reply",
            ),
        ]
        indexes = [
            models.Index(fields=["conversation", "status"], name="toolcall_conv_status"),
            models.Index(fields=["-created_at"], name="toolcall_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.tool_name} ({self.status})"
