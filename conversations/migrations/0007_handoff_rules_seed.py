"""Seed the English and Chinese phrases that ask for a person (staff may add more)."""

from django.db import migrations

# (phrase, whole_message): short, ambiguous words count only as the whole message.
RULES = [
    # English
    ("human", True),
    ("agent", True),
    ("person", True),
    ("operator", True),
    ("real person", False),
    ("talk to a human", False),
    ("speak to a human", False),
    ("speak with a human", False),
    ("human agent", False),
    ("live agent", False),
    ("live person", False),
    ("talk to an agent", False),
    ("speak to an agent", False),
    ("customer service representative", False),
    ("talk to someone", False),
    ("speak to someone", False),
    # Chinese
    ("人工", True),
    ("客服", True),
    ("转人工", False),
    ("人工客服", False),
    ("人工服务", False),
    ("找人工", False),
    ("接人工", False),
    ("真人", False),
    ("真人客服", False),
    ("找客服", False),
    ("转接客服", False),
]


def seed(apps, schema_editor):
    HandoffRule = apps.get_model("conversations", "HandoffRule")
    for phrase, whole in RULES:
        HandoffRule.objects.get_or_create(phrase=phrase, defaults={"whole_message": whole})


def unseed(apps, schema_editor):
    HandoffRule = apps.get_model("conversations", "HandoffRule")
    HandoffRule.objects.filter(phrase__in=[phrase for phrase, _ in RULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("conversations", "0006_handoff")]

    operations = [migrations.RunPython(seed, unseed)]
