# The project of each event (so a project's admins and auditors read its events), filled in
# for the events written before it existed; and the channels cli and idp.

from django.db import migrations, models

BATCH = 2000


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def backfill_projects(apps, schema_editor):
    """Best effort: an event on a row that still exists takes that row's project; on a row
    since deleted, the project its snapshot names (create and delete events hold one)."""
    AuditEvent = apps.get_model("audit", "AuditEvent")
    resource_project = dict(
        apps.get_model("resources", "AwsIamResource").objects.values_list("pk", "project_id")
    )
    account_resource = dict(
        apps.get_model("accounts", "PamAccount").objects.values_list("pk", "resource_id")
    )
    grant_account = dict(
        apps.get_model("accounts", "AccountGrant").objects.values_list("pk", "account_id")
    )
    request_account = dict(
        apps.get_model("access_requests", "AccessRequest").objects.values_list("pk", "account_id")
    )

    def of_resource(resource_id):
        return resource_project.get(resource_id)

    def of_account(account_id):
        return of_resource(account_resource.get(account_id))

    def project_of(event):
        pk, changes = _int(event.object_id), event.changes if isinstance(event.changes, dict) else {}
        if event.object_type == "resources.project":
            return pk
        if event.object_type == "resources.awsiamresource":
            return of_resource(pk) or _int(changes.get("project"))
        if event.object_type == "accounts.pamaccount":
            return of_account(pk) or of_resource(_int(changes.get("resource")))
        if event.object_type == "accounts.accountgrant":
            return of_account(grant_account.get(pk) or _int(changes.get("account")))
        if event.object_type == "access_requests.accessrequest":
            return of_account(request_account.get(pk))
        return None

    types = [
        "resources.project",
        "resources.awsiamresource",
        "accounts.pamaccount",
        "accounts.accountgrant",
        "access_requests.accessrequest",
    ]
    events = AuditEvent.objects.filter(object_type__in=types, project_id__isnull=True)
    changed = []
    for event in events.only("pk", "object_type", "object_id", "changes").iterator(BATCH):
        event.project_id = project_of(event)
        if event.project_id is not None:
            changed.append(event)
        if len(changed) >= BATCH:
            AuditEvent.objects.bulk_update(changed, ["project_id"])
            changed = []
    if changed:
        AuditEvent.objects.bulk_update(changed, ["project_id"])


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0003_action_choices'),
        # Read (historical models) by the backfill only.
        ('resources', '0002_allow_revocation'),
        ('accounts', '0005_just_in_time'),
        ('access_requests', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='auditevent',
            name='project_id',
            field=models.PositiveIntegerField(blank=True, db_index=True, null=True),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='via',
            field=models.CharField(blank=True, help_text="The channel: admin, api, web, cli (manage.py, the demo seed) or idp (the identity provider's sign-in sync; sso in older events); empty for a background task", max_length=16),
        ),
        migrations.RunPython(backfill_projects, migrations.RunPython.noop, elidable=True),
    ]
