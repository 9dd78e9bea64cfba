import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from accounts.models import WidgetKey
from accounts.services import widget_key_create


class Command(BaseCommand):
    help = "Create the demo's staff account and widget key (idempotent) and print them."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--password", default=None, help="Default: a new random password, printed."
        )

    def handle(self, *args, username, password, **options):
        User = get_user_model()
        password = password or secrets.token_urlsafe(12)
        staff, _ = User.objects.get_or_create(
            username=username, defaults={"email": f"{username}@example.com"}
        )
        staff.is_staff = staff.is_superuser = True
        staff.set_password(password)
        staff.save()
        widget = WidgetKey.objects.filter(name="Demo", is_active=True).first()
        widget = widget or widget_key_create(name="Demo")
        self.stdout.write(self.style.SUCCESS("Chatdesk demo is set up."))
        self.stdout.write(f"  Staff login : {username} / {password}  (at /admin/)")
        self.stdout.write(f"  Widget key  : {widget.public_key}")
