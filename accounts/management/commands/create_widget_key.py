from django.core.management.base import BaseCommand

from accounts.services import widget_key_create


class Command(BaseCommand):
    help = "Create a widget key for embedding the chat widget on a site."

    def add_arguments(self, parser):
        parser.add_argument("name", help="A label, e.g. the site's name")
        parser.add_argument(
            "--origin",
            action="append",
            default=[],
            dest="origins",
            help="An origin allowed to embed the widget (repeatable), "
            "e.g. https://shop.example.com. None: any origin.",
        )

    def handle(self, *args, name, origins, **options):
        key = widget_key_create(name=name, allowed_origins=origins)
        self.stdout.write(key.public_key)
