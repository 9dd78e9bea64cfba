"""The model catalogue (endpoints and models managers configure in the admin) and the
ledger of every provider call.

An empty catalogue is fine: the bot then runs from settings alone (OPENAI_BASE_URL,
OPENAI_API_KEY, LLM_MODEL) or the offline responder, exactly as before.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

from .platform import crypto


class LLMEndpoint(models.Model):
    """An OpenAI-compatible server: where requests go and how long we wait for it."""

    name = models.CharField(max_length=100, unique=True)
    base_url = models.URLField(
        max_length=500,
        blank=True,
        help_text="e.g. http://ollama:11434/v1 — blank means api.openai.com.",
    )
    # Fernet token (chatbot.platform.crypto); never the key itself.
    # Set through llm_endpoint_set_api_key.
    api_key_encrypted = models.TextField(blank=True, default="", editable=False)
    connect_timeout = models.FloatField(
        default=5.0, validators=[MinValueValidator(0.1)], help_text="Seconds to open a connection."
    )
    read_timeout = models.FloatField(
        default=30.0,
        validators=[MinValueValidator(0.1)],
        help_text="Longest silence (seconds) before the first token or between two chunks.",
    )
    is_enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "LLM endpoint"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_api_key(self) -> bool:
        return bool(self.api_key_encrypted)

    def api_key(self) -> str:
        """The decrypted key ("" when none); raises crypto.DecryptionError on a key change."""
        return crypto.decrypt(self.api_key_encrypted) if self.api_key_encrypted else ""


class LLMModel(models.Model):
    """A model offered by an endpoint, with what it costs and how much it can read."""

    name = models.CharField(
        max_length=200, unique=True, help_text="The model name sent to the API, e.g. gpt-4o-mini."
    )
    endpoint = models.ForeignKey(LLMEndpoint, on_delete=models.PROTECT, related_name="llm_models")
    context_window = models.PositiveIntegerField(
        default=8192, help_text="Tokens the model accepts (prompt + answer)."
    )
    input_price_per_million = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Price of one million prompt tokens (your currency).",
    )
    output_price_per_million = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Price of one million completion tokens.",
    )
    supports_tools = models.BooleanField(
        default=True,
        help_text="The model can call tools (function calling). Off: it is asked without "
        "tools, and skipped once a reply has tool results in its context.",
    )
    is_enabled = models.BooleanField(default=True)

    class Meta:
        verbose_name = "LLM model"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def cost(self, *, prompt_tokens: int | None, completion_tokens: int | None) -> Decimal:
        million = Decimal(1_000_000)
        return (
            (prompt_tokens or 0) * self.input_price_per_million
            + (completion_tokens or 0) * self.output_price_per_million
        ) / million


class ProviderCall(models.Model):
    """One attempt to get an answer from a model: the ledger behind costs, budgets and
    reliability reports. Rows outlive replies and customers (SET_NULL) as anonymous
    aggregates."""

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        ERROR = "error", "Error"
        BREAKER_OPEN = "breaker_open", "Circuit open (not sent)"
        SKIPPED = "skipped", "Skipped (not sent)"

    reply = models.ForeignKey(
        "conversations.Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="provider_calls",
    )
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="provider_calls",
    )
    endpoint = models.ForeignKey(
        LLMEndpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    # Which server, also for settings-configured endpoints (no catalogue row).
    endpoint_name = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=200)
    attempt = models.PositiveSmallIntegerField(help_text="1-based, across the whole route.")
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error_kind = models.CharField(max_length=64, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    cost = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal("0"))
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # Monthly spend per customer (budgets): customer = X and created_at >= month start.
            models.Index(fields=["customer", "created_at"], name="pcall_customer_time"),
            models.Index(fields=["-created_at"], name="pcall_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.model} #{self.attempt}: {self.outcome}"
