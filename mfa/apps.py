from django.apps import AppConfig


class MfaConfig(AppConfig):
    name = "mfa"
    verbose_name = "Second factor (MFA)"
    default_auto_field = "django.db.models.BigAutoField"
