"""Import knowledge-base articles from files or directories (docs/knowledge-base.md)."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from accounts.models import WidgetKey
from chatbot.knowledge.importing import (
    SUFFIXES,
    ImportFileError,
    files_under,
    knowledge_import,
    source_get_or_create,
)
from chatbot.knowledge.models import Source


class Command(BaseCommand):
    help = (
        "Import articles from files or directories ("
        + ", ".join(sorted(SUFFIXES))
        + "). Re-running is idempotent: unchanged articles are skipped, changed ones "
        "re-cut, and ones gone from a source unpublished."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", help="Files or directories; each is a source.")
        parser.add_argument(
            "--widget-key",
            action="append",
            default=[],
            help="Restrict the imported articles to this widget key (public key); repeatable.",
        )
        parser.add_argument(
            "--keep-missing",
            action="store_true",
            help="Do not unpublish articles that are no longer in the source.",
        )

    def handle(self, *args, paths, widget_key, keep_missing, **options):
        key_ids = None
        if widget_key:
            keys = list(WidgetKey.objects.filter(public_key__in=widget_key))
            unknown = set(widget_key) - {k.public_key for k in keys}
            if unknown:
                raise CommandError(f"unknown widget key(s): {', '.join(sorted(unknown))}")
            key_ids = [k.id for k in keys]
        failed = 0
        for raw in paths:
            path = Path(raw).resolve()
            try:
                files = files_under(path)
            except (ImportFileError, OSError) as error:
                raise CommandError(str(error)) from error
            source = source_get_or_create(
                location=str(path),
                kind=Source.Kind.DIRECTORY if path.is_dir() else Source.Kind.FILE,
            )
            report = knowledge_import(
                files=files,
                source=source,
                unpublish_missing=not keep_missing,
                widget_key_ids=key_ids,
                progress=lambda items, name=path.name: tqdm(
                    items, desc=name, unit="file", file=sys.stderr, disable=None
                ),
            )
            self.stdout.write(f"{path}: {report.summary()}")
            failed += len(report.failed)
        if failed:
            raise CommandError(f"{failed} file(s) failed; the others were imported")
