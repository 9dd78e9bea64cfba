import hashlib
import hmac
import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from chatbot.platform import crypto

from .errors import IdentityInvalid, OriginNotAllowed, WidgetKeyInvalid
from .models import AgentProfile, ApiToken, User, WidgetKey
from .selectors import identified_customer_username, preference_cache_key

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class VisitorSession:
    user: User
    token: str  # shown once; only its hash is stored
    widget_key: WidgetKey


def widget_key_create(*, name: str, allowed_origins: list[str] | None = None) -> WidgetKey:
    return WidgetKey.objects.create(name=name, allowed_origins=allowed_origins or [])


def api_token_create(*, user: User, widget_key: WidgetKey | None = None) -> str:
    raw = ApiToken.generate()
    ApiToken.objects.create(user=user, widget_key=widget_key, token_hash=ApiToken.hash(raw))
    return raw


def api_token_touch(*, token: ApiToken) -> None:
    """Record that the token was used: at most one write per API_TOKEN_TOUCH_SECONDS, so
    busy tokens don't write on every request (the idle timeout needs no finer grain)."""
    now = timezone.now()
    due = now - timedelta(seconds=settings.API_TOKEN_TOUCH_SECONDS)
    if token.last_used_at and token.last_used_at > due:
        return
    ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=due)
    ).update(last_used_at=now)
    token.last_used_at = now


def widget_key_rotate_identity_secret(*, widget_key: WidgetKey) -> str:
    """Set a new identity-verification secret; returns it (the only time it is visible)."""
    secret = "wks_" + secrets.token_urlsafe(32)
    widget_key.identity_secret_encrypted = crypto.encrypt(secret)
    widget_key.save(update_fields=["identity_secret_encrypted"])
    return secret


def identity_hash(*, secret: str, external_user_id: str) -> str:
    """What the host site computes: hex HMAC-SHA256 of its user id under the key's secret."""
    return hmac.new(secret.encode(), external_user_id.encode(), hashlib.sha256).hexdigest()


def _identified_customer(widget_key: WidgetKey, external_user_id: str, user_hash: str) -> User:
    if not widget_key.has_identity_secret:
        raise IdentityInvalid("This widget key has no identity secret configured.")
    expected = identity_hash(
        secret=crypto.decrypt(widget_key.identity_secret_encrypted),
        external_user_id=external_user_id,
    )
    if not hmac.compare_digest(expected, user_hash.strip().lower()):
        raise IdentityInvalid("The user hash does not match the user id.")
    # One customer per (site, site's user id): the same person on every device.
    user, created = User.objects.get_or_create(
        username=identified_customer_username(
            widget_key_id=widget_key.pk, external_user_id=external_user_id
        ),
        defaults={"external_id": external_user_id, "is_visitor": False},
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def visitor_session_create(
    *,
    public_key: str,
    origin: str | None,
    external_user_id: str | None = None,
    user_hash: str | None = None,
) -> VisitorSession:
    """A bearer token for a widget embedding: an anonymous visitor, or, when the host site
    vouches for its user with a valid HMAC, that identified customer (history, preferences)."""
    widget_key = WidgetKey.objects.filter(public_key=public_key, is_active=True).first()
    if widget_key is None:
        raise WidgetKeyInvalid("Unknown or inactive widget key.")
    if not widget_key.allows_origin(origin):
        raise OriginNotAllowed("This widget may not be used from this site.")
    if external_user_id or user_hash:
        if not (external_user_id and user_hash):
            raise IdentityInvalid("Send both user_id and user_hash, or neither.")
        with transaction.atomic():
            user = _identified_customer(widget_key, external_user_id, user_hash)
            token = api_token_create(user=user, widget_key=widget_key)
        return VisitorSession(user=user, token=token, widget_key=widget_key)
    with transaction.atomic():
        visitor_id = uuid.uuid4()
        user = User(id=visitor_id, username=f"visitor-{visitor_id.hex}", is_visitor=True)
        user.set_unusable_password()
        user.save()
        token = api_token_create(user=user, widget_key=widget_key)
    return VisitorSession(user=user, token=token, widget_key=widget_key)


def agent_heartbeat(*, user: User, status: str | None = None) -> AgentProfile:
    """The inbox page says the agent is there (every AGENT_HEARTBEAT_SECONDS while open);
    with `status` the agent also switched online/away. One upsert."""
    now = timezone.now()
    profile, _ = AgentProfile.objects.get_or_create(user=user)
    fields = {"last_seen_at": now}
    if status is not None:
        if status not in AgentProfile.Status.values:
            raise ValueError(f"unknown agent status {status!r}")
        fields["status"] = status
    AgentProfile.objects.filter(pk=profile.pk).update(**fields)
    for name, value in fields.items():
        setattr(profile, name, value)
    return profile


def model_preference_cache_forget(*, user_id) -> None:
    """Drop the user's cached preference (accounts.selectors.model_preference_resolve) now
    and again when the current transaction commits, so no reader re-caches the old row
    between the two. Called whenever a preference or its allowed models change."""
    key = preference_cache_key(user_id)

    def forget() -> None:
        try:
            cache.delete(key)
        except Exception:  # Redis down: the entry expires after PREFERENCE_CACHE_SECONDS
            logger.warning("could not drop the cached preference of %s", user_id, exc_info=True)

    forget()
    transaction.on_commit(forget)
