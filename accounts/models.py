import hashlib
import secrets
import uuid

from django.contrib.auth.models import AbstractUser
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models


class User(AbstractUser):
    """Staff, identified customers and anonymous widget visitors alike.

    Visitors get an unusable password and authenticate with a bearer token.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    is_visitor = models.BooleanField(
        default=False, help_text="Anonymous widget visitor (no password, token only)."
    )
    # The host site's own id for a customer verified through the widget (identity check).
    external_id = models.CharField(max_length=255, blank=True, default="")

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"

    def __str__(self) -> str:
        # Every admin page that shows a person (foreign keys included) uses the one name.
        from .display import customer_display_name

        return customer_display_name(self)


class ModelPreference(models.Model):
    """Per-user model settings a manager sets in the admin; blanks mean "global default"."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="model_preference")
    model = models.CharField(max_length=200, blank=True, help_text="Blank: the global default.")
    fallback_models = models.JSONField(
        default=list, blank=True, help_text="Ordered list of model names tried after the primary."
    )
    temperature = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)]
    )
    max_tokens = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(32_000)]
    )
    language = models.CharField(
        max_length=35, blank=True, help_text="Reply language, e.g. 'English' or 'zh-Hans'."
    )
    persona = models.TextField(blank=True, help_text="Added to the system prompt for this user.")
    # Routing (chatbot.routing): models outside this set are skipped for the user.
    allowed_models = models.ManyToManyField(
        "chatbot.LLMModel",
        blank=True,
        related_name="+",
        help_text="Catalogue models this user may be given. Empty: any.",
    )
    # Monthly budgets (chatbot.cost.budgets): blank = the settings default, 0 = unlimited.
    monthly_token_budget = models.PositiveBigIntegerField(
        null=True,
        blank=True,
        help_text="Tokens per calendar month. Blank: BUDGET_MONTHLY_TOKENS. 0: unlimited.",
    )
    monthly_cost_budget = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Spend per calendar month (catalogue prices). Blank: BUDGET_MONTHLY_COST. "
        "0: unlimited.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Model preference of {self.user}"


def _new_public_key() -> str:
    return "wk_" + secrets.token_urlsafe(18)


class WidgetKey(models.Model):
    """Identifies one embedding of the widget (a site), and where it may be embedded."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    public_key = models.CharField(
        max_length=64, unique=True, default=_new_public_key, editable=False
    )
    name = models.CharField(max_length=200)
    allowed_origins = models.JSONField(
        default=list,
        blank=True,
        help_text='Origins allowed to embed the widget, e.g. ["https://shop.example.com"]. '
        "Empty: any origin (development only).",
    )
    is_active = models.BooleanField(default=True)
    # HMAC key for identity verification, encrypted at rest (chatbot.platform.crypto); shown once.
    identity_secret_encrypted = models.TextField(blank=True, default="", editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.public_key})"

    @property
    def has_identity_secret(self) -> bool:
        return bool(self.identity_secret_encrypted)

    def allows_origin(self, origin: str | None) -> bool:
        """No list allows every site; no Origin header (not a browser) is not refused here."""
        if not self.allowed_origins or origin is None:
            return True
        return origin.rstrip("/") in {o.rstrip("/") for o in self.allowed_origins}


class ApiToken(models.Model):
    """A bearer token. Only its SHA-256 is stored; the token itself is shown once."""

    PREFIX = "cdt_"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    widget_key = models.ForeignKey(
        WidgetKey, null=True, blank=True, on_delete=models.CASCADE, related_name="tokens"
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"Token of {self.user} ({self.token_hash[:8]}…)"

    @staticmethod
    def hash(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @classmethod
    def generate(cls) -> str:
        return cls.PREFIX + secrets.token_urlsafe(32)


class AuditEvent(models.Model):
    """A staff (or system) action that touched customer data. Append-only; no message bodies.

    `target_id` is a string so any model's key fits; after an erasure it is re-pointed at
    the erasure record, so the trail survives without linking back to the person.
    """

    class Action(models.TextChoices):
        TRANSCRIPT_VIEW = "transcript.view", "Viewed a transcript"
        USER_EXPORT = "user.export", "Exported a user's data"
        USER_ERASE = "user.erase", "Erased a user's data"
        PREFERENCE_CHANGE = "preference.change", "Changed a model preference"
        RETENTION_APPLY = "retention.apply", "Applied the retention policy"
        PII_REVEAL = "pii.reveal", "Revealed masked personal data"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Null: the system itself (retention task, self-service erasure by the customer).
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=40, choices=Action.choices)
    target_type = models.CharField(max_length=60, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_target")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} ({self.target_type} {self.target_id})"


class ErasureRecord(models.Model):
    """Proof that an erasure happened: when, by which route, and how much of each kind.

    Deliberately holds no personal data, not even the erased user's id.
    """

    class Route(models.TextChoices):
        SELF_SERVICE = "self_service", "Customer request (API)"
        STAFF = "staff", "Staff (admin)"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    route = models.CharField(max_length=20, choices=Route.choices)
    counts = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Erasure {self.id} ({self.created_at:%Y-%m-%d})"


class AgentProfile(models.Model):
    """A staff member's inbox settings: how many conversations they take, and whether they
    are there. The inbox page's heartbeat keeps `last_seen_at` fresh; an agent is *online*
    when their status is online and they were seen within AGENT_ONLINE_SECONDS.

    Its Meta also declares the inbox's permissions: they belong to the agent role, which
    accounts owns (accounts.roles gives them to the "Support agent" and "Manager" groups).
    """

    class Status(models.TextChoices):
        ONLINE = "online", "Online"
        AWAY = "away", "Away"

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="agent_profile")
    # Shown to customers ("Alex joined"); blank: the first name, else the username.
    public_name = models.CharField(max_length=60, blank=True)
    capacity = models.PositiveSmallIntegerField(
        default=5,
        validators=[MaxValueValidator(100)],
        help_text="Open conversations this agent handles at once (automatic assignment).",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.AWAY)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    # Round-robin order: the agent assigned longest ago goes first.
    last_assigned_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [
            ("use_inbox", "Can use the staff inbox"),
            ("reply_conversation", "Can reply to customers"),
            ("take_over_conversation", "Can take a conversation over"),
            ("release_conversation", "Can hand a conversation back to the bot"),
            ("close_conversation", "Can close a conversation"),
            ("assign_conversation", "Can assign conversations to other agents"),
            ("add_note", "Can write internal notes"),
            ("reveal_pii", "Can reveal masked personal data (audited)"),
        ]

    def __str__(self) -> str:
        return f"Agent profile of {self.user}"
