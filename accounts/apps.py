from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "PAM accounts and grants"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import pre_save

        from .signals import revoke_tokens_on_deactivation

        pre_save.connect(
            revoke_tokens_on_deactivation,
            sender=get_user_model(),
            dispatch_uid="accounts.revoke_tokens_on_deactivation",
        )
