"""`manage.py readiness [--check NAME ...]`: the /readyz checks from the command line.

Exit 0 when every check passes, 1 otherwise; prints the results as JSON. For processes that
serve no HTTP: a Celery worker's readiness probe in Kubernetes runs
`python manage.py readiness --check database --check broker` (docs/operations.md).
"""

import json

from django.core.management.base import BaseCommand, CommandError

from chatbot.platform import health


class Command(BaseCommand):
    help = "Check the database, Redis, the broker and migrations; exit 1 when one fails."

    def add_arguments(self, parser):
        parser.add_argument(
            "--check",
            action="append",
            choices=sorted(health.CHECKS),
            help="Run only this check (repeatable). Default: all.",
        )

    def handle(self, *args, check=None, **options):
        results = health.readiness(check)
        self.stdout.write(json.dumps(results, sort_keys=True))
        failed = [name for name, result in results.items() if result != "ok"]
        if failed:
            raise CommandError(f"not ready: {', '.join(failed)}", returncode=1)
