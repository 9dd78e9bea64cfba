"""Per-category policy: what happens when a detector or the provider fires.

Actions: `allow` (nothing recorded), `flag` (allowed, and a ModerationFlag for review),
`block` (input: a polite refusal and no model call; output: the reply is replaced).

Lookup for a category on a source (`input`/`output`), most specific first:
`<source>:<category>`, `<category>`, then each parent (`sexual/minors` → `sexual`) with and
without the source, then `<source>:*` and `*`. `MODERATION_POLICY` (JSON) overrides the
defaults key by key, e.g. `{"harassment": "block", "output:pii": "allow"}`.
"""

from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

ALLOW, FLAG, BLOCK = "allow", "flag", "block"
SEVERITY = {ALLOW: 0, FLAG: 1, BLOCK: 2}

# Local categories (the provider's categories are its own, e.g. "harassment/threatening").
BLOCKED_TERM = "blocked_term"
BLOCKED_PATTERN = "blocked_pattern"
PROMPT_LEAK = "prompt_leak"
MODERATION_UNAVAILABLE = "moderation_unavailable"

# The provider's (OpenAI's omni-moderation) categories.
PROVIDER_CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)

DEFAULT_POLICY: dict[str, str] = {
    "pii": FLAG,
    "injection": FLAG,
    BLOCKED_TERM: BLOCK,
    BLOCKED_PATTERN: BLOCK,
    PROMPT_LEAK: BLOCK,
    MODERATION_UNAVAILABLE: BLOCK,  # only raised when MODERATION_PROVIDER_FAIL_MODE=closed
    # The provider's categories: the severe ones block, the rest (and anything new) flag.
    "sexual/minors": BLOCK,
    "violence/graphic": BLOCK,
    "self-harm/instructions": BLOCK,
    "hate/threatening": BLOCK,
    "harassment/threatening": BLOCK,
    "illicit/violent": BLOCK,
    "harassment": FLAG,
    "hate": FLAG,
    "sexual": FLAG,
    "violence": FLAG,
    "self-harm": FLAG,
    "illicit": FLAG,
    "*": FLAG,  # anything else the provider flags
}


@cache
def _policy(overrides: tuple[tuple[str, str], ...]) -> dict[str, str]:
    policy = {**DEFAULT_POLICY, **dict(overrides)}
    bad = {k: v for k, v in policy.items() if v not in SEVERITY}
    if bad:
        raise ImproperlyConfigured(
            f"MODERATION_POLICY: unknown actions {bad}; use one of {sorted(SEVERITY)}"
        )
    return policy


def current_policy() -> dict[str, str]:
    return _policy(tuple(sorted((settings.MODERATION_POLICY or {}).items())))


def action_for(category: str, *, source: str) -> str:
    policy = current_policy()
    names = [category]
    while "/" in names[-1]:
        names.append(names[-1].rsplit("/", 1)[0])
    for name in [*names, "*"]:
        for key in (f"{source}:{name}", name):
            if key in policy:
                return policy[key]
    return FLAG


def strongest(actions) -> str:
    return max(actions, key=SEVERITY.__getitem__, default=ALLOW)


def known_categories() -> list[str]:
    """Every category a flag may carry that we know of (for the admin's filter)."""
    from . import detectors

    local = [
        *PROVIDER_CATEGORIES,
        detectors.PII_EMAIL,
        detectors.PII_PHONE,
        detectors.PII_CARD,
        detectors.PII_CN_ID,
        detectors.INJECTION,
    ]
    configured = {k.split(":", 1)[-1] for k in current_policy()} - {"*", "pii"}
    return sorted(set(local) | configured)
