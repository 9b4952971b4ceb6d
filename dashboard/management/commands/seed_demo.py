from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from dashboard.demo import seed_contacts, seed_sandbox_accounts, seed_users


class Command(BaseCommand):
    help = "Create the demo logins, contacts and (given the sandbox's lines) vendor accounts."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--sandbox-json",
            help="File holding the sandbox's start-up lines (one JSON object per vendor).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        logins = seed_users()
        seed_contacts()
        if options["sandbox_json"]:
            with open(options["sandbox_json"]) as handle:
                lines = [json.loads(line) for line in handle if line.strip()]
            seed_sandbox_accounts([line for line in lines if "vendor" in line])
        for login in logins:
            self.stdout.write(f"{login.role.value:>9}: {login.username} / {login.password}")
