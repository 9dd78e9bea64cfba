"""Moderation: local detectors and rules, the provider's endpoint, a per-category policy,
and the output guard used while a reply streams. See docs/moderation.md."""

from .engine import INPUT, OUTPUT, Hit, Verdict, mask_for_provider, text_check
from .stream import OutputBlocked, OutputGuard

__all__ = [
    "INPUT",
    "OUTPUT",
    "Hit",
    "OutputBlocked",
    "OutputGuard",
    "Verdict",
    "mask_for_provider",
    "text_check",
]
