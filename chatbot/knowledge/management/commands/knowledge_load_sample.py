"""Load the demo's bilingual sample knowledge base (chatbot/knowledge/sample/)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from chatbot.knowledge.importing import files_under, knowledge_import, source_get_or_create
from chatbot.knowledge.models import Source

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "sample"
SAMPLE_LOCATION = "sample:maple-lane-goods"


class Command(BaseCommand):
    help = "Import the sample knowledge base of the demo shop, in English and Chinese (idempotent)."

    def handle(self, *args, **options):
        source = source_get_or_create(
            location=SAMPLE_LOCATION, name="Sample: Maple Lane Goods", kind=Source.Kind.SAMPLE
        )
        files = [f for f in files_under(SAMPLE_DIR) if f.name != "README.md"]
        report = knowledge_import(files=files, source=source)
        self.stdout.write(f"Sample knowledge base: {report.summary()}")
        if report.failed:
            raise CommandError("the sample knowledge base did not import cleanly")
