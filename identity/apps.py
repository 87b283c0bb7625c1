from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "identity"
    verbose_name = "Identity"

    def ready(self) -> None:
        # Users, groups, memberships and permissions are Django's rows, written by
        # Django's own code too: audited by receivers (identity/audit.py).
        from .audit import connect

        connect()
