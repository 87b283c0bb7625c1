from django.apps import AppConfig


class SessionsAppConfig(AppConfig):
    name = "sessions_app"
    verbose_name = "Console sessions"

    def ready(self) -> None:
        from . import signals  # noqa: F401 (connects the receivers)
