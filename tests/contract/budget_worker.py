"""One worker process of the shared rate budget test.

`python -m tests.contract.budget_worker ACCOUNT_ID SECONDS`, with CALLOPS_TEST_DB_NAME naming
the test database the parent test created. Once Django is set up it prints "ready" and reads
the start time (a Unix time) from stdin: on a loaded machine the processes take uneven times to
start, and the run must begin when all of them can take part. Prints one JSON line with its
tallies.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main(account_id: int, seconds: float) -> dict[str, int]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    from django.conf import settings

    # The parent's test database, not the development one.
    settings.DATABASES["default"]["NAME"] = os.environ["CALLOPS_TEST_DB_NAME"]
    import django

    django.setup()

    from vendors.errors import VendorError
    from vendors.http import RetryPolicy
    from vendors.models import VendorAccount
    from vendors.services import vendor_client_for

    account = VendorAccount.objects.get(pk=account_id)
    tallies = {"ok": 0, "errors": 0}
    with vendor_client_for(account, retry=RetryPolicy(max_wait=30.0)) as client:
        print("ready", flush=True)
        start_at = float(sys.stdin.readline())
        time.sleep(max(0.0, start_at - time.time()))
        while time.time() < start_at + seconds:
            try:
                client.http.request("GET", "/v1/campaigns/agents")
            except VendorError:
                tallies["errors"] += 1
            else:
                tallies["ok"] += 1
    return tallies


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]), float(sys.argv[2]))), flush=True)
