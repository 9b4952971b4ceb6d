"""One worker process of the half-open probe test.

`python -m tests.vendors.breaker_worker ACCOUNT_ID`, with CALLOPS_TEST_DB_NAME naming the test
database the parent test created. Prints "ready" once Django is set up, reads the start time
(a Unix time) from stdin, sends one request at that time and prints what came of it as JSON.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main(account_id: int) -> dict[str, str]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dashboard.settings")
    from django.conf import settings

    settings.DATABASES["default"]["NAME"] = os.environ["CALLOPS_TEST_DB_NAME"]
    import django

    django.setup()

    from vendors.breaker import VendorCircuitOpen
    from vendors.errors import VendorError
    from vendors.http import RetryPolicy
    from vendors.models import VendorAccount
    from vendors.services import vendor_client_for

    account = VendorAccount.objects.get(pk=account_id)
    with vendor_client_for(account, retry=RetryPolicy(max_attempts=1)) as client:
        print("ready", flush=True)
        start_at = float(sys.stdin.readline())
        time.sleep(max(0.0, start_at - time.time()))
        try:
            client.http.request("GET", "/v1/campaigns/agents")
        except VendorCircuitOpen:
            return {"result": "refused"}
        except VendorError as error:
            return {"result": f"error {error.status}"}
    return {"result": "ok"}


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]))), flush=True)
