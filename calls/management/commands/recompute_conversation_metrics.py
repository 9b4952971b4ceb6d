from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from calls.conversation_metrics import BATCH_SIZE, conversation_recompute, silence_seconds
from calls.models import Call, CallState


class Command(BaseCommand):
    help = (
        "Measure the conversation of every ended call's transcript again (after upgrading, "
        "after changing CALLOPS_SILENCE_SECONDS, or for calls whose measuring was lost). "
        "Batched by call id; pages show the old figures until a call's new ones are stored."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--missing",
            action="store_true",
            help="Only ended calls that were never measured.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=BATCH_SIZE,
            help=f"Calls read and stored per query (default {BATCH_SIZE}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        calls = Call.objects.filter(state=CallState.ENDED)
        if options["missing"]:
            calls = calls.filter(conversation__isnull=True)
        total = calls.count()
        started = time.perf_counter()
        self.stdout.write(
            f"Measuring {total:,} ended calls (long silences: over {silence_seconds():g} s)."
        )

        def progress(done: int) -> None:
            elapsed = time.perf_counter() - started
            rate = done / elapsed if elapsed > 0 else 0.0
            share = done / total if total else 1.0
            self.stdout.write(f"  {done:,} / {total:,} ({share:.0%}), {rate:,.0f} calls/s")

        done = conversation_recompute(
            only_missing=options["missing"], batch_size=batch_size, progress=progress
        )
        elapsed = time.perf_counter() - started
        self.stdout.write(f"Measured {done:,} calls in {elapsed:.1f} s.")
