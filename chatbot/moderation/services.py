"""Writes of the moderation layer: flags on messages and their review. (Refusing or replacing
a reply is a reply-lifecycle write: chatbot.replies.lifecycle.)"""

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from chatbot.platform import metrics
from conversations.models import Message, ModerationFlag

from . import policy
from .engine import INPUT, Hit, Verdict, text_check
from .log_masking import body_for_log

_ACTION_FOR_FLAG = {
    policy.FLAG: ModerationFlag.Action.FLAGGED,
    policy.BLOCK: ModerationFlag.Action.BLOCKED,
}
EXCERPT_MAX_CHARS = 4000

logger = logging.getLogger(__name__)


def moderation_flags_record(
    *, message: Message, source: str, verdict: Verdict, excerpt: str = ""
) -> list[ModerationFlag]:
    """One flag per rule that fired with a `flag` or `block` action (`allow` records nothing)."""
    by_rule: dict[str, list[Hit]] = defaultdict(list)
    for hit in verdict.hits:
        if hit.action != policy.ALLOW:
            by_rule[hit.rule].append(hit)
    flags = [
        ModerationFlag(
            message=message,
            source=source,
            rule=rule[:200],
            categories=sorted({h.category for h in hits}),
            scores={h.category: h.score for h in hits if h.score is not None},
            action=_ACTION_FOR_FLAG[policy.strongest(h.action for h in hits)],
            excerpt=excerpt[:EXCERPT_MAX_CHARS],
        )
        for rule, hits in by_rule.items()
    ]
    created = ModerationFlag.objects.bulk_create(flags)
    for flag in created:
        for category in flag.categories:
            metrics.record_moderation_flag(source=source, category=category, action=flag.action)
    return created


def message_moderate(*, message: Message, recheck: bool = True) -> Verdict:
    """Check a customer's message before any model call, and record what fired.

    Idempotent: a reply claimed again (a worker died) reuses the recorded verdict instead
    of checking, and flagging, twice. `recheck=False` says this is the message's first
    check (its reply's first claim), so there is nothing recorded to look up.
    """
    recorded = (
        list(message.moderation_flags.filter(source=ModerationFlag.Source.INPUT)) if recheck else []
    )
    if recorded:
        return Verdict(
            tuple(
                Hit(
                    ", ".join(f.categories),
                    f.rule,
                    policy.BLOCK if f.action == ModerationFlag.Action.BLOCKED else policy.FLAG,
                )
                for f in recorded
            )
        )
    verdict = text_check(message.content, source=INPUT)
    moderation_flags_record(message=message, source=INPUT, verdict=verdict)
    if verdict.blocked:
        logger.info(
            "message %s blocked by %s: %s",
            message.id,
            ", ".join(sorted({h.rule for h in verdict.hits if h.action == policy.BLOCK})),
            body_for_log(message.content),
        )
    return verdict


def moderation_flags_review(
    *,
    flags: QuerySet[ModerationFlag] | Iterable[uuid.UUID],
    reviewer: User,
    status: str,
    note: str | None = None,
) -> int:
    """Confirm or dismiss flags (or reopen them), recording who did it and when."""
    if status not in ModerationFlag.ReviewStatus.values:
        raise ValueError(f"unknown review status {status!r}")
    if not isinstance(flags, QuerySet):
        flags = ModerationFlag.objects.filter(pk__in=list(flags))
    fields = {"review_status": status, "reviewer": reviewer, "reviewed_at": timezone.now()}
    if note is not None:
        fields["note"] = note
    if status == ModerationFlag.ReviewStatus.OPEN:
        fields.update(reviewer=None, reviewed_at=None)
    return flags.update(**fields)
