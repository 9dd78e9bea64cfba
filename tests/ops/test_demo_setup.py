"""`manage.py demo_setup`, as scripts/demo runs it on every start: the staff login it printed
the first time keeps working."""

import io
import re
import stat

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command

from accounts.models import WidgetKey


def demo_setup(*args: str) -> tuple[str, str]:
    out = io.StringIO()
    call_command("demo_setup", *args, stdout=out)
    match = re.search(r"Staff login : (\S+) / (\S+)", out.getvalue())
    assert match, out.getvalue()
    return match[1], match[2]


@pytest.fixture
def no_demo_password_env(monkeypatch):
    monkeypatch.delenv("DEMO_ADMIN_PASSWORD", raising=False)


@pytest.mark.usefixtures("no_demo_password_env")
def test_second_run_keeps_the_first_password(db, tmp_path):
    credentials = tmp_path / ".demo" / "credentials"
    username, first = demo_setup("--credentials-file", str(credentials))
    _, second = demo_setup("--credentials-file", str(credentials))

    assert second == first
    assert authenticate(username=username, password=first) is not None
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    assert f"password={first}" in credentials.read_text()
    assert WidgetKey.objects.filter(name="Demo").count() == 1


@pytest.mark.usefixtures("no_demo_password_env")
def test_kept_password_survives_a_fresh_database(db, tmp_path):
    # Deleting db.sqlite3 but not .demo/: the account is re-created with the kept password.
    credentials = tmp_path / "credentials"
    username, first = demo_setup("--credentials-file", str(credentials))
    get_user_model().objects.filter(username=username).delete()
    _, again = demo_setup("--credentials-file", str(credentials))
    assert again == first
    assert authenticate(username=username, password=first) is not None


def test_password_from_the_environment_wins_and_is_not_written(db, tmp_path, monkeypatch):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "correct-horse-battery-staple")
    credentials = tmp_path / "credentials"
    username, password = demo_setup("--credentials-file", str(credentials))
    assert password == "correct-horse-battery-staple"
    assert authenticate(username=username, password=password) is not None
    assert not credentials.exists()


@pytest.mark.usefixtures("no_demo_password_env")
def test_without_a_credentials_file_each_run_makes_a_new_password(db):
    _, first = demo_setup()
    username, second = demo_setup()
    assert first != second
    assert authenticate(username=username, password=second) is not None
