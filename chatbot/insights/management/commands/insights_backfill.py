"""Summarise every conversation that has ended but has no (or a stale) summary row.

Batched (one fixed set of queries per batch), each batch committed on its own, so an
interrupted run loses at most one batch and the next run resumes where it stopped: done
conversations have a fresh summary and are skipped. `--recompute` rewrites every row
(after a change to the definitions), walking the conversations by (created_at, id), and
`--after` resumes such a walk from the last id it printed.
"""

import uuid

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q
from django.utils import timezone
from tqdm import tqdm

from chatbot.insights.summary import (
    conversation_summaries_write,
    conversations_ended,
    summaries_due,
)
from conversations.models import Conversation


class Command(BaseCommand):
    help = "Write the dashboard's summary rows for conversations that ended (batched, resumable)."

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument(
            "--recompute", action="store_true", help="Rewrite every row, not only missing ones."
        )
        parser.add_argument(
            "--after",
            type=uuid.UUID,
            help="With --recompute: resume after this conversation id (shown as 'last').",
        )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args, batch_size, recompute, after, no_progress, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        now = timezone.now()
        due = summaries_due(now=now)
        if recompute:
            due = conversations_ended(now=now)
        if after is not None:
            if not recompute:
                raise CommandError("--after only applies with --recompute.")
            anchor = Conversation.objects.filter(pk=after).values("created_at").first()
            if anchor is None:
                raise CommandError(f"No conversation {after}.")
            due = due.filter(
                Q(created_at__gt=anchor["created_at"])
                | Q(created_at=anchor["created_at"], pk__gt=after)
            )
        total = due.count()
        # tqdm redraws one line with "\r": give it the raw stream, not Django's wrapper
        # (which would end every write with a newline).
        stream = getattr(self.stderr, "_out", self.stderr)
        written = 0
        cursor = None
        with tqdm(
            total=total, unit="conversation", desc="Summarising", file=stream, disable=no_progress
        ) as bar:
            while True:
                batch = due
                if cursor is not None:
                    batch = batch.filter(
                        Q(created_at__gt=cursor[0]) | Q(created_at=cursor[0], pk__gt=cursor[1])
                    )
                rows = list(
                    batch.order_by("created_at", "pk").values_list("created_at", "pk")[:batch_size]
                )
                if not rows:
                    break
                written += conversation_summaries_write(
                    conversation_ids=[pk for _, pk in rows], now=now
                )
                cursor = rows[-1]
                bar.update(len(rows))
                bar.set_postfix_str(f"last {cursor[1]}", refresh=False)  # for --after
                if no_progress:
                    self.stdout.write(f"{written}/{total} written, last {cursor[1]}")
        self.stdout.write(self.style.SUCCESS(f"{written} conversation summaries written."))
