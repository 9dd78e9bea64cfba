"""Exact-match cache of first-turn answers (docs/cost-control.md).

Many conversations open with the same question ("What are your opening hours?"). When the
answer is deterministic and depends on nothing private, a second identical question is
answered from the cache (Redis, through Django's cache) without calling the model.

A reply is eligible only when ALL of these hold:

* the cache is on (`RESPONSE_CACHE_TTL_SECONDS` > 0);
* deterministic settings: temperature <= `RESPONSE_CACHE_MAX_TEMPERATURE` (default 0);
* it answers the FIRST message of its conversation (nothing before it in the database, not
  merely in the trimmed context) and the prompt is exactly [system, that one question];
* the prompt holds nothing customer-private: the customer has no persona (managers may
  put customer details there), and the system prompt is exactly the one built from shared
  inputs only (the global prompt and the reply language). Anything a future feature adds
  to a customer's system prompt (their data, orders, tools' results) makes it differ, so
  such prompts are never cached by construction.

Key: SHA-256 of (model, temperature, max_tokens, system prompt, normalised question), where
normalising is Unicode NFKC, case folding and collapsing whitespace. The customer's id is
not in the key (that is the point), so nothing in the key is personal.

Hits and misses of eligible replies are counted in Redis (`response_cache_stats()`, shown
by `manage.py cost_stats`) and in Prometheus (`chatdesk_llm_cache_hits_total`,
`chatdesk_llm_cache_misses_total`). A hit makes no provider call and no ledger row; the reply
keeps the model that produced the cached answer and is marked `cached=True`.
"""

import hashlib
import json
import logging
import unicodedata
from dataclasses import dataclass, replace

from django.conf import settings
from django.core.cache import cache

from accounts.selectors import ResolvedPreference
from chatbot.llm import ChatRequest, Completion
from chatbot.platform import metrics
from chatbot.prompt.context import system_prompt_build
from conversations.models import Message

logger = logging.getLogger(__name__)

KEY_PREFIX = "chatdesk:respcache:v1:"
HITS_KEY = "chatdesk:respcache:hits"
MISSES_KEY = "chatdesk:respcache:misses"


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    text: str
    model: str


@dataclass(frozen=True, slots=True)
class Probe:
    key: str | None  # None: this reply is not eligible, don't store its answer
    hit: CachedAnswer | None = None
    customer_id: str | None = None  # whose question filled the entry (for erasure)


def normalise(question: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", question).casefold().split())


def _public_system_prompt(preference: ResolvedPreference) -> str:
    return system_prompt_build(preference=replace(preference, persona=""))


def _eligible(*, reply: Message, request: ChatRequest, preference: ResolvedPreference) -> bool:
    if settings.RESPONSE_CACHE_TTL_SECONDS <= 0:
        return False
    if request.temperature is None or request.temperature > settings.RESPONSE_CACHE_MAX_TEMPERATURE:
        return False
    if preference.persona:
        return False
    roles = [m.role for m in request.messages]
    if roles != ["system", "user"]:
        return False
    if request.messages[0].content != _public_system_prompt(preference):
        return False
    # The first message of the conversation, whatever trimming did to the context.
    return not Message.objects.filter(
        conversation_id=reply.conversation_id, created_at__lt=reply.reply_to.created_at
    ).exists()


def cache_key(request: ChatRequest) -> str:
    material = json.dumps(
        {
            "model": request.model,
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
            "system": request.messages[0].content,
            "question": normalise(request.messages[-1].content),
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return KEY_PREFIX + hashlib.sha256(material.encode()).hexdigest()


# Only first turns are cached, so a customer fills few entries; bound the index anyway.
MAX_KEYS_PER_CUSTOMER = 200


def _count(key: str) -> None:
    try:
        cache.add(key, 0, timeout=None)
        cache.incr(key)
    except Exception:  # a statistic must never fail a reply
        logger.warning("response cache: could not count %s", key, exc_info=True)


def response_cache_probe(
    *, reply: Message, request: ChatRequest, preference: ResolvedPreference
) -> Probe:
    """Look the reply's question up; counts a hit or a miss when the reply is eligible."""
    if not _eligible(reply=reply, request=request, preference=preference):
        return Probe(key=None)
    key = cache_key(request)
    try:
        stored = cache.get(key)
    except Exception:  # Redis down: answer from the model, as if the cache were empty
        logger.warning("response cache unavailable", exc_info=True)
        stored = None
    metrics.record_cache_probe(hit=bool(stored))
    if stored:
        _count(HITS_KEY)
        return Probe(key=key, hit=CachedAnswer(text=stored["text"], model=stored["model"]))
    _count(MISSES_KEY)
    return Probe(key=key, customer_id=str(reply.conversation.customer_id))


def response_cache_store(*, probe: Probe, completion: Completion) -> None:
    """Remember an eligible reply's complete answer (not a truncated one)."""
    if probe.key is None or probe.hit is not None or completion.finish_reason != "stop":
        return
    if not completion.text.strip():
        return
    try:
        cache.set(
            probe.key,
            {"text": completion.text, "model": completion.model},
            timeout=settings.RESPONSE_CACHE_TTL_SECONDS,
        )
        if probe.customer_id:
            # Remember which entries this customer's questions filled, so erasing the
            # customer erases them too (docs/privacy.md).
            index = _customer_index(probe.customer_id)
            keys = [*cache.get(index, []), probe.key][-MAX_KEYS_PER_CUSTOMER:]
            cache.set(index, keys, timeout=settings.RESPONSE_CACHE_TTL_SECONDS)
    except Exception:
        logger.warning("response cache: could not store", exc_info=True)


def _customer_index(customer_id: str) -> str:
    return f"{KEY_PREFIX}by-customer:{customer_id}"


def response_cache_forget_customer(*, customer_id, conversation_ids=(), **_kwargs) -> int:
    """Erasure hook (PRIVACY_ERASURE_HOOKS): drop the entries the customer's questions filled."""
    index = _customer_index(str(customer_id))
    keys = cache.get(index, [])
    cache.delete_many([*keys, index])
    return len(keys)


def response_cache_stats() -> dict[str, int]:
    hits, misses = cache.get(HITS_KEY) or 0, cache.get(MISSES_KEY) or 0
    return {"hits": hits, "misses": misses}
