"""One summary row per conversation: what the managers' dashboard reads.

Written when a conversation closes or goes idle (chatbot.insights.summary), so a page view
aggregates these rows and never scans messages. Rows hold figures only, no text and no
customer: they outlive the conversation (SET_NULL) as anonymous aggregates, like the ledger.
"""

from decimal import Decimal

from django.db import models


class ConversationSummary(models.Model):
    class Outcome(models.TextChoices):
        # Definitions: docs/dashboards.md ("Outcomes").
        RESOLVED_BY_BOT = "resolved_by_bot", "Resolved by the bot"
        HANDED_OFF = "handed_off", "Handed off"
        ABANDONED = "abandoned", "Abandoned"

    conversation = models.OneToOneField(
        "conversations.Conversation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="summary",
    )
    widget_key = models.ForeignKey(
        "accounts.WidgetKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # covered by the (day, widget_key) indexes below
    )
    day = models.DateField(help_text="The day the conversation started (TIME_ZONE).")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(help_text="The close, or the last message.")
    outcome = models.CharField(max_length=20, choices=Outcome.choices)

    customer_messages = models.PositiveIntegerField(default=0)
    bot_replies = models.PositiveIntegerField(default=0, help_text="Completed bot answers.")
    failed_replies = models.PositiveIntegerField(default=0)
    staff_messages = models.PositiveIntegerField(default=0)

    handed_off = models.BooleanField(default=False)
    pickup_seconds = models.FloatField(
        null=True, blank=True, help_text="Handoff request until a person took it; empty: never."
    )
    # The customer's CSAT vote (thumbs): True up, False down, empty: not rated.
    csat_satisfied = models.BooleanField(null=True, blank=True)
    helpful_votes = models.PositiveIntegerField(default=0)
    unhelpful_votes = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal("0"))
    # Each bot answer's latency (ms), in order (CHAT_MAX_MESSAGES_PER_CONVERSATION bounds it):
    # the source of the day's latency histogram (DailyRollup), which the page reads.
    reply_latencies_ms = models.JSONField(default=list, blank=True)
    dont_know_replies = models.PositiveIntegerField(
        default=0, help_text="Knowledge gaps recorded on this conversation's messages."
    )

    # What the row was computed from: a conversation that moved on since is summarised again.
    source_last_message_at = models.DateTimeField()
    source_status = models.CharField(max_length=10)
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name = "conversation summary"
        verbose_name_plural = "conversation summaries"
        indexes = [
            # The dashboard: a date range, optionally one widget key.
            models.Index(fields=["day", "widget_key"], name="summary_day_widget"),
            models.Index(fields=["widget_key", "day"], name="summary_widget_day"),
        ]
        permissions = [("view_dashboard", "Can view the insights dashboard")]

    def __str__(self) -> str:
        return f"Summary of {self.conversation_id or 'a deleted conversation'} ({self.day})"


class DailyRollup(models.Model):
    """One day's figures, per widget key and for all keys together: what the dashboard
    reads, at most one row per day whatever the number of conversations.

    `figures` is {widget key id, "" (none) or "all": {"conversations": n, ..., "cost": "0.1",
    "latency": histogram}}; rebuilt from the day's summary rows whenever one of them is
    written (chatbot.insights.summary.daily_rollup_rebuild). Sums add up across days and keys;
    reply latencies are a histogram of logarithmic buckets 2 % wide (chatbot.insights.latency),
    because percentiles do not add up: p50/p95 from it are never below the exact ones and at
    most 2 % above.
    """

    day = models.DateField(unique=True)
    figures = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "daily rollup"

    def __str__(self) -> str:
        return f"Figures of {self.day}"
