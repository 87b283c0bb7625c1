from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "operations"
    verbose_name = "Operations"

    def ready(self) -> None:
        # Every process that loads Django (web and Celery workers alike) carries request
        # ids from the requests into the tasks they enqueue.
        from pam_project.requestid import connect_celery_signals

        connect_celery_signals()
