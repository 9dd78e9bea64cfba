import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Conversation(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Null only once the retention policy anonymised the conversation (customer detached).
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="conversations",
    )
    widget_key = models.ForeignKey(
        "accounts.WidgetKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="conversations",
    )
    title = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Never null, so "most recent first" needs no NULLS LAST and can use the index.
    last_message_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # A customer's conversations by recency (the list endpoint).
            models.Index(fields=["customer", "-last_message_at"], name="conv_customer_recent"),
            # Staff's list in the admin, newest activity first.
            models.Index(fields=["-last_message_at"], name="conv_recent"),
        ]

    def __str__(self) -> str:
        return self.title or f"Conversation {str(self.id)[:8]}"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user", "Customer"
        ASSISTANT = "assistant", "Assistant"
        STAFF = "staff", "Staff"
        SYSTEM = "system", "System"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        STREAMING = "streaming", "Streaming"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    content = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.COMPLETED)
    # The customer message an assistant reply answers; unique: one reply per message.
    reply_to = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="reply"
    )
    # NULL, not "": the per-conversation unique constraint must ignore messages without one.
    client_message_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001

    model = models.CharField(max_length=200, blank=True, help_text="Model that actually answered.")
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    # Why this model answered (chatbot.routing), e.g. "fallback after rate_limited on gpt-x".
    route_reason = models.CharField(max_length=300, blank=True)
    # Cost control (chatbot.prompt.tokens, docs/cost-control.md): this message's content in tokens,
    # counted once when written; estimated when the model's own tokenizer was not available.
    token_count = models.PositiveIntegerField(null=True, blank=True)
    token_count_estimated = models.BooleanField(default=False)
    # Answered from the exact-match response cache: no provider call was made.
    cached = models.BooleanField(default=False)
    # Burst debounce: this reply was folded into a later one that answers the whole burst.
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    # Work bookkeeping for replies: who holds the reply and until when (chatbot.replies.lifecycle).
    attempts = models.PositiveSmallIntegerField(default=0)
    claim_token = models.UUIDField(null=True, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # A conversation's messages in order (transcript, polling with ?after=).
            models.Index(fields=["conversation", "created_at", "id"], name="msg_conv_order"),
            # The sweeper's scan for replies stuck in flight.
            models.Index(
                fields=["status", "created_at"],
                name="msg_inflight",
                condition=Q(status__in=["pending", "streaming"]),
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "client_message_id"],
                condition=Q(client_message_id__isnull=False),
                name="msg_client_id_unique_per_conversation",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"


class ModerationFlag(models.Model):
    """A moderation hit on a message, for staff review. Filled by the moderation layer."""

    class Source(models.TextChoices):
        INPUT = "input", "Customer input"
        OUTPUT = "output", "Model output"

    class Action(models.TextChoices):
        ALLOWED = "allowed", "Allowed"
        FLAGGED = "flagged", "Allowed and flagged"
        BLOCKED = "blocked", "Blocked"

    class ReviewStatus(models.TextChoices):
        OPEN = "open", "Open"
        CONFIRMED = "confirmed", "Confirmed"
        DISMISSED = "dismissed", "Dismissed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="moderation_flags")
    source = models.CharField(max_length=10, choices=Source.choices)
    categories = models.JSONField(default=list, blank=True)
    scores = models.JSONField(default=dict, blank=True)
    rule = models.CharField(max_length=200, blank=True, help_text="Rule or provider that fired.")
    action = models.CharField(max_length=10, choices=Action.choices)
    review_status = models.CharField(
        max_length=10, choices=ReviewStatus.choices, default=ReviewStatus.OPEN
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    note = models.TextField(blank=True)
    # A blocked reply is replaced before it is stored: what the model said is kept here
    # for the reviewer (chatbot.moderation).
    excerpt = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["review_status", "-created_at"], name="flag_queue")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} ({', '.join(self.categories) or self.rule})"
