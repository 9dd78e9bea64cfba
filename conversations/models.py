import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Conversation(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    class Handling(models.TextChoices):
        """Who answers (docs/handoff.md). Changed only by the services in
        conversations.services, each change written to the timeline (ConversationEvent)."""

        BOT = "bot", "Bot"
        WAITING = "waiting", "Waiting for a person"
        HUMAN = "human", "With a person"
        FOLLOWUP = "followup", "Awaiting follow-up"

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

    # Human handoff (docs/handoff.md).
    handling = models.CharField(max_length=10, choices=Handling.choices, default=Handling.BOT)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_conversations",
        help_text="The staff member answering, while handling is human.",
    )
    # When the current (or last) handoff was asked for: the waiting time starts here.
    handoff_requested_at = models.DateTimeField(null=True, blank=True)
    assigned_at = models.DateTimeField(null=True, blank=True)
    # Left by the customer when nobody could pick up: staff replies are emailed here.
    followup_email = models.EmailField(blank=True)

    class Meta:
        indexes = [
            # A customer's conversations by recency (the list endpoint).
            models.Index(fields=["customer", "-last_message_at"], name="conv_customer_recent"),
            # Staff's list in the admin, newest activity first.
            models.Index(fields=["-last_message_at"], name="conv_recent"),
            # The inbox's queues: open conversations by handling, waiting longest first.
            models.Index(
                fields=["handling", "handoff_requested_at"],
                name="conv_inbox_queue",
                condition=Q(status="open"),
            ),
            # "Mine": an agent's open conversations, most recent activity first.
            models.Index(
                fields=["assignee", "-last_message_at"],
                name="conv_inbox_assignee",
                condition=Q(assignee__isnull=False),
            ),
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
        # Not generated: a person handles the conversation (chatbot.replies.pipeline).
        DEFERRED = "deferred", "Deferred to a person"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    role = models.CharField(max_length=10, choices=Role.choices)
    # The staff member who wrote a "staff" message (shown to the customer by name).
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
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
    # The bot could not help (failures in a row, a refusal, a spent budget): the widget
    # offers "Talk to a person" under this reply (docs/handoff.md).
    handoff_offered = models.BooleanField(default=False)

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


class ConversationEvent(models.Model):
    """The conversation's timeline: who changed what, when and why (docs/handoff.md).

    Notes are internal: staff only, never on the customer's stream or API.
    """

    class Kind(models.TextChoices):
        HANDOFF_REQUESTED = "handoff_requested", "Handoff requested"
        HANDOFF_OFFERED = "handoff_offered", "Handoff offered"
        ASSIGNED = "assigned", "Assigned"
        TAKEN_OVER = "taken_over", "Taken over"
        RELEASED = "released", "Released to the bot"
        CLOSED = "closed", "Closed"
        PICKUP_TIMEOUT = "pickup_timeout", "Nobody picked up"
        FOLLOWUP_REQUESTED = "followup_requested", "Follow-up email left"
        NOTE = "note", "Internal note"

    id = models.BigAutoField(primary_key=True)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    # The staff member (or customer) who caused it; null for the system (timeouts, policy).
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reason = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="event_conv_order"),
            # Metrics and dashboards: handoffs and pickups over time.
            models.Index(fields=["kind", "created_at"], name="event_kind_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.reason})" if self.reason else self.kind


class Feedback(models.Model):
    """The customer's verdict: CSAT for the conversation, or helpfulness of one reply."""

    class Kind(models.TextChoices):
        CSAT = "csat", "Conversation (CSAT)"
        HELPFULNESS = "helpfulness", "Reply helpfulness"

    class Vote(models.TextChoices):
        UP = "up", "Thumbs up"
        DOWN = "down", "Thumbs down"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="feedback"
    )
    # The rated reply (helpfulness only).
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="feedback"
    )
    kind = models.CharField(max_length=12, choices=Kind.choices)
    vote = models.CharField(max_length=4, choices=Vote.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # One CSAT per conversation and one vote per reply; voting again replaces it.
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(kind="csat"),
                name="feedback_one_csat_per_conversation",
            ),
            models.UniqueConstraint(
                fields=["message"],
                condition=Q(kind="helpfulness"),
                name="feedback_one_vote_per_reply",
            ),
            models.CheckConstraint(
                condition=Q(kind="csat", message__isnull=True)
                | Q(kind="helpfulness", message__isnull=False),
                name="feedback_kind_matches_target",
            ),
        ]
        indexes = [models.Index(fields=["kind", "created_at"], name="feedback_kind_time")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.vote}"


class CannedReply(models.Model):
    """A prepared answer staff insert with its shortcut (managers define them)."""

    class Language(models.TextChoices):
        EN = "en", "English"
        ZH = "zh", "Chinese"

    title = models.CharField(max_length=200)
    shortcut = models.SlugField(max_length=50, help_text="Typed as /shortcut in the reply box.")
    language = models.CharField(max_length=5, choices=Language.choices, default=Language.EN)
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["shortcut", "language"]
        verbose_name_plural = "canned replies"
        constraints = [
            models.UniqueConstraint(
                fields=["shortcut", "language"], name="canned_reply_shortcut_per_language"
            )
        ]

    def __str__(self) -> str:
        return f"/{self.shortcut} ({self.language}): {self.title}"


class HandoffRule(models.Model):
    """A phrase that, in a customer's message, asks for a person (conversations.handoff_rules).

    English-like phrases match as whole words, case-insensitively; phrases in scripts
    without spaces (Chinese) match anywhere in the message. A short, ambiguous word
    ("human", "人工", which also starts 人工智能) is a whole-message rule: it counts only
    when it is all the customer wrote (punctuation aside).
    """

    phrase = models.CharField(max_length=100, unique=True)
    whole_message = models.BooleanField(
        default=False, help_text="Match only when the message is this phrase alone."
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["phrase"]

    def __str__(self) -> str:
        return self.phrase


class InboxReadMarker(models.Model):
    """How far a staff member has read a conversation in the inbox (their unread count)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="read_markers"
    )
    read_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "conversation"], name="read_marker_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.conversation_id} at {self.read_at:%Y-%m-%d %H:%M}"
