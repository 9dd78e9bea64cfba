"""Managers read the dashboard: the "Manager" group (shared with the staff inbox, which
creates it too; get_or_create makes the order irrelevant) gets `insights.view_dashboard`
and the read-only summary rows."""

from django.db import migrations

GROUP = "Manager"
PERMISSIONS = [
    ("view_dashboard", "Can view the insights dashboard"),
    ("view_conversationsummary", "Can view conversation summary"),
]


def grant(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    # Permissions are made after migrate (post_migrate): make these two now.
    content_type, _ = ContentType.objects.get_or_create(
        app_label="insights", model="conversationsummary"
    )
    group, _ = Group.objects.get_or_create(name=GROUP)
    for codename, name in PERMISSIONS:
        permission, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        group.permissions.add(permission)


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.filter(name=GROUP).first()
    if group is not None:
        group.permissions.remove(
            *Permission.objects.filter(
                content_type__app_label="insights", codename__in=[c for c, _ in PERMISSIONS]
            )
        )


class Migration(migrations.Migration):
    dependencies = [
        ("insights", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
