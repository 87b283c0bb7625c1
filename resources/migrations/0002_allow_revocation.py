from django.db import migrations, models

HELP = (
    "Let this app revoke live console sessions of its Target Roles, by writing a deny into "
    "one inline policy (PamRevokedSessions) on the Target Role. The Resource Role then needs "
    "iam:GetRolePolicy, iam:PutRolePolicy and iam:DeleteRolePolicy on the Target Roles (in "
    "the permissions policy below)."
)


class Migration(migrations.Migration):
    dependencies = [("resources", "0001_initial")]

    operations = [
        # Existing resources: off. Their Resource Roles were created without the IAM
        # permissions revocation needs; an admin turns it on after adding them.
        migrations.AddField(
            model_name="awsiamresource",
            name="allow_revocation",
            field=models.BooleanField(default=False, help_text=HELP, verbose_name="Allow revocation"),
        ),
        # New resources: on.
        migrations.AlterField(
            model_name="awsiamresource",
            name="allow_revocation",
            field=models.BooleanField(default=True, help_text=HELP, verbose_name="Allow revocation"),
        ),
    ]
