import logging

from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "callops"

    def ready(self) -> None:
        from dashboard import checks  # noqa: F401  (registers the deploy checks)

        # Python's warnings become log records (logger "py.warnings"), so they come out as
        # lines like every other one (JSON in production) instead of printed bare to stderr.
        logging.captureWarnings(True)
