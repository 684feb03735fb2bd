from django.apps import AppConfig


class FloorkitConfig(AppConfig):
    name = "floorkit"
    verbose_name = "floorkit"

    def ready(self) -> None:
        from django.conf import settings

        from floorkit import checks  # noqa: F401  (registers the system checks)
        from floorkit.groups import client_signals  # noqa: F401  (floorkit.join, .leave, .presence)
        from floorkit.jobs.rq_defaults import apply
        from floorkit.security.sessions import connect_signals
        from floorkit.signals.discovery import autodiscover

        connect_signals()  # logouts, deleted sessions and password changes end access

        apply(settings)
        autodiscover()
