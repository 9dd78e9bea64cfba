"""The history a reply's context is built from (chatbot.prompt.context.history_for): its
own SQL gives what the ORM's reading of the same rules gives, on Postgres and on SQLite
(the demo's database, where UUIDs and datetimes are stored as text)."""

import json

import pytest

from tests.chatbot.prompt.history_cases import EXPECTED, LIMIT, history_cases
from tests.sqlite_subprocess import manage, sqlite_env


def _check(results: dict) -> None:
    lifted, limited = results["lifted"], results["limited"]
    assert [item[1] for item in lifted["read"]] == EXPECTED
    assert [item[1] for item in limited["read"]] == EXPECTED[-LIMIT:]
    for case in (lifted, limited):
        assert case["read"] == case["reference"]
    names = {content: for_model for _r, content, _t, _n, for_model in lifted["read"]}
    assert names["profile name"] == "[Human agent Alex P.]: profile name"
    assert names["first name"] == "[Human agent Sam]: first name"
    assert names["username only"] == "[Human agent agent-u]: username only"
    assert names["author deleted"] == "[Human agent ]: author deleted"
    assert [item[3] for item in lifted["read"][:2]] == [2, 7]  # token counts


@pytest.mark.django_db
def test_the_history_on_postgres():
    _check(json.loads(json.dumps(history_cases())))  # tuples as lists, like the subprocess's


@pytest.mark.timeout(180)
def test_the_history_on_sqlite(tmp_path):
    env = sqlite_env(tmp_path / "history.sqlite3")
    probe = (
        "import json; from django.db import connection; "
        "from tests.chatbot.prompt.history_cases import history_cases; "
        "assert connection.vendor == 'sqlite'; print(json.dumps(history_cases()))"
    )
    for args in (("migrate", "--noinput", "-v0"), ("shell", "-c", probe)):
        done = manage(env, *args)
        assert done.returncode == 0, done.stderr
    _check(json.loads(done.stdout.strip().splitlines()[-1]))
