from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "GitHub integration and sync"

    def ready(self):
        # Declares the actors on the broker django_dramatiq has just set up, in
        # every process: web and CLI enqueue them, workers run them.
        from integrations import tasks  # noqa: F401
