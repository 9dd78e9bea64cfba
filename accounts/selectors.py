import functools
import hashlib
import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

from chatbot.platform.generations import Generation
from chatbot.platform.rows import instances_from_row, select_list

from .models import ApiToken, ModelPreference, User, WidgetKey

logger = logging.getLogger(__name__)


def identified_customer_username(*, widget_key_id, external_user_id: str) -> str:
    """The username of the customer a widget key verified (HMAC) as `external_user_id`."""
    digest = hashlib.sha256(f"{widget_key_id}:{external_user_id}".encode()).hexdigest()[:40]
    return f"site-{digest}"


def verified_external_id(*, user: User | None, widget_key_id) -> str | None:
    """The host site's id for `user` if that widget key verified it (HMAC), else None.

    Only an identity established through this very widget key counts: an external id typed
    into the admin, or verified by another site, does not."""
    if user is None or user.is_visitor or not user.external_id or widget_key_id is None:
        return None
    expected = identified_customer_username(
        widget_key_id=widget_key_id, external_user_id=user.external_id
    )
    return user.external_id if user.username == expected else None


@dataclass(frozen=True, slots=True)
class ResolvedPreference:
    """A user's model settings with the global defaults filled in."""

    model: str
    fallback_models: tuple[str, ...]
    temperature: float
    max_tokens: int
    language: str
    persona: str
    # As stored (blank = the settings default, 0 = unlimited): chatbot.cost.budgets resolves them.
    monthly_token_budget: int | None = None
    monthly_cost_budget: Decimal | None = None
    # Catalogue model names this user may be given (chatbot.routing); empty: any.
    allowed_models: tuple[str, ...] = ()


def preference_cache_key(user_id) -> str:
    return f"chatdesk:preference:{user_id}"


# The preference's fields as stored; a user without a row is cached as {} ("no row").
_STORED_FIELDS = (
    "model",
    "fallback_models",
    "temperature",
    "max_tokens",
    "language",
    "persona",
    "monthly_token_budget",
    "monthly_cost_budget",
)


def _stored_preference(user_id) -> dict:
    """The user's preference row (with the names of their allowed models) as a dict, from
    the shared cache: a send and a reply each need it, and it changes only when a manager
    saves it (accounts.services.model_preference_cache_forget). Redis down: the database."""
    key = preference_cache_key(user_id)
    try:
        stored = cache.get(key)
    except Exception:  # the cache is an optimisation: never fail a turn over it
        logger.warning("preference cache unreachable; reading the database", exc_info=True)
        stored, key = None, None
    if stored is not None:
        return stored
    pref = ModelPreference.objects.filter(user_id=user_id).first()
    stored = {}
    if pref is not None:
        stored = {name: getattr(pref, name) for name in _STORED_FIELDS}
        stored["allowed_models"] = sorted(pref.allowed_models.values_list("name", flat=True))
    if key is not None:
        try:
            cache.set(key, stored, settings.PREFERENCE_CACHE_SECONDS)
        except Exception:
            logger.warning("preference cache unreachable", exc_info=True)
    return stored


def model_preference_resolve(*, user_id) -> ResolvedPreference:
    """The one read of a user's preference a send or a reply needs (cached per user)."""
    stored = _stored_preference(user_id) if user_id is not None else {}
    pref = ModelPreference(**{n: stored[n] for n in _STORED_FIELDS}) if stored else None
    fallbacks = (
        pref.fallback_models if pref and pref.fallback_models else settings.LLM_FALLBACK_MODELS
    )
    return ResolvedPreference(
        model=(pref.model if pref and pref.model else settings.LLM_MODEL),
        fallback_models=tuple(m for m in fallbacks if isinstance(m, str) and m),
        temperature=(
            pref.temperature if pref and pref.temperature is not None else settings.LLM_TEMPERATURE
        ),
        max_tokens=(pref.max_tokens if pref and pref.max_tokens else settings.LLM_MAX_TOKENS),
        language=pref.language if pref else "",
        persona=pref.persona if pref else "",
        monthly_token_budget=pref.monthly_token_budget if pref else None,
        monthly_cost_budget=pref.monthly_cost_budget if pref else None,
        allowed_models=tuple(stored.get("allowed_models", ())),
    )


_TOKEN_JOINED = ((ApiToken, "t"), (User, "u"), (WidgetKey, "k"))


@functools.cache
def _token_sql() -> str:
    quote = connection.ops.quote_name
    tables = {model: quote(model._meta.db_table) for model, _alias in _TOKEN_JOINED}
    return (
        f"SELECT {select_list(*_TOKEN_JOINED)} FROM {tables[ApiToken]} t "  # noqa: S608 # nosec B608
        f"JOIN {tables[User]} u ON u.id = t.user_id "
        f"LEFT JOIN {tables[WidgetKey]} k ON k.id = t.widget_key_id "
        "WHERE t.token_hash = %s"
    )


def _token_with_user_and_key(token_hash: str) -> ApiToken | None:
    """The token with its user and widget key, read on every API request: one written-out
    statement (the ORM's select_related composed and compiled cost 4x running it)."""
    with connection.cursor() as cursor:
        cursor.execute(_token_sql(), [token_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    (token, user, key), _end = instances_from_row(row, *_TOKEN_JOINED)
    ApiToken._meta.get_field("user").set_cached_value(token, user)
    ApiToken._meta.get_field("widget_key").set_cached_value(token, key)
    return token


def api_token_lookup(*, raw_token: str) -> ApiToken | None:
    """The live token for a raw bearer string, or None (unknown, expired, user inactive)."""
    token = _token_with_user_and_key(ApiToken.hash(raw_token))
    if token is None or not token.user.is_active:
        return None
    if token.widget_key and not token.widget_key.is_active:
        return None  # turning a widget key off revokes its visitors' tokens at once
    now = timezone.now()
    if token.expires_at and token.expires_at <= now:
        return None
    idle = settings.API_TOKEN_IDLE_TIMEOUT_SECONDS
    if idle and (token.last_used_at or token.created_at) <= now - timedelta(seconds=idle):
        return None
    return token


# The active keys' origins, read on every cross-origin API request: kept per process until a
# widget key is saved or deleted (signals in apps.py; chatbot.platform.generations).
WIDGET_ORIGINS = Generation("accounts:widget-origins")


def origin_allowed_by_any_widget_key(*, origin: str) -> bool:
    """For CORS preflights, which carry no credentials: is this origin any key's site?

    The real request is then checked against its own token's key (authentication)."""

    def read() -> tuple[list[str], ...]:
        return tuple(
            WidgetKey.objects.filter(is_active=True).values_list("allowed_origins", flat=True)
        )

    origins = WIDGET_ORIGINS.cached("active", read)
    return any(WidgetKey(allowed_origins=allowed).allows_origin(origin) for allowed in origins)


def agent_is_online(*, profile, now=None) -> bool:
    """Online: the agent said so and their inbox was seen lately (a closed tab goes quiet)."""
    if profile is None or profile.status != profile.Status.ONLINE or profile.last_seen_at is None:
        return False
    now = now or timezone.now()
    return profile.last_seen_at >= now - timedelta(seconds=settings.AGENT_ONLINE_SECONDS)
