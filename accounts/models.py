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
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Model preference of {self.user}"


def _new_public_key() -> str:
    return "wk_" + secrets.token_urlsafe(18)


class WidgetKey(models.Model):
    """Identifies one embedding of the widget (a site), and where it may be embedded."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    public_key = models.CharField(max_length=64, unique=True, default=_new_public_key,
                                  editable=False)
    name = models.CharField(max_length=200)
    allowed_origins = models.JSONField(
        default=list,
        blank=True,
        help_text='Origins allowed to embed the widget, e.g. ["https://shop.example.com"]. '
        "Empty: any origin (development only).",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.public_key})"

    def allows_origin(self, origin: str | None) -> bool:
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
