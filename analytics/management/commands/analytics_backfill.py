from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from analytics.summary_refresh import catch_up, rebuild_summary


class Command(BaseCommand):
    help = (
        "Fill the analytics summary from every call (after upgrading, or to start it over). "
        "The analytics page stays exact meanwhile: it reads the calls table for hours not done."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--catch-up",
            action="store_true",
            help="Keep what is summarised and only catch up with pending changes.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        result = catch_up() if options["catch_up"] else rebuild_summary()
        elapsed = time.perf_counter() - started
        self.stdout.write(f"Analytics summary {result} in {elapsed:.1f} s.")
