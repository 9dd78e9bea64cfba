import os
import secrets
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from accounts.models import WidgetKey
from accounts.services import widget_key_create


class Command(BaseCommand):
    help = "Create the demo's staff account and widget key (idempotent) and print them."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--password",
            default=None,
            help="Default: $DEMO_ADMIN_PASSWORD, else the one kept in --credentials-file, "
            "else a new random one.",
        )
        parser.add_argument(
            "--credentials-file",
            type=Path,
            default=None,
            help="Keep a generated password here (mode 600) and reuse it on the next run, so "
            "the login printed last time keeps working. scripts/demo uses .demo/credentials.",
        )

    def handle(self, *args, username, password, credentials_file, **options):
        source = "as given"
        if not password and os.environ.get("DEMO_ADMIN_PASSWORD"):
            password, source = os.environ["DEMO_ADMIN_PASSWORD"], "from DEMO_ADMIN_PASSWORD"
        if not password and credentials_file:
            password = _read_password(credentials_file, username)
            source = f"kept in {credentials_file}" if password else source
        if not password:
            password = secrets.token_urlsafe(12)
            source = "new"
            if credentials_file:
                _write_password(credentials_file, username, password)
                source = f"new; kept in {credentials_file}"

        User = get_user_model()
        staff, _ = User.objects.get_or_create(
            username=username, defaults={"email": f"{username}@example.com"}
        )
        staff.is_staff = staff.is_superuser = True
        if not staff.check_password(password):
            staff.set_password(password)
        staff.save()
        widget = WidgetKey.objects.filter(name="Demo", is_active=True).first()
        widget = widget or widget_key_create(name="Demo")
        self.stdout.write(self.style.SUCCESS("Chatdesk demo is set up."))
        self.stdout.write(f"  Staff login : {username} / {password}  (at /admin/; {source})")
        self.stdout.write(f"  Widget key  : {widget.public_key}")


# The file holds two lines, `username=...` and `password=...`; delete it for a new password.
def _read_password(path: Path, username: str) -> str:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return ""
    values = dict(line.split("=", 1) for line in lines if "=" in line and line[0] != "#")
    return values.get("password", "") if values.get("username") == username else ""


def _write_password(path: Path, username: str, password: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(
            "# The demo's staff login (scripts/demo). Delete this file for a new password.\n"
            f"username={username}\npassword={password}\n"
        )
