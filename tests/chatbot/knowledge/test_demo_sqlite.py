# ruff: noqa: RUF001 - Chinese text uses full-width punctuation
"""The demo's database is SQLite: the sample knowledge base loads there (FTS5), idempotently,
and questions in English and Chinese find it, scoped like on Postgres. A real subprocess on
a real SQLite file, as scripts/demo runs it."""

import json

import pytest

from tests.sqlite_subprocess import manage, sqlite_env

pytestmark = pytest.mark.timeout(180)

PROBE = """
import json
from accounts.services import widget_key_create
from chatbot.knowledge.retrieval import knowledge_search
from chatbot.knowledge.services import article_save
mine, other = widget_key_create(name="mine"), widget_key_create(name="other")
article_save(title="Partner rates", body="Partner parcels ship free.", widget_key_ids=[other.id])
out = {}
for q in ["How long does delivery take?", "can I pay with paypal", "怎么退货？", "partner parcels"]:
    out[q] = [h.title for h in knowledge_search(query=q, widget_key_id=mine.id, limit=3)]
out["other"] = [h.title for h in knowledge_search(query="partner parcels", widget_key_id=other.id)]
print(json.dumps(out, ensure_ascii=False))
"""


def test_the_sample_knowledge_base_on_sqlite(tmp_path):
    env = sqlite_env(tmp_path / "demo.sqlite3")
    assert manage(env, "migrate", "--noinput", "-v0").returncode == 0
    first = manage(env, "knowledge_load_sample")
    assert first.returncode == 0, first.stderr
    assert "added 8, updated 0, unchanged 0" in first.stdout
    again = manage(env, "knowledge_load_sample")
    assert "added 0, updated 0, unchanged 8" in again.stdout
    probe = manage(env, "shell", "-c", PROBE)
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    assert found["How long does delivery take?"][0] == "Shipping and delivery"
    assert found["can I pay with paypal"][0] == "Payment methods"
    assert found["怎么退货？"][0] == "退货与退款"
    assert "Partner rates" not in found["partner parcels"]  # another key's article
    assert found["other"][0] == "Partner rates"
