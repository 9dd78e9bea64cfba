"""Reads for routing: which models a reply may try, in order."""

import dataclasses
import hashlib
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache

from accounts.models import User
from accounts.selectors import ResolvedPreference

from ..llm import OFFLINE_MODEL, llm_configured
from ..models import LLMModel

logger = logging.getLogger(__name__)

CATALOGUE_CACHE_KEY = "chatdesk:catalogue"


def catalogue_windows() -> dict[str, int | None]:
    """Every catalogue model's name and context window, from the shared cache (dropped when
    a model or an endpoint changes: chatbot.routing.services.catalogue_cache_forget).

    Empty means "configured by settings"; a turn then reads nothing else of the catalogue."""
    try:
        windows = cache.get(CATALOGUE_CACHE_KEY)
    except Exception:  # the cache is an optimisation: Redis down, read the database
        logger.warning("catalogue cache unreachable; reading the database", exc_info=True)
        return dict(LLMModel.objects.values_list("name", "context_window"))
    if windows is None:
        windows = dict(LLMModel.objects.values_list("name", "context_window"))
        try:
            cache.set(CATALOGUE_CACHE_KEY, windows, settings.PREFERENCE_CACHE_SECONDS)
        except Exception:
            logger.warning("catalogue cache unreachable", exc_info=True)
    return windows


@dataclass(frozen=True, slots=True)
class Hop:
    """One model of a route, with everything needed to call it (or why it is skipped)."""

    model: str
    endpoint_key: str  # identifies the endpoint's circuit breaker
    endpoint_name: str
    endpoint_id: int | None = None
    base_url: str | None = None
    settings_api_key: str = ""  # catalogue hops read theirs from llm_model.endpoint
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    context_window: int | None = None
    llm_model: LLMModel | None = None
    offline: bool = False
    skip_reason: str = ""  # non-empty: recorded as skipped, never called
    supports_tools: bool = True  # False: asked without tools (chatbot.tools)


def endpoint_breaker_key(endpoint_id: int) -> str:
    """The circuit-breaker key of a catalogue endpoint (the router and the admin agree)."""
    return f"endpoint:{endpoint_id}"


def _settings_hop(model: str) -> Hop:
    base_url = settings.OPENAI_BASE_URL or ""
    digest = hashlib.sha256((base_url or "openai").encode()).hexdigest()[:16]
    return Hop(
        model=model,
        endpoint_key=f"settings:{digest}",
        endpoint_name=urlsplit(base_url).netloc or "api.openai.com",
        base_url=base_url or None,
        settings_api_key=settings.OPENAI_API_KEY,
        connect_timeout=settings.LLM_CONNECT_TIMEOUT,
        read_timeout=settings.LLM_READ_TIMEOUT,
        supports_tools=settings.LLM_SUPPORTS_TOOLS,
    )


def _catalogue_hop(m: LLMModel, skip_reason: str = "") -> Hop:
    e = m.endpoint
    return Hop(
        model=m.name,
        endpoint_key=endpoint_breaker_key(e.pk),
        endpoint_name=e.name,
        endpoint_id=e.pk,
        base_url=e.base_url or None,
        connect_timeout=e.connect_timeout,
        read_timeout=e.read_timeout,
        context_window=m.context_window,
        llm_model=m,
        skip_reason=skip_reason,
        supports_tools=m.supports_tools,
    )


def _skipped(model: str, reason: str) -> Hop:
    return Hop(model=model, endpoint_key="", endpoint_name="", skip_reason=reason)


def route_plan(
    *, customer: User, preference: ResolvedPreference, tool_results: bool = False
) -> list[Hop]:
    """The models to try for this customer, primary first, then the fallbacks.

    `tool_results`: the context holds tool calls and their results (a later round of the
    tool loop); a model without tool support cannot read them and is skipped
    (`no_tool_support`), so a fallback goes to one that can.

    An empty catalogue means "configured by settings": every name goes to OPENAI_BASE_URL
    (or the offline responder when no LLM is configured). Otherwise the catalogue is the
    truth: unknown, disabled or not-allowed models are returned as skipped hops, so the
    ledger records why they were not used.
    """
    names = list(dict.fromkeys(n for n in (preference.model, *preference.fallback_models) if n))
    # Read the rows (with their endpoints' keys) only when there is a catalogue at all.
    catalogue = (
        {m.name: m for m in LLMModel.objects.select_related("endpoint")}
        if catalogue_windows()
        else {}
    )
    if not catalogue:
        if not llm_configured():
            return [
                Hop(model=OFFLINE_MODEL, endpoint_key="", endpoint_name="offline", offline=True)
            ]
        hops = [_settings_hop(n) for n in names[: settings.LLM_MAX_MODELS_PER_REPLY]]
        return [_without_tools(h) if tool_results else h for h in hops]

    allowed = set(preference.allowed_models)  # resolved (and cached) with the preference
    hops: list[Hop] = []
    usable = 0
    for name in names:
        m = catalogue.get(name)
        if m is None:
            hops.append(_skipped(name, "not_in_catalogue"))
        elif not (m.is_enabled and m.endpoint.is_enabled):
            hops.append(_catalogue_hop(m, "disabled"))
        elif allowed and name not in allowed:
            hops.append(_catalogue_hop(m, "not_allowed"))
        elif usable < settings.LLM_MAX_MODELS_PER_REPLY:
            hops.append(_catalogue_hop(m))
            usable += 1
    if allowed and not usable:
        # Nothing the preference names may be used: the user's allowed models are the route.
        for name in sorted(allowed)[: settings.LLM_MAX_MODELS_PER_REPLY]:
            m = catalogue[name]
            if m.is_enabled and m.endpoint.is_enabled:
                hops.append(_catalogue_hop(m))
    return [_without_tools(h) if tool_results else h for h in hops]


def _without_tools(hop: Hop) -> Hop:
    """In a round after tool calls, a model that cannot read tool results is skipped."""
    if hop.supports_tools or hop.skip_reason:
        return hop
    return dataclasses.replace(hop, skip_reason="no_tool_support")


def hops_after_tool_results(hops: list[Hop]) -> list[Hop]:
    """`route_plan(..., tool_results=True)` of an already planned route (no query)."""
    return [_without_tools(h) for h in hops]
