"""Settings for bench_call_log.py: callops plus Django's admin, the peer the call log is measured
beside (what a Django user would reach for to browse a million calls). Never part of the product."""

from dashboard.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "django.contrib.admin"]  # noqa: F405
ROOT_URLCONF = "bench.call_log_urls"
