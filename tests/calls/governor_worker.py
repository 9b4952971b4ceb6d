"""One worker process of the concurrency governor test.

`python -m tests.calls.governor_worker ACCOUNT_ID AGENT_ID FIRST_NUMBER COUNT`, with
CALLOPS_TEST_DB_NAME naming the test database the parent test created. Prints "ready", reads a
start time (a Unix time) from stdin, then asks for COUNT calls to consecutive numbers and
prints how many were written and how many the governor refused, as JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main(account_id: int, agent_id: int, first_number: int, count: int) -> dict[str, int]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = os.environ["CALLOPS_TEST_DB_NAME"]
    import django

    django.setup()

    from calls.models import Agent
    from calls.services import ConcurrencyLimitReached, call_create
    from dashboard.celery import app
    from vendors.models import VendorAccount

    # Each call is dispatched to the sandbox in this process, as a worker would.
    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    account = VendorAccount.objects.get(pk=account_id)
    agent = Agent.objects.get(pk=agent_id)
    tallies = {"created": 0, "refused": 0}
    print("ready", flush=True)
    start_at = float(sys.stdin.readline())
    time.sleep(max(0.0, start_at - time.time()))
    for offset in range(count):
        try:
            call_create(
                vendor_account=account, agent=agent, to_number=f"+1415555{first_number + offset}"
            )
        except ConcurrencyLimitReached:
            tallies["refused"] += 1
        else:
            tallies["created"] += 1
    return tallies


if __name__ == "__main__":
    arguments = [int(value) for value in sys.argv[1:5]]
    print(json.dumps(main(*arguments)), flush=True)
